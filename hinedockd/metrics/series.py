"""Bounded history of one container's counters, and averages over windows. Pure.

Every rate we answer is a difference of cumulative counters between two
instants, so history is a list of counter snapshots. Two fixed-size rings keep
memory bounded whatever the retention: a fine ring (every sample, the last
couple of minutes) and a coarse ring (one snapshot per `coarse_step` seconds,
the whole retention). A counter going backwards (container restarted) starts a
new series: rates never span a reset and are never negative.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from hinedockd.metrics.sample import Sample

# Column layout of a snapshot row; per-core CPU counters follow these.
T, CPU, BLK_R, BLK_W, RX_B, TX_B, RX_P, TX_P = range(8)
FIXED_COLUMNS = 8
COUNTERS = ("cpu", "blk_read", "blk_write", "rx_bytes", "tx_bytes", "rx_packets", "tx_packets")


class Ring:
    """Fixed-capacity ring of float rows, oldest overwritten first."""

    __slots__ = ("_data", "_len", "_start", "capacity", "stride")

    def __init__(self, capacity: int, stride: int) -> None:
        self.capacity, self.stride = capacity, stride
        self._data = array("d", bytes(8 * capacity * stride))
        self._start = 0
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def clear(self) -> None:
        self._start = self._len = 0

    def push(self, row: Sequence[float]) -> None:
        if self._len < self.capacity:
            slot = (self._start + self._len) % self.capacity
            self._len += 1
        else:
            slot = self._start
            self._start = (self._start + 1) % self.capacity
        o = slot * self.stride
        self._data[o:o + self.stride] = array("d", row)

    def _offset(self, i: int) -> int:
        return ((self._start + i) % self.capacity) * self.stride

    def time(self, i: int) -> float:
        return self._data[self._offset(i)]

    def row(self, i: int) -> array[float]:
        o = self._offset(i)
        return self._data[o:o + self.stride]

    def index_at_or_after(self, t: float) -> int:
        """Index of the oldest row whose time is >= t (len if none)."""
        return bisect_left(_TimeView(self), t)


class _TimeView(Sequence[float]):
    """Lets bisect see a ring's time column as a sorted sequence."""

    __slots__ = ("_ring",)

    def __init__(self, ring: Ring) -> None:
        self._ring = ring

    def __len__(self) -> int:
        return len(self._ring)

    def __getitem__(self, i: int) -> float:  # type: ignore[override]
        return self._ring.time(i)


@dataclass(frozen=True)
class Delta:
    """Counter differences between two snapshots of one series."""

    start: float
    end: float
    counters: dict[str, float]
    percpu: tuple[float, ...] | None

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Series:
    """One container's snapshots; `push` is called once per sample."""

    __slots__ = ("_coarse", "_coarse_capacity", "_fine", "_fine_capacity", "coarse_step",
                 "latest", "ncores", "resets", "retention")

    def __init__(self, retention: float, fine_seconds: float = 120.0,
                 coarse_step: float = 10.0, min_spacing: float = 0.5) -> None:
        self.retention = retention
        self.coarse_step = coarse_step
        self._fine_capacity = int(fine_seconds / min_spacing) + 2
        self._coarse_capacity = int(retention / coarse_step) + 2
        # Rings are allocated on the first sample, when the number of cores is known.
        self._fine: Ring | None = None
        self._coarse: Ring | None = None
        self.latest: Sample | None = None
        self.ncores = 0
        self.resets = 0

    def push(self, s: Sample) -> None:
        percpu = s.percpu or ()
        prev = self.latest
        if self._fine is None or self._coarse is None or len(percpu) != self.ncores:
            self._start(len(percpu))
        elif prev is not None:
            if _went_back(prev, s):
                self.resets += 1
                self._start(len(percpu))
            elif s.t <= prev.t:
                return  # a repeated or out-of-order sample: nothing new
        row = [s.t, s.cpu_total, s.blk_read, s.blk_write, s.rx_bytes, s.tx_bytes,
               s.rx_packets, s.tx_packets, *percpu]
        assert self._fine is not None and self._coarse is not None
        fine, coarse = self._fine, self._coarse
        if len(fine) and s.t - fine.time(len(fine) - 1) < 0.5:
            return  # faster than we keep; the next one will do
        fine.push(row)
        if not len(coarse) or s.t - coarse.time(len(coarse) - 1) >= self.coarse_step:
            coarse.push(row)
        self.latest = s

    def _start(self, ncores: int) -> None:
        stride = FIXED_COLUMNS + ncores
        self.ncores = ncores
        self._fine = Ring(self._fine_capacity, stride)
        self._coarse = Ring(self._coarse_capacity, stride)

    def delta(self, window: float, now: float | None = None) -> Delta | None:
        """Differences over the `window` seconds ending at the latest snapshot
        (or starting at `now - window`), or None with fewer than two snapshots."""
        fine, coarse = self._fine, self._coarse
        if fine is None or coarse is None or len(fine) < 2:
            return None
        end_t = fine.time(len(fine) - 1)
        start_t = (now if now is not None else end_t) - min(window, self.retention)
        ring = fine if fine.time(0) <= start_t or len(coarse) < 2 else coarse
        i = min(ring.index_at_or_after(start_t), len(ring) - 1)
        # Take whichever neighbour is nearer the requested start.
        if i > 0 and start_t - ring.time(i - 1) < ring.time(i) - start_t:
            i -= 1
        a = ring.row(i)
        b = fine.row(len(fine) - 1)
        if b[T] <= a[T]:
            a = fine.row(len(fine) - 2)
        counters = {name: b[col] - a[col] for name, col in zip(COUNTERS, range(1, 8), strict=True)}
        percpu = tuple(b[c] - a[c] for c in range(FIXED_COLUMNS, FIXED_COLUMNS + self.ncores))
        return Delta(a[T], b[T], counters, percpu if self.ncores else None)

    def memory_bytes(self) -> int:
        """Bytes held by the rings (for the RSS budget and the bench)."""
        return sum(r.capacity * r.stride * 8 for r in (self._fine, self._coarse) if r)


def _went_back(prev: Sample, s: Sample) -> bool:
    if (s.cpu_total < prev.cpu_total or s.blk_read < prev.blk_read
            or s.blk_write < prev.blk_write or s.rx_bytes < prev.rx_bytes
            or s.tx_bytes < prev.tx_bytes or s.rx_packets < prev.rx_packets
            or s.tx_packets < prev.tx_packets):
        return True
    if prev.percpu and s.percpu:
        return any(b < a for a, b in zip(prev.percpu, s.percpu, strict=False))
    return False
