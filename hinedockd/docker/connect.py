"""A host's link to its engine, apart from the events themselves: what each (re)connect
of the events stream does before its events count (`Handshake`), and the pings that
tell a stream hanging on a dead peer (`Pings`)."""

from __future__ import annotations

import asyncio
import time

import structlog

from hinedockd.docker.dialect import dialect_from_version, info_from_json
from hinedockd.docker.engine import Engine
from hinedockd.docker.events import Cursor, EventStream
from hinedockd.docker.refresh import Refresher
from hinedockd.docker.stats import SampleRate, Samples
from hinedockd.docker.view import HostStatus

PING_SECONDS = 5.0
PING_MISSES = 3  # in a row: the events stream is reopened


class Handshake:
    """At each (re)connect, with the new stream's events held back: the engine's
    dialect (from the `/version` the stream opened with), `/info` (its clock, memory
    and CPUs), the full re-list, and an inspect of every container (restarts and exits
    while the daemon was away are in them); then the host counts as connected."""

    def __init__(self, engine: Engine, samples: Samples, cursor: Cursor, status: HostStatus,
                 refresher: Refresher, log: structlog.typing.FilteringBoundLogger) -> None:
        self._engine, self._samples, self._cursor = engine, samples, cursor
        self._status, self._refresher, self.log = status, refresher, log
        # The engine's time just before the last full list: events older than it (a
        # replay after a reconnect) are in the list already.
        self.listed_ns = 0

    async def run(self) -> None:
        dialect = dialect_from_version(self._engine.version_doc)  # read as the stream opened
        if dialect != self._samples.dialect:
            self.log.info("engine dialect", engine=dialect.name, api=self._engine.api_version,
                          network_swapped=dialect.network_swapped, packets=dialect.packets)
            self._samples.dialect = dialect
        info = info_from_json(await self._engine.get_json("info"))
        if info is not None:
            self.listed_ns = info.system_time_ns
            self._cursor.begin(self.listed_ns)
            s = self._status
            s.mem_total, s.ncpu, s.server_version = info.mem_total, info.ncpu, info.server_version
        await self._refresher.relist()
        containers = list(self._refresher.inventory.containers)
        self._refresher.inspect_all(containers)
        self._status.connected, self._status.since = True, time.time()
        self.log.info("events stream connected", containers=len(containers),
                      since_ns=self._cursor.ns or None)


class Pings:
    """A ping every `PING_SECONDS`: a stream can hang on a dead peer without ever
    closing, so `PING_MISSES` misses in a row reopen it. On the same beat, the
    samples-a-minute figure of the status view takes its mark."""

    def __init__(self, engine: Engine, status: HostStatus, events: EventStream,
                 sample_rate: SampleRate, log: structlog.typing.FilteringBoundLogger) -> None:
        self._engine, self._status, self._events = engine, status, events
        self._sample_rate, self.log = sample_rate, log

    async def run(self) -> None:
        failures = 0
        while True:
            self._sample_rate.mark(time.monotonic(), self._status.samples)
            ok = await self._engine.ping()
            self._status.ping_ok = ok
            failures = 0 if ok else failures + 1
            if failures >= PING_MISSES:
                self.log.warning("engine not answering pings; reopening the events stream")
                self._events.reopen()
            await asyncio.sleep(PING_SECONDS)
