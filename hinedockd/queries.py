"""What the local API and the monitors ask of a host: functions over its read-only
view (`HostView`), answering the dataclasses of `answers.py`. No HTTP here (that
is `api.py`), no text (that is `monitors.py`).

`DATA` names each query for `/v1/hosts/{host}/{data}`; `MONITORS` pairs each
monitor of the report with the query it formats, for `/v1/lines/{monitor}`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast, get_args

from hinedockd import monitors, readings
from hinedockd.answers import (
    ContainerItem,
    ContainersAnswer,
    CountsAnswer,
    EventItem,
    EventsAnswer,
    HostFigures,
    LifecycleAnswer,
    MetricsAnswer,
    PingAnswer,
    ProcessCount,
    ProcessesAnswer,
    RunningTotals,
    SizeAnswer,
)
from hinedockd.config import DaemonConfig
from hinedockd.docker.engine import EngineError
from hinedockd.docker.view import HostView
from hinedockd.gate import CALLER_UID
from hinedockd.messages.hub import SyslogHub
from hinedockd.metrics.figures import (
    ContainerFigures,
    KeyCursors,
    key_window,
)
from hinedockd.model import STATS_STATES, Container, CpuScale, matches, state_counts
from hinedockd.processes import compile_pattern, count_processes
from hinedockd.snmp import SnmpSource

Query = Mapping[str, str]
A = TypeVar("A")


class QueryError(Exception):
    """A question that cannot be answered as asked; `status` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def selection(view: HostView, q: Query) -> list[Container]:
    """The report's `-c` / `-n` (`id`, `name`; trailing `*` for a prefix), or all."""
    ids, names = q.get("id"), q.get("name")
    if ids and names:
        raise QueryError(400, "select by id or by name, not both")
    found = [c for c in view.containers.values() if matches(c, ids, names)]
    if (ids or names) and not found:
        raise QueryError(404, f"no container matches {'id' if ids else 'name'} "
                              f"{ids or names!r} on {view.host.facility_id}")
    return sorted(found, key=lambda c: (c.name, c.id))


def live_selection(view: HostView, q: Query) -> list[Container]:
    """All running/paused containers; or those named, whatever their state, so that
    the answer can say why a named container has no figures."""
    selected = selection(view, q)
    if q.get("id") or q.get("name"):
        return selected
    return [c for c in selected if c.state in STATS_STATES]


def positive_number(q: Query, key: str) -> float | None:
    text = q.get(key)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise QueryError(400, f"{key} must be a number, got {text!r}") from None
    if not value > 0:
        raise QueryError(400, f"{key} must be positive, got {text!r}")
    return value


def cpu_scale(q: Query, default: CpuScale) -> CpuScale:
    scale = q.get("scale") or default
    if scale not in get_args(CpuScale):
        raise QueryError(400, f"scale must be host or core, got {scale!r}")
    return cast(CpuScale, scale)


class Queries:
    """The queries, with what they share: the daemon's settings, the `-k` cursors,
    the hosts' SNMP sources and the event history (kept by the syslog hub)."""

    def __init__(self, daemon: DaemonConfig, snmp: Mapping[str, SnmpSource] | None = None,
                 hub: SyslogHub | None = None) -> None:
        self.daemon, self.snmp, self.hub = daemon, snmp or {}, hub
        self.window_keys: KeyCursors[float] = KeyCursors()
        self.event_keys: KeyCursors[int] = KeyCursors()

    async def ping(self, view: HostView, q: Query) -> PingAnswer:
        ok = await view.engine.ping()
        s = view.status
        return PingAnswer(status=0 if ok else 1, ping_ok=ok, stream_connected=s.connected,
                          since=s.since, last_error=s.last_error)

    async def containers(self, view: HostView, q: Query) -> ContainersAnswer:
        return ContainersAnswer(
            host=view.host.facility_id, connected=view.status.connected,
            last_error=view.status.last_error,
            containers=[ContainerItem(id=c.id, name=c.name, state=c.state, image=c.image,
                                      command=c.command, ports=c.ports)
                        for c in selection(view, q)])

    async def counts(self, view: HostView, q: Query) -> CountsAnswer:
        if not view.status.connected:
            raise QueryError(503, f"{view.host.facility_id}: not connected "
                                  f"({view.status.last_error})")
        return CountsAnswer(host=view.host.facility_id,
                            counts=state_counts(view.containers.values()))

    async def size(self, view: HostView, q: Query) -> SizeAnswer:
        return SizeAnswer(host=view.host.facility_id, sizes=await view.disk_usage())

    def _window(self, view: HostView, q: Query, now: float) -> float:
        d = self.daemon
        window = positive_number(q, "window")
        key = q.get("key")
        if window is not None and key:
            raise QueryError(400, "give a window or a key, not both")
        if key:
            window = key_window(self.window_keys, f"{view.host.facility_id}\0{key}", now,
                                d.default_window_seconds, d.retention_seconds,
                                CALLER_UID.get())
        return min(window or d.default_window_seconds, d.retention_seconds)

    def _host_figures(self, view: HostView, window: float, now: float) -> HostFigures:
        source = self.snmp.get(view.host.facility_id)
        if source is None:
            return HostFigures(error=f"{view.host.facility_id}: no SNMP configured for this "
                                     "host ([hosts.snmp] in the daemon's config)",
                               cpu_percent=None, cpu_seconds=None, memory=None)
        return source.figures(window, now)

    async def metrics(self, view: HostView, q: Query) -> MetricsAnswer:
        now = time.time()
        window = self._window(view, q, now)
        scale = cpu_scale(q, self.daemon.cpu_scale)
        detail = q.get("of") == "detail"

        def figures(c: Container) -> ContainerFigures:
            return readings.figures(view, c, window=window, now=now, scale=scale,
                                    detail=detail)

        selected = {c.id: figures(c) for c in live_selection(view, q)}
        host_figures = all_running = None
        if q.get("with_host") == "1":
            host_figures = self._host_figures(view, window, now)
            # Σ over every running container, for the host's share outside them; the
            # figures already made for the selection are reused, not made again.
            all_running = RunningTotals.of(
                f.figures for f in (selected.get(c.id) or figures(c)
                                    for c in readings.running(view)) if f.figures)
        return MetricsAnswer(host=view.host.facility_id, window_requested=window,
                             connected=view.status.connected, host_figures=host_figures,
                             all_running=all_running, containers=list(selected.values()),
                             engine=view.dialect.name, last_error=view.status.last_error)

    async def lifecycle(self, view: HostView, q: Query) -> LifecycleAnswer:
        """Every selected container, whatever its state (an exited one has the exit
        code that matters); the counts over the window or since the `-k` call."""
        now = time.time()
        window = self._window(view, q, now)
        return LifecycleAnswer(
            host=view.host.facility_id, window=window, connected=view.status.connected,
            containers=[view.life_figures(c, window, now) for c in selection(view, q)],
            last_error=view.status.last_error)

    async def events(self, view: HostView, q: Query) -> EventsAnswer:
        """Events since the previous call with `key` (first call: the default window), for
        the report's MonitorDockerHostEvent.py; from the daemon's in-memory history."""
        if self.hub is None:
            raise QueryError(503, "no event history in this daemon")
        facility_id = view.host.facility_id
        # The key remembers the arrival number of the last event it was given, not
        # an engine time: an event that arrives late is still handed out once.
        key = f"{facility_id}\0{q.get('key') or ''}"
        default = int((time.time() - self.daemon.default_window_seconds) * 1e9)
        caller = CALLER_UID.get()
        cursor = self.event_keys.get(key, caller)
        events, reached = self.hub.events_since(facility_id, cursor, default)
        self.event_keys.swap(key, reached, caller)
        return EventsAnswer(host=facility_id, hostname=self.hub.hostnames[facility_id],
                            events=[EventItem(e.time_ns, e.text, e.severity) for e in events])

    async def processes(self, view: HostView, q: Query) -> ProcessesAnswer:
        for what in ("prog", "args"):
            if "," in (q.get(what) or ""):
                # The pattern is the line's key (`<pattern>:<id12>`), and the agents of
                # Hinemos 5.x and 6.x reject a key with a comma (output.py).
                raise QueryError(400, f"{what} pattern {q[what]!r} has a comma, which the "
                                      "key of its line would carry and the Hinemos 5.x/6.x "
                                      "agents reject; write a literal comma as \\x2c")
        try:
            prog = compile_pattern(q.get("prog") or ".*", "prog")
            args = compile_pattern(q.get("args") or ".*", "args")
        except ValueError as e:
            raise QueryError(400, str(e)) from None

        async def count(c: Container) -> ProcessCount:
            if c.state not in STATS_STATES:
                return ProcessCount(c.id, c.name, None, f"not running ({c.state})")
            try:
                top = await readings.top(view, c)
                # RE2 lets go of the GIL: a costly pattern on a long `top` answer
                # takes a worker thread, never the loop that answers everyone else
                n = await asyncio.to_thread(count_processes, top, prog, args)
                return ProcessCount(c.id, c.name, n)
            except (EngineError, ValueError) as e:
                return ProcessCount(c.id, c.name, None, str(e))

        out = await asyncio.gather(*(count(c) for c in live_selection(view, q)))
        return ProcessesAnswer(host=view.host.facility_id, containers=out)


QueryFn = Callable[[Queries, HostView, Query], Awaitable[Any]]

# /v1/hosts/{host}/{data}
DATA: dict[str, QueryFn] = {
    "ping": Queries.ping, "containers": Queries.containers, "counts": Queries.counts,
    "size": Queries.size, "metrics": Queries.metrics, "processes": Queries.processes,
    "events": Queries.events, "lifecycle": Queries.lifecycle,
}


@dataclass(frozen=True)
class Monitor(Generic[A]):
    """A monitor of the report: the query it needs and how its answer is printed."""

    query: Callable[[Queries, HostView, Query], Awaitable[A]]
    format: Callable[[A, monitors.Options], monitors.Result]

    async def lines(self, queries: Queries, view: HostView, q: Query) -> monitors.Result:
        return self.format(await self.query(queries, view, q), q)


# /v1/lines/{monitor}
MONITORS: dict[str, Monitor[Any]] = {
    "status": Monitor(Queries.ping, monitors.host_status),
    "count": Monitor(Queries.counts, monitors.host_count),
    "size": Monitor(Queries.size, monitors.host_size),
    "cpu": Monitor(Queries.metrics, monitors.cpu),
    "mem": Monitor(Queries.metrics, monitors.memory),
    "disk": Monitor(Queries.metrics, monitors.disk),
    "net": Monitor(Queries.metrics, monitors.network),
    "proc": Monitor(Queries.processes, monitors.processes),
    "states": Monitor(Queries.containers, monitors.states),
    "health": Monitor(Queries.lifecycle, monitors.health),
    "restarts": Monitor(Queries.lifecycle, monitors.restarts),
    "oom": Monitor(Queries.lifecycle, monitors.oom),
    "exit": Monitor(Queries.lifecycle, monitors.exit_code),
    "uptime": Monitor(Queries.lifecycle, monitors.uptime),
}
