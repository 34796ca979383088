"""Turn a container's series into the figures the client prints. Pure.

CPU scale (documented in the README):
- "host" (default): percent of the whole host, 0-100 whatever the number of cores,
  so that "host CPU minus the sum of the containers" is meaningful;
- "core": the `docker stats` scale, percent of one core (0-100 x cores).
Per-core figures are percent of that core. Disk and network figures are bytes
(or packets) over the window, and the same per second.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from hinedockd.metrics.sample import NO_MEMORY, NO_NETWORK
from hinedockd.metrics.series import Series
from hinedockd.model import STATS_STATES, Container, ContainerState, CpuScale

NS = 1e9
PERCPU_UNAVAILABLE = "per-core CPU is not available on this host (cgroup v2 has no percpu_usage)"
# A figure the engine does not give is "not available", never 0 (issue 28): these say why.
MEMORY_UNAVAILABLE = ("memory is not available (the engine gives no memory_stats: no memory "
                      "controller in the container's cgroup)")
NETWORK_UNAVAILABLE = ("network is not available (the container has no interfaces of its "
                       "own: host network, or none)")
T = TypeVar("T")


@dataclass(frozen=True)
class Window:
    """What an answer covers: engine times of the first and last sample used."""

    start: float
    end: float
    seconds: float


@dataclass(frozen=True)
class CpuFigures:
    percent: float
    scale: CpuScale
    online_cpus: int
    per_core: tuple[float, ...] | None  # None on cgroup v2, with the reason:
    per_core_error: str | None


@dataclass(frozen=True)
class MemoryFigures:
    """The latest sample's memory (not an average: rss is a level, not a counter)."""

    rss: int
    host_total: int
    host_percent: float
    limit: int
    limit_percent: float
    cgroup: int
    at: float
    detail: Mapping[str, Any] | None  # every key of memory_stats.stats, when asked


@dataclass(frozen=True)
class DiskFigures:
    read_bytes: float
    write_bytes: float
    read_per_second: float
    write_per_second: float


@dataclass(frozen=True)
class NetFigures:
    """Packets are None where the engine gives none (Podman: docker/dialect.py)."""

    rx_bytes: float
    tx_bytes: float
    rx_packets: float | None
    tx_packets: float | None
    rx_bytes_per_second: float
    tx_bytes_per_second: float
    rx_packets_per_second: float | None
    tx_packets_per_second: float | None


@dataclass(frozen=True)
class Measured:
    """The figures of a container that has them over a window."""

    window: Window
    cpu: CpuFigures
    memory: MemoryFigures | None  # None: not given (MEMORY_UNAVAILABLE)
    disk: DiskFigures
    net: NetFigures | None  # None: not given (NETWORK_UNAVAILABLE)


FigureOf = Callable[[Measured], float | None]  # None: the engine does not give it


@dataclass(frozen=True)
class ReportFigure:
    """One of the report's figure keys (its monitors' `KEY:<id>` less the id; a custom
    trap item's KEY): the figure over the window, and per second where it is a rate
    (`--per-second`); None where it is a level (CPU %, memory %)."""

    total: FigureOf
    per_second: FigureOf | None = None


# Every figure key and its rule, in the report's order: the monitors, the custom trap
# and the config's list of trap keys read them here.
REPORT_FIGURES: Mapping[str, ReportFigure] = {
    "cpu_usage": ReportFigure(lambda f: f.cpu.percent),
    "host_mem_usage": ReportFigure(lambda f: f.memory.host_percent if f.memory else None),
    "limit_mem_usage": ReportFigure(lambda f: f.memory.limit_percent if f.memory else None),
    "disk_read": ReportFigure(lambda f: f.disk.read_bytes, lambda f: f.disk.read_per_second),
    "disk_write": ReportFigure(lambda f: f.disk.write_bytes,
                               lambda f: f.disk.write_per_second),
    "nw_rxkb": ReportFigure(lambda f: f.net.rx_bytes if f.net else None,
                            lambda f: f.net.rx_bytes_per_second if f.net else None),
    "nw_txkb": ReportFigure(lambda f: f.net.tx_bytes if f.net else None,
                            lambda f: f.net.tx_bytes_per_second if f.net else None),
    "nw_rxpck": ReportFigure(lambda f: f.net.rx_packets if f.net else None,
                             lambda f: f.net.rx_packets_per_second if f.net else None),
    "nw_txpck": ReportFigure(lambda f: f.net.tx_packets if f.net else None,
                             lambda f: f.net.tx_packets_per_second if f.net else None),
}


def report_value(f: Measured, key: str, per_second: bool = False) -> float | None:
    """The figure under `key` (per second when asked and it is a rate)."""
    fig = REPORT_FIGURES[key]
    return (fig.per_second if per_second and fig.per_second else fig.total)(f)


@dataclass(frozen=True)
class ContainerFigures:
    """One container's answer: `figures`, or `error` saying why there are none
    (just started: "no stats yet"; stopped: "not running (exited)")."""

    id: str
    name: str
    state: ContainerState
    figures: Measured | None
    error: str | None = None


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


def container_figures(c: Container, series: Series | None, *, window: float,
                      now: float | None, host_memory: int, scale: CpuScale,
                      memory_detail: bool = False, packets: bool = True) -> ContainerFigures:
    latest = series.latest if series else None
    delta = series.delta(window, now) if series else None
    live = c.state in STATS_STATES
    if not live or latest is None or delta is None or delta.seconds <= 0:
        error = "no stats yet" if live else f"not running ({c.state})"
        return ContainerFigures(c.id, c.name, c.state, None, error)
    secs = delta.seconds
    cores_divisor = latest.online_cpus if scale == "host" else 1
    k = delta.counters
    cpu = CpuFigures(
        percent=_pct(k["cpu"], secs * NS * cores_divisor), scale=scale,
        online_cpus=latest.online_cpus,
        per_core=None if delta.percpu is None else tuple(_pct(d, secs * NS)
                                                         for d in delta.percpu),
        per_core_error=PERCPU_UNAVAILABLE if delta.percpu is None else None)
    # memory_stats.limit is the cgroup limit, i.e. HostConfig.Memory when one is set,
    # and (about) the host's memory when not: no limit -> host total (SPEC §4).
    limit = latest.mem_limit if 0 < latest.mem_limit < host_memory else host_memory
    memory = None if NO_MEMORY in latest.absent else MemoryFigures(
        rss=latest.rss, host_total=host_memory, host_percent=_pct(latest.rss, host_memory),
        limit=limit, limit_percent=_pct(latest.rss, limit), cgroup=latest.cgroup,
        at=latest.t, detail=dict(latest.mem_stats) if memory_detail else None)
    disk = DiskFigures(read_bytes=k["blk_read"], write_bytes=k["blk_write"],
                       read_per_second=k["blk_read"] / secs,
                       write_per_second=k["blk_write"] / secs)
    net = None if NO_NETWORK in latest.absent else NetFigures(
        rx_bytes=k["rx_bytes"], tx_bytes=k["tx_bytes"],
        rx_packets=k["rx_packets"] if packets else None,
        tx_packets=k["tx_packets"] if packets else None,
        rx_bytes_per_second=k["rx_bytes"] / secs, tx_bytes_per_second=k["tx_bytes"] / secs,
        rx_packets_per_second=k["rx_packets"] / secs if packets else None,
        tx_packets_per_second=k["tx_packets"] / secs if packets else None)
    measured = Measured(Window(delta.start, delta.end, round(secs, 3)), cpu, memory, disk, net)
    return ContainerFigures(c.id, c.name, c.state, measured)


class KeyCursors(Generic[T]):
    """`-k KEY`: what the previous call with the same key reached (a time for the
    figures' window, an event's arrival number for the events). Kept per owner (the caller's uid):
    one reader's keys never meet another's, and its 10,001st key evicts its own least
    recently used one, never another monitor's (issue 29)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self._owners: dict[int, OrderedDict[str, T]] = {}
        self.max_keys = max_keys

    def get(self, key: str, owner: int = -1) -> T | None:
        mine = self._owners.get(owner)
        return None if mine is None else mine.get(key)

    def swap(self, key: str, value: T, owner: int = -1) -> T | None:
        """Record `value` as the key's newest; return the previous one, if any."""
        mine = self._owners.setdefault(owner, OrderedDict())
        prev = mine.pop(key, None)
        mine[key] = value
        while len(mine) > self.max_keys:
            mine.popitem(last=False)
        return prev


def key_window(cursors: KeyCursors[float], key: str, now: float, default: float,
               retention: float, owner: int = -1) -> float:
    """The window of a `-k` call: the time since the previous call with the key;
    the first call (or a clock that went back) gets `default`."""
    prev = cursors.swap(key, now, owner)
    if prev is None or now <= prev:
        return default
    return min(now - prev, retention)


@dataclass(frozen=True)
class Totals:
    """A running container's cumulative counters as of its latest sample (what
    Prometheus rates itself): the engine's own counters since the container started,
    CPU in seconds. None where the engine does not give the figure."""

    at: float  # the sample's time, seconds since the epoch
    cpu_seconds: float
    read_bytes: int
    write_bytes: int
    rx_bytes: int | None
    tx_bytes: int | None
    rx_packets: int | None
    tx_packets: int | None
    rss: int | None
    mem_limit: int | None  # the cgroup's limit; None when it has none (the host's memory)


def container_totals(c: Container, series: Series | None, *, host_memory: int,
                     packets: bool = True) -> Totals | None:
    """None when the container is not running or not sampled yet. The counters are
    the sample's, after the dialect's reading (Podman before 4.4: received and sent
    swapped back; before 5.0: no packets)."""
    s = series.latest if series else None
    if c.state not in STATS_STATES or s is None:
        return None
    net = NO_NETWORK not in s.absent
    return Totals(
        at=s.t, cpu_seconds=s.cpu_total / NS, read_bytes=s.blk_read, write_bytes=s.blk_write,
        rx_bytes=s.rx_bytes if net else None, tx_bytes=s.tx_bytes if net else None,
        rx_packets=s.rx_packets if net and packets else None,
        tx_packets=s.tx_packets if net and packets else None,
        rss=None if NO_MEMORY in s.absent else s.rss,
        mem_limit=s.mem_limit if 0 < s.mem_limit < host_memory else None)
