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


class Cursor:
    """The newest event time seen (nanoseconds, engine clock) and the events seen at
    that very time: a `since=` replay repeats them, and they are dropped. Pure."""

    def __init__(self, ns: int = 0) -> None:
        self.ns = ns
        self._at_ns: set[tuple[int, str, str, str]] = set()
        self.dirty = False  # moved since the last checkpoint

    def admit(self, ev: EngineEvent) -> bool:
        """True for an event not seen before."""
        if ev.time_nano < self.ns:
            return False
        if ev.time_nano == self.ns:
            if ev.key in self._at_ns:
                return False
            self._at_ns.add(ev.key)
        else:
            self.ns, self._at_ns = ev.time_nano, {ev.key}
        self.dirty = True
        return True

    def since(self) -> dict[str, str]:
        """The `/events` query that resumes from here (the engine's seconds.nanos)."""
        if not self.ns:
            return {}
        return {"since": f"{self.ns // 10**9}.{self.ns % 10**9:09d}"}


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
        """Runs until cancelled; nothing raises out of its loop."""
        backoff = Backoff(0.5, 30.0)
        while True:
            opened = time.monotonic()
            try:
                await self._connect_and_follow()
            except EngineError as e:
                self._fail(str(e))
                self.log.warning("events stream lost, reconnecting", error=str(e))
            except Exception as e:  # a bug or an answer nobody foresaw: log it, go on
                self._fail(f"{type(e).__name__}: {e}")
                self.log.exception("events pump failed unexpectedly, reconnecting")
            finally:
                self._stream = None
            if time.monotonic() - opened > 30:
                backoff.reset()
            self.status.reconnects += 1
            await asyncio.sleep(backoff.next())

    async def _connect_and_follow(self) -> None:
        # Subscribe first, then list: nothing can fall between the two. Events are
        # held until the list is applied, so that they win over it.
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
