"""Containers' own stdout and stderr to the syslog targets, as their container nodes'
lines (issue 32).

    inventory change ──▶ ContainerLogs (selected? running?) ──▶ LogStream per container
    LogStream lines ──▶ ContainerLog (resume, join, rate limit, cursor) ──▶ SyslogHub
    every second: dropped lines announced, at most once per `report_seconds`

A selected container is followed while it runs; its stream ends after its last
lines when it stops, and the next start follows it again from its cursor. The
cursors are saved beside the event cursors (`logs-<host>.json`), through the same
`Persister`: only once the messages they account for have left, so a crash repeats
at most the last second's lines and loses none; a clean stop repeats none.

Where a container without a cursor starts: from its first line if it appeared
while the daemon watched its host; from its start if it started while watched;
after a restart, from the daemon's last known time of the host (its saved event
cursor); else, on the daemon's first start, from its next line (a host's old logs
are not replayed into Hinemos).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import re2
import structlog

from hinedockd import persist
from hinedockd.config import Config, LogsConfig
from hinedockd.docker.logframes import STREAM_NAMES, LogLine
from hinedockd.docker.logstream import Inspected, LogStream, LogsUnreadable
from hinedockd.docker.view import HostObserver, HostView
from hinedockd.messages.containerlog import (
    ContainerLog,
    LogPosition,
    Outcome,
    Severities,
    positions_from_json,
    positions_to_json,
    selected_streams,
)
from hinedockd.messages.framing import TAG, alert_text, format_time
from hinedockd.model import STATS_STATES, Container
from hinedockd.processes import compile_pattern

log = structlog.get_logger("hinedockd.logs")
REPORT_TICK = 1.0  # how often dropped lines are looked at


class LogOutbox(Protocol):
    """Where records go (messages/hub.py)."""

    def emit_log(self, hostname: str, text: str, severity: str, when: float,
                 tag: str) -> int: ...

    def emit(self, hostname: str, text: str, severity: str, when: float | None = None,
             event: tuple[str, str] | None = None) -> None: ...

    def log_max_bytes(self) -> int: ...


@dataclass(frozen=True)
class LogState:
    """What a restarted daemon resumes from: per container, its position."""

    positions: Mapping[str, LogPosition]

    def to_json(self) -> str:
        return json.dumps({"positions": positions_to_json(self.positions)},
                          separators=(",", ":"))


def load_positions(path: Path) -> dict[str, LogPosition]:
    """A host's saved log positions; none when there is no file or it is damaged (set
    aside: its containers resume from the host's event cursor instead). A file of the
    version before one cursor per stream keeps its table under "cursors"."""
    text = persist.read_aside(path)
    if text is None:
        return {}
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a table")
        return positions_from_json(data["positions"] if "positions" in data
                                   else data.get("cursors"))
    except ValueError as e:
        persist.set_aside(path, str(e))
        return {}


@dataclass(frozen=True)
class FollowedSnapshot:
    """One followed container's line of `hinedock status` (the names are the API's)."""

    host: str
    container: str
    name: str
    streams: str
    connected: bool
    lines: int
    sent: int
    dropped: int
    reconnects: int
    last_error: str


class _Followed:
    """A container being followed: its stream, its lines' state, its task."""

    def __init__(self, c: Container, streams: frozenset[int], clog: ContainerLog) -> None:
        self.container, self.streams, self.clog = c, streams, clog
        self.stream: LogStream | None = None
        self.task: asyncio.Task[None] | None = None
        self.join_timer: asyncio.TimerHandle | None = None
        self.reported_at = -1e18


class HostLogs:
    """One host's followed containers and their cursors (a `Checkpointed`)."""

    def __init__(self, view: HostView, saved: dict[str, LogPosition], origin_ns: int) -> None:
        self.view, self.saved, self.origin_ns = view, saved, origin_ns
        self.followed: dict[str, _Followed] = {}
        self.fresh: set[str] = set()  # appeared while watched: from their first line
        self.started: set[str] = set()  # started while watched: from their start
        self.unreadable: set[str] = set()  # until their next start
        self.watched = False  # connected once
        self.dirty = False

    @property
    def checkpoint_due(self) -> bool:
        return self.dirty or any(f.clog.dirty for f in self.followed.values())

    def take_checkpoint(self) -> LogState:
        positions = dict(self.saved)
        for cid, f in self.followed.items():
            f.clog.dirty = False
            position = f.clog.position()
            if position is not None:
                positions[cid] = position
        self.dirty = False
        return LogState(positions)

    def checkpoint_lost(self) -> None:
        self.dirty = True


class ContainerLogs(HostObserver):
    """Follows the selected containers of every host; supervised as one component."""

    def __init__(self, cfg: Config, outbox: LogOutbox, hosts: Sequence[HostView],
                 saved: Mapping[str, dict[str, LogPosition]],
                 origins: Mapping[str, int]) -> None:
        self.cfg: LogsConfig = cfg.logs
        self.outbox = outbox
        self.hosts = {h.host.facility_id: HostLogs(h, dict(saved.get(h.host.facility_id, {})),
                                                   origins.get(h.host.facility_id, 0))
                      for h in hosts}
        self.severities = Severities(cfg.logs)
        self.continuation: re2._Regexp[str] | None = (
            compile_pattern(cfg.logs.continuation, "continuation")
            if cfg.logs.continuation else None)
        self._wake = asyncio.Event()
        self._group: asyncio.TaskGroup | None = None

    # ---- HostObserver -------------------------------------------------------------

    def container_changed(self, host: HostView, old: Container | None,
                          new: Container | None) -> None:
        hl = self.hosts[host.host.facility_id]
        if old is None and new is not None and hl.watched:
            hl.fresh.add(new.id)
        if new is not None and new.state in STATS_STATES and (
                old is None or old.state not in STATS_STATES):
            hl.unreadable.discard(new.id)  # a new start: its driver may read now
            if hl.watched:
                hl.started.add(new.id)  # its lines since it started are new
        self._wake.set()

    def connected(self, host: HostView) -> None:
        self.hosts[host.host.facility_id].watched = True
        self._wake.set()

    # ---- running --------------------------------------------------------------------

    async def run(self) -> None:
        """Runs until cancelled; what a stream meets is handled in it, anything else is
        a bug and ends this (the supervisor stops the daemon)."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(self._reports())
                while True:
                    await self._wake.wait()
                    self._wake.clear()
                    for hl in self.hosts.values():
                        self._reconcile(hl)
        finally:
            self._group = None
            now = time.monotonic()
            for hl in self.hosts.values():
                for f in hl.followed.values():
                    self._deliver(hl, f, f.clog.flush(now))

    def _reconcile(self, hl: HostLogs) -> None:
        """Start a stream for each selected running container without one; forget the
        cursors of containers that are gone."""
        view = hl.view
        containers = view.containers
        for cid, c in containers.items():
            f = hl.followed.get(cid)
            if f is not None:
                f.container = c
            if (f is not None and f.task is not None) or c.state not in STATS_STATES \
                    or cid in hl.unreadable or not view.status.connected:
                continue
            streams = selected_streams(self.cfg, c, view.host.facility_id)
            if streams:
                self._follow(hl, c, streams)
        for cid in [cid for cid, f in hl.followed.items()
                    if cid not in containers and f.task is None]:
            del hl.followed[cid]
            hl.dirty = True
        for cid in [cid for cid in hl.saved if cid not in containers]:
            del hl.saved[cid]
            hl.dirty = True
        hl.fresh &= set(containers)
        hl.started &= set(containers)

    def _follow(self, hl: HostLogs, c: Container, streams: frozenset[int]) -> None:
        assert self._group is not None
        f = hl.followed.get(c.id)
        if f is None:
            clog = ContainerLog(self.cfg, self.continuation, self.outbox.log_max_bytes(),
                                hl.saved.pop(c.id, None))
            f = hl.followed[c.id] = _Followed(c, streams, clog)
        cid = c.id

        def since(facts: Inspected) -> int | None:
            s = f.clog.since_ns()
            if s is not None:
                return s
            if cid in hl.fresh:
                return 0
            started = facts.started_ns if cid in hl.started else None
            s = max(hl.origin_ns, started or 0) or None
            if s is not None:
                f.clog.starting_at(s, streams)
            return s

        def on_lines(lines: list[LogLine]) -> None:
            self._deliver(hl, f, f.clog.take(lines, time.monotonic()))
            self._arm_join(hl, f)

        f.stream = LogStream(hl.view.engine, cid, streams, since, on_lines,
                             f.clog.reconnecting, log.bind(host=hl.view.host.facility_id))
        f.task = self._group.create_task(self._run_stream(hl, f), name=f"logs:{c.short_id}")

    async def _run_stream(self, hl: HostLogs, f: _Followed) -> None:
        assert f.stream is not None
        try:
            await f.stream.run()
        except LogsUnreadable as e:
            hl.unreadable.add(f.container.id)
            log.warning("container's log cannot be read; not followed until it starts again",
                        host=hl.view.host.facility_id, container=f.container.short_id,
                        error=str(e))
        finally:
            self._deliver(hl, f, f.clog.flush(time.monotonic()))
            f.task = None
            self._wake.set()  # started again meanwhile, or gone: the reconcile decides

    def _arm_join(self, hl: HostLogs, f: _Followed) -> None:
        """An open record leaves after `join_seconds` if no line continues it."""
        record = f.clog.joiner.open
        if record is None or f.join_timer is not None:
            return

        def due() -> None:
            f.join_timer = None
            if f.clog.joiner.open is record:
                self._deliver(hl, f, f.clog.flush(time.monotonic()))
            self._arm_join(hl, f)

        f.join_timer = asyncio.get_running_loop().call_later(self.cfg.join_seconds, due)

    def _deliver(self, hl: HostLogs, f: _Followed, out: Outcome) -> None:
        short, name = f.container.short_id, f.container.name
        if out.gap_before is not None:
            self.outbox.emit(short, alert_text(short, "log_gap", name, (
                ("before", format_time(out.gap_before)),)), "warning")
        for rec in out.send:
            self.outbox.emit_log(short, rec.text(), self.severities.of(rec), rec.ts_ns / 1e9,
                                 f"{TAG}-{STREAM_NAMES[rec.stream]}")

    async def _reports(self) -> None:
        """Dropped lines, one message per container and `report_seconds` at most."""
        every = self.cfg.report_seconds
        while True:
            await asyncio.sleep(REPORT_TICK)
            now = time.monotonic()
            for hl in self.hosts.values():
                for f in hl.followed.values():
                    if f.clog.counts.unreported and now - f.reported_at >= every:
                        f.reported_at = now
                        self._report_drops(f)

    def _report_drops(self, f: _Followed) -> None:
        n = f.clog.take_report()
        short = f.container.short_id
        self.outbox.emit(short, alert_text(short, "log_dropped", f.container.name, (
            ("lines", n), ("limit", f"{self.cfg.lines_per_second:g}/s"),
            ("burst", self.cfg.burst))), "warning")

    # ---- views ----------------------------------------------------------------------

    def snapshot(self) -> list[FollowedSnapshot]:
        out = []
        for facility_id, hl in self.hosts.items():
            for f in hl.followed.values():
                c = f.clog.counts
                s = f.stream
                out.append(FollowedSnapshot(
                    host=facility_id, container=f.container.short_id, name=f.container.name,
                    streams="+".join(STREAM_NAMES[x] for x in sorted(f.streams)),
                    connected=bool(s and s.connected), lines=c.lines, sent=c.sent,
                    dropped=c.dropped, reconnects=s.reconnects if s else 0,
                    last_error=s.last_error if s else ""))
        return out
