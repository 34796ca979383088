"""The host's CPU from SNMP raw tick counters (UCD-SNMP-MIB ssCpuRaw*). Pure.

busy = user + nice + system (net-snmp's ssCpuRawSystem already holds irq and
softirq on Linux) + steal; total = busy + idle + iowait. The counters are Counter32:
a drop from the upper half of the range to the lower is a wrap (2^32 is added); any
other drop is a reboot, which starts a new series. Percent of the whole host, the
same scale as the containers' default."""

from __future__ import annotations

from hinedockd.metrics.series import Ring

WRAP = 1 << 32


class HostCpuSeries:
    def __init__(self, retention: float, min_spacing: float = 1.0) -> None:
        self.retention = retention
        self.ring = Ring(int(retention / min_spacing) + 2, 3)  # t, busy, total
        self._raw: tuple[int, int] | None = None  # last raw (busy, total)
        self._offset = [0, 0]  # added on wraps
        self.resets = 0

    def push(self, t: float, busy: int, total: int) -> None:
        if total == 0:
            return  # net-snmp answers zeros until its first CPU reading (a few seconds)
        if self._raw is not None:
            for i, (old, new) in enumerate(zip(self._raw, (busy, total), strict=True)):
                if new < old:
                    if old >= WRAP // 2 and new < WRAP // 2:
                        self._offset[i] += WRAP
                    else:  # rebooted: counters started again
                        self.ring.clear()
                        self._offset = [0, 0]
                        self.resets += 1
                        break
        self._raw = (busy, total)
        n = len(self.ring)
        if n and t - self.ring.time(n - 1) < 0.5:
            return
        self.ring.push([t, busy + self._offset[0], total + self._offset[1]])

    def percent(self, window: float, now: float | None = None) -> tuple[float, float] | None:
        """(busy percent, seconds covered) over the window ending at the last sample."""
        n = len(self.ring)
        if n < 2:
            return None
        end = self.ring.row(n - 1)
        start_t = (now if now is not None else end[0]) - min(window, self.retention)
        i = min(self.ring.index_at_or_after(start_t), n - 2)
        start = self.ring.row(i)
        d_total = end[2] - start[2]
        if d_total <= 0:
            return None
        return 100.0 * (end[1] - start[1]) / d_total, end[0] - start[0]
