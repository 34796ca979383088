"""One watched Docker host: its parts wired together, seen by the rest as a `HostView`.

    /events ──▶ EventStream (cursor, dedupe, reconnect) ──▶ Host._on_event ──▶ observers
                     └── on each connect: Handshake (/info, full list) ──▶ Inventory
    lifecycle event ──▶ Inventory.apply_event ──▶ Refresher: one-container re-list and
                                                   inspect ──▶ Inventory, Lifecycle ──▶ alerts
    each Inventory write returns its Changes ──▶ Host._apply: Samples, Lifecycle,
        StatsStreams.follow or StatsPoller.started ──▶ observers
    /stats ──▶ StatsPump or StatsPoller ──▶ Samples ──▶ Series per container

Beside them: a ping every 5 s (three misses reopen a stream that hangs on a dead peer;
the handshake and the pings are docker/connect.py), a full re-list every
`relist_seconds` (states no event names, docker/refresh.py), the disk usage cache.
Hosts fail independently: an engine's failure stays in its host's loops; only a bug
raises out of `run` (and stops the daemon, supervisor.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import structlog

from hinedockd.config import DaemonConfig, HostConfig
from hinedockd.docker.connect import Handshake, Pings
from hinedockd.docker.dialect import Dialect
from hinedockd.docker.disk import DiskUsageCache
from hinedockd.docker.engine import Engine
from hinedockd.docker.events import Cursor, EventStream
from hinedockd.docker.fleet import Fleet, round_offset
from hinedockd.docker.inventory import REMOVAL_ACTIONS, Change, Inventory
from hinedockd.docker.lifecycle import (
    Alert,
    Lifecycle,
    health_alert,
    health_of,
)
from hinedockd.docker.refresh import Refresher
from hinedockd.docker.stats import (
    ENGINE_CPU_MS_PER_SAMPLE,
    SampleRate,
    Samples,
    StatsPoller,
    StatsStreams,
)
from hinedockd.docker.view import HostObserver, HostSnapshot, HostStatus
from hinedockd.metrics.series import Series
from hinedockd.model import (
    LIFECYCLE_ACTIONS,
    STATS_STATES,
    Container,
    EngineEvent,
    LifeFigures,
    state_counts,
)
from hinedockd.persist import HostState

log = structlog.get_logger("hinedockd.host")


class Host:
    def __init__(self, host: HostConfig, daemon: DaemonConfig,
                 engine: Engine | None = None, saved: HostState | None = None,
                 fleet: Fleet | None = None, place: int = 0) -> None:
        """`fleet`: the limits this host shares with the daemon's others, `place` its
        0-based place among them (docker/fleet.py)."""
        self._host, self.daemon = host, daemon
        self._fleet = fleet or Fleet()
        self._engine = engine or Engine(host)
        self.log = log.bind(host=host.facility_id)
        self._status = HostStatus()
        self._observers: list[HostObserver] = []
        # Resumed from disk: the engine replays the events since the cursor, and
        # states are told only where they differ from what was last told.
        saved = saved or HostState()
        self.cursor = Cursor(saved.cursor_ns)
        self.inventory = Inventory(saved.states)
        self.lifecycle = Lifecycle(daemon.retention_seconds, daemon.restart_loop_count,
                                   daemon.restart_loop_seconds)
        self.samples = Samples(daemon.retention_seconds, self._status,
                               lambda cid: cid in self.inventory.containers, self.log)
        self.streams: StatsStreams | None = None
        self.poller: StatsPoller | None = None
        if host.stats == "stream":
            self.streams = StatsStreams(self._engine, self.samples,
                                        daemon.stats_silence_seconds, self.log)
        else:
            self.poller = StatsPoller(
                self._engine, self.samples, host.poll_interval_seconds, host.poll_concurrency,
                self._live_ids, self.log,
                offset=round_offset(place, self._fleet.hosts, host.poll_interval_seconds))
        self.sample_rate = SampleRate()
        self.events = EventStream(self._engine, self.cursor, self._status, self._on_event,
                                  self._on_connect, self.log)
        self._disk = DiskUsageCache(self._engine, daemon.size_cache_seconds)
        self.refresher = Refresher(self._engine, self._fleet, self.inventory, self.lifecycle,
                                   self._apply, self._alert, self.log)
        self.handshake = Handshake(self._engine, self.samples, self.cursor, self._status,
                                   self.refresher, self.log)
        self.pings = Pings(self._engine, self._status, self.events, self.sample_rate, self.log)

    def subscribe(self, observer: HostObserver) -> None:
        self._observers.append(observer)

    # ---- HostView --------------------------------------------------------------

    @property
    def host(self) -> HostConfig:
        return self._host

    @property
    def status(self) -> HostStatus:
        return self._status

    @property
    def containers(self) -> Mapping[str, Container]:
        return self.inventory.containers

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> Dialect:
        return self.samples.dialect

    def series(self, cid: str) -> Series | None:
        return self.samples.series.get(cid)

    def life_figures(self, c: Container, window: float, now: float) -> LifeFigures:
        return self.lifecycle.figures(c, window, now)

    def health_command(self, cid: str) -> str | None:
        return self.lifecycle.health_command(cid)

    def streams_open(self) -> int:
        return self.streams.open_count() if self.streams else 0

    async def disk_usage(self) -> dict[str, int]:
        return await self._disk.get()

    def snapshot(self) -> HostSnapshot:
        s = self._status
        states = state_counts(self.containers.values())
        rate = self.sample_rate.per_minute()
        return HostSnapshot(
            facility_id=self._host.facility_id, address=self._host.address,
            stats_mode=self._host.stats, connected=s.connected, since=s.since,
            ping_ok=s.ping_ok, last_event_ns=s.last_event_ns, last_error=s.last_error,
            last_error_at=s.last_error_at, reconnects=s.reconnects, events=s.events,
            samples=s.samples, bad_samples=s.bad_samples, containers=len(self.containers),
            states=states, streams_open=self.streams_open(), mem_total=s.mem_total,
            ncpu=s.ncpu, server_version=s.server_version,
            samples_per_minute=rate, engine_cpu_ms_per_minute=(
                None if rate is None else rate * ENGINE_CPU_MS_PER_SAMPLE[self._host.stats]))

    # ---- persistence -----------------------------------------------------------

    @property
    def checkpoint_due(self) -> bool:
        return self.cursor.dirty or self.inventory.dirty

    def take_checkpoint(self) -> HostState:
        self.cursor.dirty = self.inventory.dirty = False
        return HostState(self.cursor.ns, dict(self.inventory.reported))

    def checkpoint_lost(self) -> None:
        """A save failed: take another with the next chance."""
        self.inventory.dirty = True

    # ---- running ---------------------------------------------------------------

    async def run(self) -> None:
        """Runs until cancelled; only a bug raises out of it."""
        try:
            async with asyncio.TaskGroup() as group:
                self.refresher.group = group
                group.create_task(self.events.run(), name=f"events:{self._host.facility_id}")
                group.create_task(self.pings.run())
                group.create_task(self.refresher.relist_loop(
                    self.daemon.relist_seconds, lambda: self._status.connected))
                if self.streams is not None:
                    group.create_task(self.streams.run())
                if self.poller is not None:
                    group.create_task(self.poller.run())
        finally:
            self.refresher.group = None
            await self._engine.close()

    def _live_ids(self) -> list[str]:
        """What the poller samples: nothing while the inventory may be stale."""
        if not self._status.connected:
            return []
        return [cid for cid, c in self.containers.items() if c.state in STATS_STATES]

    async def _on_connect(self) -> None:
        await self.handshake.run()
        self._tell(lambda o: o.connected(self))

    # ---- from the events stream and the inventory -------------------------------

    def _on_event(self, ev: EngineEvent) -> None:
        self._tell(lambda o: o.engine_event(self, ev))
        action = ev.action.split(":", 1)[0]
        # Events older than the last full list (a replay after a reconnect) are already
        # in it: applying them again would move states backwards for a moment.
        if (ev.type != "container" or action not in LIFECYCLE_ACTIONS or not ev.actor_id
                or ev.time_nano < self.handshake.listed_ns):
            return
        before = self.containers.get(ev.actor_id)
        self._apply(self.inventory.apply_event(ev, action))
        if action not in REMOVAL_ACTIONS:
            self.refresher.refresh_soon(ev.actor_id)
        c = self.containers.get(ev.actor_id)
        if action == "health_status" and c is not None:
            if health_of(ev.action.partition(":")[2]) is None:
                self.refresher.health_checked(c.id)  # Podman
            else:
                self._alert(health_alert(c, before.health if before else None, c.health))
        elif action == "oom":
            self.lifecycle.oom_event(ev.actor_id, ev.time_nano / 1e9)
        elif action == "start" and c is not None:
            self._alert(self.lifecycle.started(c, ev.time_nano / 1e9))

    def _apply(self, changes: list[Change]) -> None:
        """What an inventory write changed, handed on: each container's own parts
        first, then the observers (`container_changed`, then `state_reported`)."""
        for ch in changes:
            if ch.entry_changed:
                self._changed(ch.cid, ch.old, ch.new)
            if ch.told is not None:
                self._state_reported(ch.cid, ch.name, ch.told)

    def _changed(self, cid: str, old: Container | None, new: Container | None) -> None:
        if new is None:
            self.samples.forget(cid)
            self.lifecycle.forget(cid)
            self.refresher.forget(cid)
        elif old is None or old.state != new.state:
            self.lifecycle.state_changed(cid, time.time())
        live = new is not None and new.state in STATS_STATES
        if self.streams is not None:
            self.streams.follow(cid, live)
        if self.poller is not None and live and (old is None or old.state not in STATS_STATES):
            self.poller.started(cid)
        self._tell(lambda o: o.container_changed(self, old, new))

    def _state_reported(self, cid: str, name: str, state: str) -> None:
        self._tell(lambda o: o.state_reported(self, cid, name, state))

    def _alert(self, alert: Alert | None) -> None:
        if alert is None:
            return
        told = alert
        self.log.info("container alert", kind=told.kind, container=told.container_id[:12])
        self._tell(lambda o: o.container_alert(self, told))

    def _tell(self, call: Callable[[HostObserver], None]) -> None:
        """Observers do not fail: one that raises has a bug, which ends the host and
        the daemon (supervisor.py) rather than leave the others told and it not."""
        for observer in self._observers:
            call(observer)
