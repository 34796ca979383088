"""The monitors of the report (§3.1, §3.3-3.7): figures -> `key,value` lines. Pure.

The daemon formats the lines itself, so that the client only passes arguments
and prints text: its cost stays the same whatever the number of containers.
Keys and formats are defined here once, for `hinedock` and the report's commands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hinedockd.answers import (
    ContainersAnswer,
    CountsAnswer,
    HostFigures,
    LifecycleAnswer,
    MetricsAnswer,
    PingAnswer,
    ProcessesAnswer,
    RunningTotals,
    SizeAnswer,
)
from hinedockd.metrics.figures import (
    MEMORY_UNAVAILABLE,
    NETWORK_UNAVAILABLE,
    Measured,
    report_value,
)
from hinedockd.model import LIFE_FIGURES, ContainerState
from hinedockd.output import Lines

REPORT_STATES = (ContainerState.RUNNING, ContainerState.RESTARTING, ContainerState.PAUSED,
                 ContainerState.EXITED)
# `hinedock states`: a number per state so that a numeric monitor can alert on it.
STATE_CODES = {s: i for i, s in enumerate((
    ContainerState.RUNNING, ContainerState.PAUSED, ContainerState.RESTARTING,
    ContainerState.CREATED, ContainerState.EXITED, ContainerState.DEAD,
    ContainerState.REMOVING))}

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


def connected(data: MetricsAnswer | LifecycleAnswer | ContainersAnswer) -> None:
    """Figures of a host the daemon is not connected to are not printed as if they were
    current: exit 1 with the reason (the Hinemos agent reports it; the monitor's result
    is unknown), nothing on stdout."""
    if not data.connected:
        raise MonitorError(f"{data.host}: the daemon is not connected to this engine"
                           f" ({data.last_error or 'connecting'}); no figures until it is back")


def usable_figures(data: MetricsAnswer, opts: Options) -> tuple[list[tuple[str, str, Measured]],
                                                                 list[str]]:
    """(id, name, figures) of the containers with figures, and a note for each
    without (just started, stopped)."""
    connected(data)
    ok, notes = [], []
    for c in data.containers:
        if c.figures is not None:
            ok.append((c.id, c.name, c.figures))
        else:
            notes.append(f"{c.id[:12]} {c.name}: {c.error or 'no data'}")
    if _selected(opts) and not ok:
        raise MonitorError("; ".join(notes) or "no running container selected")
    return ok, notes


def unavailable(data: MetricsAnswer, cid: str, name: str, why: str) -> str:
    """The stderr line for a figure the engine does not give: no line, never 0."""
    return f"host {data.host} ({data.engine}): {cid[:12]} {name}: {why}"


def host_status(data: PingAnswer, opts: Options) -> Result:
    lines = Lines()
    lines.add("Status", data.status)
    return Result(lines)


def _states(opts: Options) -> Iterable[ContainerState]:
    return REPORT_STATES if opts.get("states") == "report" else ContainerState


def host_count(data: CountsAnswer, opts: Options) -> Result:
    lines = Lines()
    for s in _states(opts):
        lines.add(s.value, data.counts.get(s, 0))
    return Result(lines)


def host_size(data: SizeAnswer, opts: Options) -> Result:
    lines = Lines()
    lines.add("image", data.sizes["image"])
    for s in _states(opts):
        lines.add(s.value, data.sizes.get(s, 0))
    return Result(lines)


def _host_figures(data: MetricsAnswer, opts: Options) -> tuple[HostFigures, RunningTotals]:
    """The SNMP figures for --with-host and the running containers' sums, or why
    there are none (the report forbids --with-host with a selection or per core: the
    host's share needs every container)."""
    if _selected(opts) or _flag(opts, "core") or opts.get("of", "host") != "host":
        raise MonitorError("--with-host cannot be used with -c, -n, --core, --container or "
                           "--all")
    if opts.get("scale") == "core":
        raise MonitorError("--with-host needs the host scale (percent of the whole host)")
    host, running = data.host_figures, data.all_running
    if host is None or running is None:
        raise MonitorError("no host figures")
    if host.error:
        raise MonitorError(host.error)
    return host, running


def cpu(data: MetricsAnswer, opts: Options) -> Result:
    host = _host_figures(data, opts) if _flag(opts, "with_host") else None
    figs, notes = usable_figures(data, opts)
    lines = Lines()
    for _cid, name, f in figs:
        if not _flag(opts, "core"):
            lines.add(f"cpu_usage:{name}", f.cpu.percent)
        elif f.cpu.per_core is None:
            raise MonitorError(f"{name}: {f.cpu.per_core_error}")
        else:
            for i, v in enumerate(f.cpu.per_core):
                lines.add(f"cpu_usage#{i}:{name}", v)
    if host is not None:
        _add_outside(lines, "cpu_usage:host", host[1].cpu_outside(host[0]), "CPU")
    return Result(lines, notes)


def memory(data: MetricsAnswer, opts: Options) -> Result:
    """of = "host" (% of host memory), "limit" (% of the container's limit) or
    "detail" (every memory_stats.stats key; bare keys for one container as in the
    report, `key:<id8>` when several are selected so keys stay unique)."""
    of = opts.get("of", "host")
    if of not in ("host", "limit", "detail"):
        raise MonitorError(f"of must be host, limit or detail; got {of!r}")
    host = _host_figures(data, opts) if _flag(opts, "with_host") else None
    figs, notes = usable_figures(data, opts)
    lines = Lines()
    for cid, name, f in figs:
        m = f.memory
        if m is None:
            notes.append(unavailable(data, cid, name, MEMORY_UNAVAILABLE))
            continue
        if of == "detail":
            suffix = "" if len(figs) == 1 else f":{cid[:8]}"
            for k, v in (m.detail or {}).items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    lines.add(f"{k}{suffix}", v)
        else:
            # the report's key for both shares
            value = report_value(f, "host_mem_usage" if of == "host" else "limit_mem_usage")
            if value is not None:
                lines.add(f"host_mem_usage:{cid[:8]}", value)
    if host is not None:
        _add_outside(lines, "host_mem_usage:host", host[1].memory_outside(host[0]), "memory")
    return Result(lines, notes)


def _add_outside(lines: Lines, key: str, outside: float | None, what: str) -> None:
    """`--with-host`'s line: the host's share outside its containers (answers.py)."""
    if outside is None:
        raise MonitorError(f"no host {what} figures over SNMP yet")
    lines.add(key, outside)


def disk(data: MetricsAnswer, opts: Options) -> Result:
    figs, notes = usable_figures(data, opts)
    read, write = _flag(opts, "read"), _flag(opts, "write")
    both = not (read or write)
    per_second = _flag(opts, "per_second")
    lines = Lines()
    for cid, _name, f in figs:
        for key, wanted in (("disk_read", both or read), ("disk_write", both or write)):
            value = report_value(f, key, per_second)
            if wanted and value is not None:
                lines.add(f"{key}:{cid[:8]}", value)
    return Result(lines, notes)


def network(data: MetricsAnswer, opts: Options) -> Result:
    figs, notes = usable_figures(data, opts)
    packets = _flag(opts, "packets")
    bytes_too = _flag(opts, "bytes") or not packets
    rx, tx = _flag(opts, "rx"), _flag(opts, "tx")
    both = not (rx or tx)
    per_second = _flag(opts, "per_second")
    lines = Lines()
    for cid, name, f in figs:
        if f.net is None:
            notes.append(unavailable(data, cid, name, NETWORK_UNAVAILABLE))
            continue
        keys = ([("nw_rxkb", both or rx), ("nw_txkb", both or tx)] if bytes_too else []) + (
            [("nw_rxpck", both or rx), ("nw_txpck", both or tx)] if packets else [])
        for key, wanted in keys:  # in the report's order
            if not wanted:
                continue
            value = report_value(f, key, per_second)
            if value is None:
                raise MonitorError(f"{data.host}: {data.engine} gives no packet counts "
                                   "(its API reports 0 whatever the traffic: Podman before "
                                   "5.0); use --kb")
            lines.add(f"{key}:{cid[:8]}", value)
    return Result(lines, notes)


def processes(data: ProcessesAnswer, opts: Options) -> Result:
    label = " ".join(p for p in (opts.get("prog"), opts.get("args")) if p) or ".*"
    lines, notes = Lines(), []
    for c in data.containers:
        if c.count is None:
            notes.append(f"{c.id[:12]} {c.name}: {c.error}")
        else:
            lines.add(f"{label}:{c.id[:12]}", c.count)
    if not lines.lines and (notes or _selected(opts)):  # every count failed: say why
        raise MonitorError("; ".join(notes) or "no running container selected")
    return Result(lines, notes)


def states(data: ContainersAnswer, opts: Options) -> Result:
    connected(data)
    lines = Lines()
    for c in data.containers:
        lines.add(f"state:{c.id[:12]}", STATE_CODES[c.state])
    return Result(lines)


def _life_lines(data: LifecycleAnswer, opts: Options, keys: tuple[str, ...]) -> Result:
    """Lines per container, keyed by name like the report's CPU lines: each key's
    value by its rule (model.LIFE_FIGURES), or, when one has none, why (a note on
    stderr). Selected containers with no line at all are an error (exit 1)."""
    connected(data)
    lines, notes = Lines(), []
    for f in data.containers:
        values = [(key, LIFE_FIGURES[key].value(f)) for key in keys]
        why = next((v for _, v in values if isinstance(v, str)), None)
        if why is not None:
            notes.append(f"{f.id[:12]} {f.name}: {why}")
            continue
        for key, value in values:
            if value is not None and not isinstance(value, str):
                lines.add(f"{key}:{f.name}", value)
    if _selected(opts) and not lines.lines:
        raise MonitorError("; ".join(notes) or "no container selected")
    return Result(lines, notes)


def health(data: LifecycleAnswer, opts: Options) -> Result:
    """`health:<name>`: healthy 0, unhealthy 1, starting 2; no line without a health
    check, or while not running (the check does not run)."""
    return _life_lines(data, opts, ("health",))


def restarts(data: LifecycleAnswer, opts: Options) -> Result:
    """`restart_count:<name>`: the engine's RestartCount (restart policy restarts);
    `restarts:<name>`: every start of it after its first that the daemon saw within
    the window (a `docker restart` too)."""
    return _life_lines(data, opts, ("restart_count", "restarts"))


def oom(data: LifecycleAnswer, opts: Options) -> Result:
    """`oom_killed:<name>`: 1 when its last exit was an OOM kill, as the engine says;
    `oom_events:<name>`: `oom` events within the window."""
    return _life_lines(data, opts, ("oom_killed", "oom_events"))


def exit_code(data: LifecycleAnswer, opts: Options) -> Result:
    """`exit_code:<name>`: the last exit code (0 while running, as the engine says;
    a negative one is not printed: older agents take no sign)."""
    return _life_lines(data, opts, ("exit_code",))


def uptime(data: LifecycleAnswer, opts: Options) -> Result:
    """`uptime:<name>`: whole seconds since it started, 0 when not running;
    `state_age:<name>`: whole seconds since its last state change."""
    return _life_lines(data, opts, ("uptime", "state_age"))
