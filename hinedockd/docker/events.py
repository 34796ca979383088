"""One host's `/events` stream: the connection, its cursor, dedupe and reconnect.

aiodocker's event subscription does not reconnect (DESIGN.md), so the loop is our
own: subscribe with `since=` the last event seen, hold the events while the host
re-lists its containers (nothing can fall between the list and the stream, and the
events win over the list), then deliver each event once. The engine replays at
most 256 events, which is why every connect is followed by a full re-list.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson
import structlog

from hinedockd.backoff import Backoff
from hinedockd.docker.engine import Engine, EngineError
from hinedockd.docker.jsonstream import JsonLinesProtocol
from hinedockd.docker.view import HostStatus
from hinedockd.model import EngineEvent, event_from_json

# Events may arrive this much out of their time order (Podman 4.3 sends an `image
# pull` 20-70 ms after the `create` it precedes): they are kept, and a reconnect
# resumes this much before the newest event, the replay deduplicated by identity.
LATE_NS = 2 * 10**9


class Cursor:
    """Which events were seen: the newest time (nanoseconds, engine clock) and the
    identities of those within LATE_NS of it. Pure.

    After a restart only the saved time is known, and the engine's `since=` includes
    its boundary: everything up to and including it was sent before (the cursor is
    saved only once its messages have left), so it is dropped."""

    def __init__(self, ns: int = 0) -> None:
        self.ns = ns
        self._floor = ns  # sent before this process started
        self._first = 0  # started from nothing: the first event seen (none before it)
        self._recent: dict[tuple[int, str, str, str], int] = {}
        self.dirty = False  # moved since the last checkpoint

    def admit(self, ev: EngineEvent) -> bool:
        """True for an event not seen before."""
        t = ev.time_nano
        if t <= self._floor or t < self.ns - LATE_NS or ev.key in self._recent:
            return False
        self._recent[ev.key] = t
        if not self._floor and not self._first:
            self._first = t
        if t > self.ns:
            self.ns = t
            if len(self._recent) > 64:  # forget what no replay can repeat any more
                self._recent = {k: v for k, v in self._recent.items()
                                if v >= t - LATE_NS}
        self.dirty = True
        return True

    def begin(self, engine_ns: int) -> None:
        """A stream opened with nothing seen yet, the engine's clock `engine_ns` just
        after: the cursor starts there, so that a reconnect (or a restart, once saved)
        asks for what came since instead of nothing. Without it a quiet engine that
        restarted lost the events of its restart: 20 fake engines restarted with ten
        containers each, and none of their 420 events reached syslog (tests/test_fleet.py)."""
        if engine_ns > 0 and not self.ns and not self._first:
            self.ns = self._first = engine_ns
            self.dirty = True

    def since(self) -> dict[str, str]:
        """The `/events` query that resumes LATE_NS before the newest event seen (the
        engine's seconds.nanos); the repeats are dropped by `admit`."""
        if not self.ns:
            return {}
        # Never before the first event of a stream that started from nothing: what
        # came earlier was never part of it.
        start = max(0, self.ns - LATE_NS, self._first)
        return {"since": f"{start // 10**9}.{start % 10**9:09d}"}


class EventStream:
    """Reconnects for ever with backoff; `on_connect` runs with the new stream's
    events held back; each new event goes to `on_event`."""

    def __init__(self, engine: Engine, cursor: Cursor, status: HostStatus,
                 on_event: Callable[[EngineEvent], None],
                 on_connect: Callable[[], Awaitable[None]],
                 log: structlog.typing.FilteringBoundLogger) -> None:
        self.engine, self.cursor, self.status = engine, cursor, status
        self._on_event, self._on_connect, self.log = on_event, on_connect, log
        self._stream: JsonLinesProtocol | None = None

    def reopen(self) -> None:
        """Drop the current connection (a peer that died without closing it); the
        loop reconnects."""
        if self._stream is not None:
            self._stream.close()

    def on_raw(self, raw: bytes) -> None:
        try:
            ev = event_from_json(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValueError) as e:
            self.log.error("event not understood, skipped", error=str(e),
                           raw=raw[:200].decode("utf-8", "replace"))
            return
        if not self.cursor.admit(ev):
            return
        self.status.events += 1
        self.status.last_event_ns = ev.time_nano
        self._on_event(ev)

    def _fail(self, error: str) -> None:
        s = self.status
        if s.connected:
            s.connected, s.since = False, time.time()
        s.last_error, s.last_error_at = error, time.time()

    async def run(self) -> None:
        """Runs until cancelled. An engine that fails (EngineError: away, refusing, a
        broken or oversize answer) is reconnected with backoff; anything else is a bug
        and ends the host, and the daemon with it (supervisor.py)."""
        backoff = Backoff(0.5, 30.0)
        while True:
            opened = time.monotonic()
            try:
                await self._connect_and_follow()
            except EngineError as e:
                self._fail(str(e))
                self.log.warning("events stream lost, reconnecting", error=str(e))
            finally:
                self._stream = None
            if time.monotonic() - opened > 30:
                backoff.reset()
            self.status.reconnects += 1
            await asyncio.sleep(backoff.next())

    async def _connect_and_follow(self) -> None:
        # Subscribe first, then list: nothing can fall between the two. Events are
        # held until the list is applied, so that they win over it.
        await self.engine.negotiate()  # the API version, again at each connect
        stream = await self.engine.open_lines("events", self.cursor.since(), self.on_raw,
                                              hold=True)
        self._stream = stream
        try:
            await self._on_connect()
        except BaseException:
            stream.close()
            raise
        stream.release()
        await self.engine.wait_lines(stream, "events")
        raise EngineError(f"{self.engine.host.facility_id}: events stream ended")
