"""The local API's jobs: exec, download, start, stop, restart, rm. They need more than
reading figures (root, or a member of `[daemon] job_groups`), each is audited to syslog
(messages/audit.py), and a stop or rm the engine has been asked for is seen through
even when its caller leaves. HTTP only; the work is `docker/actions.py`'s."""

from __future__ import annotations

import asyncio
import contextlib
import grp
from collections.abc import Callable

import structlog
from aiohttp import web

from hinedockd.docker import actions
from hinedockd.docker.engine import EngineError
from hinedockd.docker.view import HostView
from hinedockd.gate import Peer
from hinedockd.messages.audit import JobAudit
from hinedockd.model import Container, ContainerState
from hinedockd.output import printable
from hinedockd.queries import QueryError, selection
from hinedockd.status import header_safe

log = structlog.get_logger("hinedockd.api")
PEER: web.RequestKey[Peer | None] = web.RequestKey("peer")
FindHost = Callable[[str, "str | None"], HostView]  # the report's -i and -p to a host


def peer(request: web.Request) -> Peer | None:
    """Who sent this request, as the kernel recorded it when the connection was made
    (gate.py); None where the caller cannot be known (not a unix socket: the tests')."""
    return getattr(request.protocol, "peer", None)


def may_run_jobs(who: Peer | None, job_gids: frozenset[int]) -> bool:
    """Jobs (exec as root in any container, rm -f) need more than reading figures:
    root, or a member of `[daemon] job_groups`. Reading needs only the socket."""
    return who is not None and (who.uid == 0 or bool(who.gids & job_gids))


class JobRoutes:
    """The job endpoints (`routes`), for the hosts `find_host` resolves."""

    def __init__(self, job_groups: tuple[str, ...], find_host: FindHost,
                 audit: JobAudit) -> None:
        self.job_groups, self._host, self.audit = job_groups, find_host, audit
        self.job_gids = frozenset(grp.getgrnam(g).gr_gid for g in job_groups)
        self._jobs: set[asyncio.Task[tuple[list[str], bool]]] = set()

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/jobs/{action}", self.job), web.post("/v1/exec", self.exec),
                web.get("/v1/archive", self.archive)]

    def _job_target(self, request: web.Request, what: str) -> tuple[HostView, list[Container]]:
        who = request[PEER] = peer(request)  # once per request: the audit reuses it
        if not may_run_jobs(who, self.job_gids):
            log.warning("job refused", job=what, uid=who.uid if who else None,
                        query=header_safe(request.query_string)[:300])
            raise QueryError(403, "jobs need root or a member of [daemon] job_groups "
                                  f"({', '.join(self.job_groups) or 'none set'}); "
                                  f"uid {who.uid if who else '?'} may read figures only")
        q = request.query
        if not (q.get("id") or q.get("name")):
            raise QueryError(400, "jobs need -c CONTAINER_ID or -n CONTAINER_NAME")
        view = self._host(q.get("host", "127.0.0.1"), q.get("port"))
        return view, selection(view, q)

    def _audit(self, request: web.Request, view: HostView, what: str, c: Container,
               result: str) -> None:
        who = request.get(PEER)
        self.audit(view.host.facility_id, who.uid if who else None, what, c, result)

    async def job(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in actions.ALLOWED:
            return web.Response(status=404, text=f"unknown job {action!r}")
        q = request.query
        try:
            wait = int(q["t"]) if q.get("t") else None
            view, targets = self._job_target(request, action)
        except QueryError as e:
            return web.Response(status=e.status, text=str(e))
        except ValueError:
            return web.Response(status=400, text=f"-t must be whole seconds, got {q['t']!r}")

        async def run() -> tuple[list[str], bool]:
            lines, failed = [], False
            for c in targets:  # one after another, as the report's scripts did
                outcome = await actions.lifecycle(view.engine, action, c, wait=wait,
                                                  force=q.get("force") == "1",
                                                  link=q.get("link") == "1",
                                                  volumes=q.get("volumes") == "1")
                self._audit(request, view, action, c, outcome.line().split(" ", 2)[2])
                failed |= outcome.result == "Failed"
                lines.append(outcome.line())
            return lines, failed

        # A stop or rm the engine has been asked for is seen through and audited even
        # when its caller leaves (the handler is then cancelled): shielded, and held
        # here so that nothing collects it meanwhile.
        task = asyncio.create_task(run())
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)
        lines, failed = await asyncio.shield(task)
        return web.Response(text="".join(line + "\n" for line in lines),
                            headers={"Hinedock-Exit": "9" if failed else "0"})

    async def exec(self, request: web.Request) -> web.StreamResponse:
        """Frames: `S <id12> <name>`, `O <n>` + n bytes (stdout), `E <n>` + n bytes
        (stderr), `X <exit code>`, `F <reason>` (the exec could not run)."""
        argv = request.query.getall("arg", [])
        try:
            view, targets = self._job_target(request, "exec")
            if not argv:
                raise QueryError(400, "no command to run")
        except QueryError as e:
            return web.Response(status=e.status, text=str(e))
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        current: Container | None = None
        try:
            await resp.prepare(request)
            for c in targets:
                current = c
                self._audit(request, view, "exec " + " ".join(argv)[:200], c, "started")
                await resp.write(f"S {printable(f'{c.short_id} {c.name}')}\n".encode())
                if c.state != ContainerState.RUNNING:
                    await resp.write(f"F not running ({c.state})\n".encode())
                    continue
                await self._exec_one(request, resp, view, c, argv)
            current = None
        except (asyncio.CancelledError, ConnectionResetError):
            # The caller left (the handler is cancelled when its connection goes): the
            # engine connection is closed on the way out; the command itself runs on
            # in the container, which Docker's API cannot stop.
            if current is not None:
                self._audit(request, view, "exec", current, "abandoned: the caller left")
            raise
        await resp.write_eof()
        return resp

    async def _exec_one(self, request: web.Request, resp: web.StreamResponse, view: HostView,
                        c: Container, argv: list[str]) -> None:
        try:
            async with contextlib.aclosing(actions.exec_stream(view.engine, c, argv)) as frames:
                async for stream, data in frames:
                    if stream == 0:
                        await resp.write(b"X " + data + b"\n")
                        self._audit(request, view, "exec", c, f"exit {data.decode()}")
                    else:
                        await resp.write(b"OE"[stream - 1:stream] + b" %d\n" % len(data) + data)
        except EngineError as e:
            await resp.write(f"F {header_safe(str(e))}\n".encode())

    async def archive(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        try:
            view, targets = self._job_target(request, "download")
            if len(targets) != 1:
                raise QueryError(400, "an archive comes from one container; select one")
            if not q.get("path"):
                raise QueryError(400, "no path to download")
        except QueryError as e:
            return web.Response(status=e.status, text=str(e))
        (c,) = targets
        chunks = actions.archive_stream(view.engine, c, q["path"])
        try:
            first = await anext(chunks, b"")
        except EngineError as e:
            return web.Response(status=404 if e.status == 404 else 502, text=str(e))
        resp = web.StreamResponse(headers={
            "Content-Type": "application/x-tar",
            "Hinedock-Container": header_safe(f"{c.short_id} {c.name}")})
        await resp.prepare(request)
        await resp.write(first)
        try:
            async for data in chunks:
                await resp.write(data)
        except EngineError as e:  # too late for a status: cut the body, the client sees it
            log.warning("archive cut", error=str(e))
            if request.transport is not None:
                request.transport.abort()
            return resp
        self._audit(request, view, f"download {q['path'][:200]}", c, "Success")
        await resp.write_eof()
        return resp
