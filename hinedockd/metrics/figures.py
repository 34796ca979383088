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
from typing import Any

from hinedockd.metrics.series import Series
from hinedockd.model import Container

NS = 1e9
PERCPU_UNAVAILABLE = "per-core CPU is not available on this host (cgroup v2 has no percpu_usage)"


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


def container_figures(c: Container, series: Series | None, *, window: float,
                      now: float | None, host_memory: int, scale: str,
                      memory_detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": c.id, "name": c.name, "state": c.state}
    latest = series.latest if series else None
    delta = series.delta(window, now) if series else None
    live = c.state in ("running", "paused")
    if not live or latest is None or delta is None or delta.seconds <= 0:
        out["window"] = None
        out["error"] = "no stats yet" if live else f"not running ({c.state})"
        return out
    secs = delta.seconds
    out["window"] = {"start": delta.start, "end": delta.end, "seconds": round(secs, 3)}
    cores_divisor = latest.online_cpus if scale == "host" else 1
    cpu: dict[str, Any] = {
        "percent": _pct(delta.counters["cpu"], secs * NS * cores_divisor),
        "scale": scale,
        "online_cpus": latest.online_cpus,
    }
    if delta.percpu is None:
        cpu["per_core"] = None
        cpu["per_core_error"] = PERCPU_UNAVAILABLE
    else:
        cpu["per_core"] = [_pct(d, secs * NS) for d in delta.percpu]
    out["cpu"] = cpu
    # memory_stats.limit is the cgroup limit, i.e. HostConfig.Memory when one is set,
    # and (about) the host's memory when not: no limit -> host total (SPEC §4).
    limit = latest.mem_limit if 0 < latest.mem_limit < host_memory else host_memory
    mem: dict[str, Any] = {
        "rss": latest.rss,
        "host_total": host_memory,
        "host_percent": _pct(latest.rss, host_memory),
        "limit": limit,
        "limit_percent": _pct(latest.rss, limit),
        "cgroup": latest.cgroup,
        "at": latest.t,
    }
    if memory_detail:
        mem["detail"] = dict(latest.mem_stats)
    out["memory"] = mem
    k = delta.counters
    out["disk"] = {"read_bytes": k["blk_read"], "write_bytes": k["blk_write"],
                   "read_per_second": k["blk_read"] / secs,
                   "write_per_second": k["blk_write"] / secs}
    out["net"] = {name: k[name] for name in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")}
    out["net"].update({f"{name}_per_second": k[name] / secs
                       for name in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")})
    return out


class KeyCursors:
    """`-k KEY`: the window of a call is the time since the previous call with the
    same key. Bounded: least recently used keys are forgotten first."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self._last: OrderedDict[str, float] = OrderedDict()
        self.max_keys = max_keys

    def window(self, key: str, now: float, default: float, retention: float) -> float:
        """The window for this call; records `now` as the key's previous call."""
        prev = self._last.pop(key, None)
        self._last[key] = now
        while len(self._last) > self.max_keys:
            self._last.popitem(last=False)
        if prev is None or now <= prev:
            return default
        return min(now - prev, retention)
