"""Parse one engine stats sample (cgroup v1 or v2 shape) into plain numbers. Pure.

This sits on the hot path (one call per container per second), so it reads only
the fields it needs and avoids building intermediate objects.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

ZERO_TIME_PREFIX = "0001-01-01"
# A container's rings hold a column per core (series.py): an engine's list of 150,000
# "cores" (a 600 KB line) would have cost about 1.3 GB for one container (issue 29).
# cgroup v1 lists the host's possible CPUs; no Docker host has more than this.
MAX_CORES = 1024


class SampleError(ValueError):
    """A stats sample that cannot be used; the message says which field is wrong."""


class Sample(NamedTuple):
    """One sample's numbers (a NamedTuple: cheap to build once per container per second)."""

    t: float  # seconds since the epoch, from `read`
    cpu_total: int  # ns
    percpu: tuple[int, ...] | None  # ns per core; None on cgroup v2
    online_cpus: int
    rss: int  # v1 `rss`, v2 `anon`
    mem_limit: int  # memory_stats.limit (host total when the container has none)
    mem_stats: Mapping[str, Any]  # every key of memory_stats.stats, as sent
    cgroup: int  # 1 or 2
    blk_read: int
    blk_write: int
    rx_bytes: int
    tx_bytes: int
    rx_packets: int
    tx_packets: int
    # What the engine did not give for this container (NO_MEMORY, NO_NETWORK): those
    # figures are "not available", never 0. Their fields above hold 0.
    absent: frozenset[str] = frozenset()


NO_MEMORY = "memory"  # `memory_stats: {}`: no memory controller in its cgroup
NO_NETWORK = "network"  # no `networks`: the host's network, or none
_NONE_ABSENT: frozenset[str] = frozenset()
_NO_NETWORK = frozenset({NO_NETWORK})


@lru_cache(maxsize=64)
def _minute_epoch(prefix: str) -> int:
    # prefix is "YYYY-MM-DDTHH:MM"; one cache entry serves a whole minute of samples.
    return calendar.timegm((int(prefix[0:4]), int(prefix[5:7]), int(prefix[8:10]),
                            int(prefix[11:13]), int(prefix[14:16]), 0))


def parse_time(text: str) -> float:
    """RFC 3339 with up to nanoseconds, as the engine writes `read` (UTC, `Z`)."""
    try:
        base = _minute_epoch(text[:16])
        rest = text[17:]
        if rest.endswith("Z"):
            rest = rest[:-1]
        elif len(rest) > 6 and rest[-6] in "+-":  # explicit offset, e.g. +09:00
            sign = 1 if rest[-6] == "+" else -1
            base -= sign * (int(rest[-5:-3]) * 3600 + int(rest[-2:]) * 60)
            rest = rest[:-6]
        return base + float(rest)
    except (ValueError, IndexError):
        raise SampleError(f"bad time {text!r}") from None


def _int(d: Mapping[str, Any], key: str, where: str) -> int:
    v = d.get(key)
    if type(v) is int:
        return v
    if v is None:
        return 0
    if isinstance(v, float) and 0 <= v < 2.0**63:
        return int(v)
    raise SampleError(f"{where}.{key} is not a number: {v!r}")


def _blkio(doc: Mapping[str, Any]) -> tuple[int, int]:
    blk = doc.get("blkio_stats")
    entries = blk.get("io_service_bytes_recursive") if isinstance(blk, Mapping) else None
    read = write = 0
    if entries is not None and not isinstance(entries, list):
        raise SampleError("blkio_stats.io_service_bytes_recursive is not a list")
    # null or [] on some v1 drivers and v2 engines. Null is 0, not "not available":
    # Docker 26 on cgroup v2 sends null for every container that has done no I/O yet
    # (seen on Debian 13, the io controller delegated), so it cannot tell a missing
    # controller from a quiet container.
    for e in entries or ():
        if not isinstance(e, Mapping):
            raise SampleError("blkio_stats.io_service_bytes_recursive has a non-object entry")
        op = e.get("op")
        if op in ("Read", "read"):
            read += _int(e, "value", "blkio")
        elif op in ("Write", "write"):
            write += _int(e, "value", "blkio")
    return read, write


def _network(doc: Mapping[str, Any]) -> tuple[int, int, int, int] | None:
    """Bytes and packets over the container's interfaces; None when it has none of
    its own (`--network host` or `none`: no `networks`), which is not 0 traffic."""
    nets = doc.get("networks")
    if nets is None and isinstance(doc.get("network"), Mapping):
        nets = {"eth0": doc["network"]}  # engines before API 1.21
    rxb = txb = rxp = txp = 0
    if not isinstance(nets, Mapping) or not nets:
        return None
    for n in nets.values():
        if not isinstance(n, Mapping):
            raise SampleError("networks has a non-object interface")
        rxb += _int(n, "rx_bytes", "networks")
        txb += _int(n, "tx_bytes", "networks")
        rxp += _int(n, "rx_packets", "networks")
        txp += _int(n, "tx_packets", "networks")
    return rxb, txb, rxp, txp


def parse_sample(doc: Any) -> Sample | None:
    """One decoded JSON stats object -> Sample; None for the zeroed samples an engine
    keeps sending for a stopped container (their `read` is the zero time).
    Raises SampleError naming the field when the sample cannot be used."""
    try:
        return _parse_common(doc)
    except (KeyError, TypeError, AttributeError, IndexError, _NotCommon):
        return _parse_careful(doc)


class _NotCommon(Exception):
    """The sample is not in the common shape; the careful parser will say why."""


def _parse_common(doc: Any) -> Sample | None:
    """The hot path: the shapes engines send (v1 and v2), read with plain indexing;
    anything unexpected falls back to `_parse_careful`."""
    read = doc["read"]
    if read.startswith(ZERO_TIME_PREFIX):
        return None
    cpu = doc["cpu_stats"]
    usage = cpu["cpu_usage"]
    total = usage["total_usage"]
    percpu = usage.get("percpu_usage")
    percpu = tuple(percpu) if percpu else None
    if percpu is not None and len(percpu) > MAX_CORES:
        raise _NotCommon
    online = cpu.get("online_cpus") or (len(percpu) if percpu else 1)
    mem = doc["memory_stats"]
    stats = mem["stats"]
    rss = stats.get("rss")
    v2 = rss is None
    if v2:
        rss = stats["anon"]
    limit = mem.get("limit", 0)
    read_b = write_b = 0
    for e in doc["blkio_stats"]["io_service_bytes_recursive"] or ():
        op = e["op"]
        if op == "Read" or op == "read":
            read_b += e["value"]
        elif op == "Write" or op == "write":
            write_b += e["value"]
    rxb = txb = rxp = txp = 0
    nets = doc.get("networks")
    for n in (nets or {}).values():
        rxb += n["rx_bytes"]
        txb += n["tx_bytes"]
        rxp += n["rx_packets"]
        txp += n["tx_packets"]
    if nets is None and "network" in doc:
        raise _NotCommon
    values = (total, online, rss, limit, read_b, write_b, rxb, txb, rxp, txp)
    if any(type(v) is not int for v in values) or online <= 0 or (percpu and any(
            type(v) is not int for v in percpu)):
        raise _NotCommon
    return Sample(parse_time(read), total, percpu, online, rss, limit, stats, 2 if v2 else 1,
                  read_b, write_b, rxb, txb, rxp, txp, _NO_NETWORK if not nets else _NONE_ABSENT)


def _parse_careful(doc: Any) -> Sample | None:
    if not isinstance(doc, Mapping):
        raise SampleError(f"sample is not an object: {type(doc).__name__}")
    read = doc.get("read")
    if not isinstance(read, str):
        raise SampleError("sample has no `read` time")
    if read.startswith(ZERO_TIME_PREFIX):
        return None
    cpu = doc.get("cpu_stats")
    usage = cpu.get("cpu_usage") if isinstance(cpu, Mapping) else None
    if not isinstance(cpu, Mapping) or not isinstance(usage, Mapping):
        raise SampleError("sample has no cpu_stats.cpu_usage")
    percpu_raw = usage.get("percpu_usage")
    percpu: tuple[int, ...] | None = None
    if isinstance(percpu_raw, list) and percpu_raw:
        if not all(type(x) is int for x in percpu_raw):
            raise SampleError("cpu_usage.percpu_usage holds a non-integer")
        if len(percpu_raw) > MAX_CORES:
            raise SampleError(f"cpu_usage.percpu_usage lists {len(percpu_raw)} cores; more "
                              f"than {MAX_CORES} is not a host's answer")
        percpu = tuple(percpu_raw)
    online = cpu.get("online_cpus")
    if type(online) is not int or online <= 0:
        online = len(percpu) if percpu else 1
    mem = doc.get("memory_stats")
    mem = mem if isinstance(mem, Mapping) else {}
    stats = mem.get("stats")
    absent: set[str] = set()
    if stats is None and "usage" not in mem:
        # Docker on cgroup v2 without the memory controller delegated: `{}`. Not
        # available, never 0 (issue 28).
        stats, v2, rss = {}, False, 0
        absent.add(NO_MEMORY)
    elif stats is None and "usage" in mem:
        # Podman's compat API: no `stats` map, only `usage` (and `limit`). Usage is the
        # figure there is (it counts page cache too); the detail is what exists.
        rss = _int(mem, "usage", "memory_stats")
        stats, v2 = {"usage": rss}, False
    else:
        stats = stats if isinstance(stats, Mapping) else {}
        v2 = "anon" in stats and "rss" not in stats
        rss = _int(stats, "anon" if v2 else "rss", "memory_stats.stats")
    blk_read, blk_write = _blkio(doc)
    net = _network(doc)
    if net is None:
        absent.add(NO_NETWORK)
    rxb, txb, rxp, txp = net or (0, 0, 0, 0)
    return Sample(
        t=parse_time(read),
        cpu_total=_int(usage, "total_usage", "cpu_stats.cpu_usage"),
        percpu=percpu,
        online_cpus=online,
        rss=rss,
        mem_limit=_int(mem, "limit", "memory_stats"),
        mem_stats=stats,
        cgroup=2 if v2 else 1,
        blk_read=blk_read,
        blk_write=blk_write,
        rx_bytes=rxb,
        tx_bytes=txb,
        rx_packets=rxp,
        tx_packets=txp,
        absent=frozenset(absent),
    )
