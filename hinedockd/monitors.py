"""The monitors of the report (§3.1, §3.3-3.7): figures -> `key,value` lines. Pure.

The daemon formats the lines itself, so that the client only passes arguments
and prints text: its cost stays the same whatever the number of containers.
Keys and formats are defined here once, for `hinedock` and the report's commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hinedockd.output import Lines

REPORT_STATES = ("running", "restarting", "paused", "exited")
ALL_STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
# `hinedock states`: a number per state so that a numeric monitor can alert on it.
STATE_CODES = {s: i for i, s in enumerate(("running", "paused", "restarting", "created",
                                           "exited", "dead", "removing"))}

Options = Mapping[str, str]


class MonitorError(ValueError):
    """Nothing to print, and why (the client exits 1 with this on stderr)."""


class Result:
    """Lines for stdout, notes for stderr."""

    __slots__ = ("lines", "notes")

    def __init__(self, lines: Lines, notes: list[str] | None = None) -> None:
        self.lines, self.notes = lines, notes or []


def _flag(opts: Options, name: str) -> bool:
    return opts.get(name) in ("1", "true", "yes")


def _selected(opts: Options) -> bool:
    return bool(opts.get("id") or opts.get("name"))


def usable_figures(data: Mapping[str, Any], opts: Options) -> tuple[list[dict[str, Any]],
                                                                      list[str]]:
    """Containers with figures, and a note for each without (just started, stopped)."""
    ok, notes = [], []
    for c in data["containers"]:
        if c.get("window"):
            ok.append(c)
        else:
            notes.append(f"{c['id'][:12]} {c['name']}: {c.get('error', 'no data')}")
    if not data.get("connected"):
        notes.append(f"{data['host']}: not connected to the engine; figures may be stale")
    if _selected(opts) and not ok:
        raise MonitorError("; ".join(notes) or "no running container selected")
    return ok, notes


def host_status(data: Mapping[str, Any], opts: Options) -> Result:
    lines = Lines()
    lines.add("Status", int(data["status"]))
    return Result(lines)


def _states(opts: Options) -> Iterable[str]:
    return REPORT_STATES if opts.get("states") == "report" else ALL_STATES


def host_count(data: Mapping[str, Any], opts: Options) -> Result:
    lines = Lines()
    for s in _states(opts):
        lines.add(s, int(data["counts"].get(s, 0)))
    return Result(lines)


def host_size(data: Mapping[str, Any], opts: Options) -> Result:
    sizes = data["sizes"]
    lines = Lines()
    lines.add("image", int(sizes["image"]))
    for s in _states(opts):
        lines.add(s, int(sizes.get(s, 0)))
    return Result(lines)


def _host_figures(data: Mapping[str, Any], opts: Options) -> Mapping[str, Any]:
    """The SNMP figures for --with-host, or why there are none (the report forbids
    --with-host with a selection or per core: the host's share needs every container)."""
    if _selected(opts) or _flag(opts, "core") or opts.get("of", "host") != "host":
        raise MonitorError("--with-host cannot be used with -c, -n, --core, --container or "
                           "--all")
    if opts.get("scale") == "core":
        raise MonitorError("--with-host needs the host scale (percent of the whole host)")
    host = data.get("host_figures") or {"error": "no host figures"}
    if host.get("error"):
        raise MonitorError(str(host["error"]))
    return host


def cpu(data: Mapping[str, Any], opts: Options) -> Result:
    host = _host_figures(data, opts) if _flag(opts, "with_host") else None
    figs, notes = usable_figures(data, opts)
    lines = Lines()
    for c in figs:
        if not _flag(opts, "core"):
            lines.add(f"cpu_usage:{c['name']}", c["cpu"]["percent"])
        elif c["cpu"]["per_core"] is None:
            raise MonitorError(f"{c['name']}: {c['cpu']['per_core_error']}")
        else:
            for i, v in enumerate(c["cpu"]["per_core"]):
                lines.add(f"cpu_usage#{i}:{c['name']}", v)
    if host is not None:
        # The host's CPU not used by containers: host % minus the sum of the containers.
        lines.add("cpu_usage:host", max(0.0, host["cpu_percent"] -
                                        data["all_running"]["cpu_percent"]))
    return Result(lines, notes)


def memory(data: Mapping[str, Any], opts: Options) -> Result:
    """of = "host" (% of host memory), "limit" (% of the container's limit) or
    "detail" (every memory_stats.stats key; bare keys for one container as in the
    report, `key:<id8>` when several are selected so keys stay unique)."""
    of = opts.get("of", "host")
    if of not in ("host", "limit", "detail"):
        raise MonitorError(f"of must be host, limit or detail; got {of!r}")
    host = _host_figures(data, opts) if _flag(opts, "with_host") else None
    figs, notes = usable_figures(data, opts)
    lines = Lines()
    for c in figs:
        m = c["memory"]
        if of == "detail":
            suffix = "" if len(figs) == 1 else f":{c['id'][:8]}"
            for k, v in m["detail"].items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    lines.add(f"{k}{suffix}", v)
        else:
            lines.add(f"host_mem_usage:{c['id'][:8]}",
                      m["host_percent"] if of == "host" else m["limit_percent"])
    if host is not None:
        mem = host["memory"]
        if not mem or not mem["total"]:
            raise MonitorError("no host memory figures over SNMP yet")
        # Used (not free, buffers or cache) minus the containers' rss, of the total.
        outside = max(0.0, mem["used"] - data["all_running"]["rss"])
        lines.add("host_mem_usage:host", 100.0 * outside / mem["total"])
    return Result(lines, notes)


def disk(data: Mapping[str, Any], opts: Options) -> Result:
    figs, notes = usable_figures(data, opts)
    both = not (_flag(opts, "read") or _flag(opts, "write"))
    unit = "_per_second" if _flag(opts, "per_second") else "_bytes"
    lines = Lines()
    for c in figs:
        for op in ("read", "write"):
            if both or _flag(opts, op):
                lines.add(f"disk_{op}:{c['id'][:8]}", c["disk"][f"{op}{unit}"])
    return Result(lines, notes)


def network(data: Mapping[str, Any], opts: Options) -> Result:
    figs, notes = usable_figures(data, opts)
    packets = _flag(opts, "packets")
    kinds = [("kb", "bytes")] if _flag(opts, "bytes") or not packets else []
    kinds += [("pck", "packets")] if packets else []
    both = not (_flag(opts, "rx") or _flag(opts, "tx"))
    suffix = "_per_second" if _flag(opts, "per_second") else ""
    lines = Lines()
    for c in figs:
        for label, field in kinds:
            for d in ("rx", "tx"):
                if both or _flag(opts, d):
                    lines.add(f"nw_{d}{label}:{c['id'][:8]}", c["net"][f"{d}_{field}{suffix}"])
    return Result(lines, notes)


def processes(data: Mapping[str, Any], opts: Options) -> Result:
    label = " ".join(p for p in (opts.get("prog"), opts.get("args")) if p) or ".*"
    lines, notes = Lines(), []
    for c in data["containers"]:
        if "error" in c:
            notes.append(f"{c['id'][:12]} {c['name']}: {c['error']}")
        else:
            lines.add(f"{label}:{c['id'][:12]}", int(c["count"]))
    if _selected(opts) and not lines.lines:
        raise MonitorError("; ".join(notes) or "no running container selected")
    return Result(lines, notes)


def states(data: Mapping[str, Any], opts: Options) -> Result:
    lines = Lines()
    for c in data["containers"]:
        lines.add(f"state:{c['id'][:12]}", STATE_CODES.get(c["state"], len(STATE_CODES)))
    return Result(lines)


# monitor name -> (the API data it formats, formatter)
MONITORS: dict[str, tuple[str, Callable[[Mapping[str, Any], Options], Result]]] = {
    "status": ("ping", host_status),
    "count": ("counts", host_count),
    "size": ("size", host_size),
    "cpu": ("metrics", cpu),
    "mem": ("metrics", memory),
    "disk": ("metrics", disk),
    "net": ("metrics", network),
    "proc": ("processes", processes),
    "states": ("containers", states),
}
