"""How the fake engine answers when it is told to be broken or hostile (issue 29):
answers padded past any sane size, one error answer to every call, an exec whose
output announces 4 GB or whose exit code is not a number."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from hinedockd.testing.container import FakeContainer


@dataclass(frozen=True)
class ErrorAnswer:
    """What a broken or hostile engine answers to every API call (`Answers.failing`):
    `status`, `content_type` and `body`, then `pad` bytes more."""

    status: int
    content_type: str
    body: bytes
    pad: int = 0


async def _padding(resp: web.StreamResponse, size: int) -> None:
    """`size` bytes (rounded up to a MiB) written a MiB at a time: the fake stays small."""
    chunk = b"x" * (1 << 20)
    for _ in range(0, size, len(chunk)):
        await resp.write(chunk)


@dataclass
class Answers:
    """`oversize`: the answers named here ("list", "inspect", "top", "df", "exec") carry
    this many bytes more, streamed; `failing`: every API call but `/_ping` answers it."""

    oversize: dict[str, int] = field(default_factory=dict)
    failing: ErrorAnswer | None = None

    async def json(self, request: web.Request, kind: str, doc: Any) -> web.StreamResponse:
        """`doc` as JSON, or with `oversize[kind]` bytes of padding first (a `Pad`
        member, or element), streamed a MiB at a time: the fake itself stays small."""
        pad = self.oversize.get(kind, 0)
        if not pad:
            return web.json_response(doc)
        body = orjson.dumps(doc)
        start, end = (b'[{"Pad":"', b'"}') if isinstance(doc, list) else (b'{"Pad":"', b'"')
        rest = body[1:]
        return await self._padded(request, web.StreamResponse(), "application/json", start,
                                  pad, end + (b"," if len(rest) > 1 else b"") + rest)

    async def error(self, request: web.Request, e: ErrorAnswer) -> web.StreamResponse:
        return await self._padded(request, web.StreamResponse(status=e.status),
                                  e.content_type, e.body, e.pad, b"")

    @staticmethod
    async def _padded(request: web.Request, resp: web.StreamResponse, content_type: str,
                      head: bytes, pad: int, tail: bytes) -> web.StreamResponse:
        resp.content_type = content_type
        await resp.prepare(request)
        try:
            await resp.write(head)
            await _padding(resp, pad)
            if tail:
                await resp.write(tail)
        except (ConnectionResetError, ConnectionError):
            pass  # the daemon gave up on it, as it should
        return resp


class Execs:
    """`docker exec`: create, start (one frame of stdout, `ran\\n`) and inspect, whose
    exit code is `exit_code` (any JSON value: a hostile engine's may be no number)."""

    def __init__(self, containers: dict[str, FakeContainer], answers: Answers) -> None:
        self._containers = containers
        self._answers = answers
        self.exit_code: object = 0

    def routes(self, prefix: str) -> list[web.RouteDef]:
        return [web.post(f"{prefix}/containers/{{id}}/exec", self._create),
                web.post(f"{prefix}/exec/{{id}}/start", self._start),
                web.get(f"{prefix}/exec/{{id}}/json", self._inspect)]

    async def _create(self, request: web.Request) -> web.Response:
        if request.match_info["id"] not in self._containers:
            return web.json_response({"message": "No such container"}, status=404)
        return web.json_response({"Id": hashlib.sha256(str(time.time_ns()).encode())
                                  .hexdigest()}, status=201)

    async def _start(self, request: web.Request) -> web.StreamResponse:
        """With `oversize["exec"]`, the frame is followed by one whose header announces
        4 GB, of which that many bytes come."""
        resp = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.raw-stream"})
        await resp.prepare(request)
        await resp.write(b"\x01\0\0\0\0\0\0\x04ran\n")
        pad = self._answers.oversize.get("exec", 0)
        if pad:
            await resp.write(b"\x01\0\0\0\xff\xff\xff\xff")
            await _padding(resp, pad)
        return resp

    async def _inspect(self, request: web.Request) -> web.Response:
        return web.json_response({"ID": request.match_info["id"], "Running": False,
                                  "ExitCode": self.exit_code})
