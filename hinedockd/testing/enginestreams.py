"""The fake engine's long answers: `/events` (with `since=` replay) and a container's
`/logs` (follow). Each keeps its open streams, so the engine can cut them all, as a
dying engine or a broken network would."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

from hinedockd.testing.container import FakeContainer

REPLAY_LIMIT = 256  # the engine keeps this many events for `since=`


def since_ns(since: str) -> int:
    """A `since=` parameter (`seconds[.fraction]`, as Docker takes it) in ns."""
    sec, _, frac = since.partition(".")
    return int(sec) * 10**9 + int((frac or "0").ljust(9, "0")[:9])


async def _streamed(request: web.Request, content_type: str) -> web.StreamResponse:
    resp = web.StreamResponse()
    resp.content_type = content_type
    await resp.prepare(request)
    return resp


class EventLog:
    """What happened on the engine, the last `REPLAY_LIMIT` events kept for `since=`,
    and the open `/events` streams each new one is sent to."""

    def __init__(self, requests: list[str]) -> None:
        self.history: list[dict[str, Any]] = []
        self._requests = requests
        self._queues: set[asyncio.Queue[bytes | None]] = set()

    def emit(self, c: FakeContainer, action: str, etype: str = "container") -> dict[str, Any]:
        now = time.time_ns()
        if self.history and now <= self.history[-1]["timeNano"]:
            now = self.history[-1]["timeNano"] + 1
        ev = {"Type": etype, "Action": action,
              "Actor": {"ID": c.id, "Attributes": {**c.labels, "image": c.image, "name": c.name}},
              "scope": "local", "time": now // 10**9, "timeNano": now}
        self.history = [*self.history[-(REPLAY_LIMIT - 1):], ev]
        line = orjson.dumps(ev) + b"\n"
        for q in self._queues:
            q.put_nowait(line)
        return ev

    def cut(self) -> None:
        for q in self._queues:
            q.put_nowait(None)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        since = request.query.get("since")
        self._requests.append(f"events since={since}")
        q: asyncio.Queue[bytes | None] = asyncio.Queue()
        if since:
            since_at = since_ns(since)
            for ev in self.history:
                if ev["timeNano"] >= since_at:
                    q.put_nowait(orjson.dumps(ev) + b"\n")
        resp = await _streamed(request, "application/json")
        self._queues.add(q)
        try:
            while (line := await q.get()) is not None:
                await resp.write(line)
        except ConnectionResetError:
            pass  # the client went away
        finally:
            self._queues.discard(q)
        return resp


class LogStreams:
    """`/containers/{id}/logs`: `follow=1&timestamps=1` with `since` (inclusive, as
    Docker's) or `tail=0`; a stream ends when its container stops, or is cut."""

    def __init__(self, containers: dict[str, FakeContainer], requests: list[str]) -> None:
        self._containers = containers
        self._requests = requests
        self._waiters: dict[str, asyncio.Event] = {}
        self._transports: set[asyncio.BaseTransport] = set()

    def wake(self, c: FakeContainer) -> None:
        """`c` printed or changed state: its followers read on."""
        waiter = self._waiters.pop(c.id, None)
        if waiter is not None:
            waiter.set()

    def cut(self) -> None:
        for transport in list(self._transports):
            transport.close()
        for waiter in self._waiters.values():
            waiter.set()
        self._waiters.clear()

    async def serve(self, request: web.Request) -> web.StreamResponse:
        c = self._containers.get(request.match_info["id"])
        q = request.query
        self._requests.append(f"logs {request.match_info['id'][:12]} since={q.get('since')} "
                              f"tail={q.get('tail')}")
        if c is None:
            return web.json_response({"message": "No such container"}, status=404)
        if c.log_driver == "none":
            return web.json_response({"message": "configured logging driver does not "
                                      "support reading"}, status=501)
        streams = {s for s, key in ((1, "stdout"), (2, "stderr")) if q.get(key) == "1"}
        if q.get("tail") == "0":
            i = len(c.log)
        else:
            since = since_ns(q.get("since", "0"))
            i = next((k for k, line in enumerate(c.log) if line[0] >= since), len(c.log))
        resp = await _streamed(request, "application/octet-stream")
        transport = request.transport
        if transport is None:
            return resp
        self._transports.add(transport)
        try:
            while not transport.is_closing():
                i = max(i, c.log_kept_from)
                while i < len(c.log):
                    if c.log[i][1] in streams:
                        await resp.write(c.log_entry(i))
                    i += 1
                if c.state != "running" or q.get("follow") != "1":
                    break
                await self._waiters.setdefault(c.id, asyncio.Event()).wait()
        except ConnectionResetError:
            pass  # the client went away
        finally:
            self._transports.discard(transport)
        return resp
