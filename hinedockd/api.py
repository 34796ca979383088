"""The local API: HTTP on a unix socket (never TCP), read by `hinedock`.

HTTP only: the routes, the query string, the status codes. The answers come from
`queries.py` (over each host's `HostView`), the lines from `monitors.py` through
`queries.MONITORS`, the jobs from `docker/actions.py`, the status from `status.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import structlog
from aiohttp import web
from multidict import CIMultiDict

from hinedockd.config import Config
from hinedockd.docker import actions
from hinedockd.docker.engine import EngineError
from hinedockd.docker.view import HostView
from hinedockd.gate import CALLER_UID, LISTEN_BACKLOG, Admission, Door, GatedHandler, Peer
from hinedockd.hinemos.pusher import CustomTrapSender
from hinedockd.hinemos.sync import HostSync
from hinedockd.messages.audit import JobAudit
from hinedockd.messages.containerlogs import ContainerLogs
from hinedockd.messages.hub import SyslogHub
from hinedockd.model import Container, ContainerState
from hinedockd.monitors import MonitorError
from hinedockd.output import OutputError, printable
from hinedockd.queries import DATA, MONITORS, Queries, QueryError, selection
from hinedockd.redact import redact
from hinedockd.status import header_safe, status_document, status_table

log = structlog.get_logger("hinedockd.api")


def peer(request: web.Request) -> Peer | None:
    """Who sent this request, as the kernel recorded it when the connection was made
    (gate.py); None where the caller cannot be known (not a unix socket: the tests')."""
    return getattr(request.protocol, "peer", None)


def _set_caller(request: web.Request) -> None:
    """For this request's task only (gate.CALLER_UID): whose `-k` cursors to use."""
    who = peer(request)
    CALLER_UID.set(who.uid if who is not None else -1)


PEER: web.RequestKey[Peer | None] = web.RequestKey("peer")


def may_run_jobs(who: Peer | None, job_gids: frozenset[int]) -> bool:
    """Jobs (exec as root in any container, rm -f) need more than reading figures:
    root, or a member of `[daemon] job_groups`. Reading needs only the socket."""
    return who is not None and (who.uid == 0 or bool(who.gids & job_gids))


def _port(text: str | None) -> int | None:
    """The report's `-p`: a TCP port in ASCII digits, or a 400 (`²` passed isdigit()
    and failed int(); 5,000 digits failed int() too: both were a 500 and a traceback)."""
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 5 and 0 < int(text) < 65536):
        raise QueryError(400, f"-p must be a TCP port (1-65535), got {header_safe(text[:20])!r}")
    return int(text)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status,
                        content_type="application/json")


class LocalApi:
    def __init__(self, cfg: Config, hosts: Sequence[HostView], queries: Queries,
                 hub: SyslogHub | None = None,
                 syncs: Mapping[str, HostSync] | None = None,
                 pusher: CustomTrapSender | None = None,
                 logs: ContainerLogs | None = None) -> None:
        self.cfg, self.hosts, self.queries = cfg, hosts, queries
        self.logs = logs
        self.hub = hub
        self.syncs = syncs or {}
        self.pusher = pusher
        self.audit = JobAudit(hub)
        self.job_gids = frozenset(grp.getgrnam(g).gr_gid for g in cfg.daemon.job_groups)
        self.started = time.time()
        self.app = web.Application()
        self.app.add_routes([
            web.get("/v1/status", self.status),
            web.get("/v1/hosts/{host}/{what}", self.host_data),
            web.get("/v1/lines/{monitor}", self.lines),
            web.post("/v1/jobs/{action}", self.job),
            web.post("/v1/exec", self.exec),
            web.get("/v1/archive", self.archive),
        ])
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._jobs: set[asyncio.Task[tuple[list[str], bool]]] = set()
        d = cfg.daemon
        self.door = Door(Admission(d.max_connections_per_user, d.max_connections),
                         d.request_header_seconds)

    # ---- serving ---------------------------------------------------------------

    async def start(self) -> None:
        path = Path(self.cfg.daemon.socket)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_socket():
            path.unlink()  # a stale socket from a previous run
        # handler_cancellation: a caller that leaves ends its request (an exec whose
        # client gave up must not hold its task and engine connection forever)
        header_seconds = self.cfg.daemon.request_header_seconds
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(
            lambda: GatedHandler(server, self.door, loop=loop, access_log=None,
                                 keepalive_timeout=header_seconds),
            str(path), backlog=LISTEN_BACKLOG)
        os.chmod(path, 0o660)
        group = self.cfg.daemon.socket_group
        if group:
            os.chown(path, -1, grp.getgrnam(group).gr_gid)
        log.info("local API listening", socket=str(path))

    async def stop(self) -> None:
        """Stops serving and removes the socket file (a clean stop leaves none)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            path = Path(self.cfg.daemon.socket)
            if path.is_socket():
                path.unlink()

    # ---- helpers ---------------------------------------------------------------

    def _host(self, name: str, port: str | None) -> HostView:
        try:
            host = self.cfg.find_host(name, _port(port))
        except KeyError as e:
            raise QueryError(404, str(e.args[0])) from None
        return next(h for h in self.hosts if h.host is host)

    # ---- endpoints -------------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        hosts = [(h.snapshot(), s.snapshot() if (s := self.syncs.get(h.host.facility_id))
                  else None) for h in self.hosts]
        syslog = self.hub.snapshot() if self.hub else []
        push = self.pusher.snapshot() if self.pusher else None
        logs = self.logs.snapshot() if self.logs else []
        # Every reader may ask: a URL's credentials (a custom trap URL, an error that
        # quotes one) are taken out of the whole answer
        if request.query.get("format") == "table":
            return web.Response(text=redact(status_table(hosts, syslog, push, logs)))
        document = orjson.dumps(status_document(hosts, syslog, self.started, push, logs))
        return web.Response(body=redact(document.decode()).encode(),
                            content_type="application/json")

    async def host_data(self, request: web.Request) -> web.Response:
        """JSON: /v1/hosts/{host}/{what} with what in queries.DATA."""
        _set_caller(request)
        q = request.query
        try:
            query = DATA.get(request.match_info["what"])
            if query is None:
                raise QueryError(404, f"unknown data {request.match_info['what']!r}")
            view = self._host(request.match_info["host"], q.get("port"))
            return _json(await query(self.queries, view, q))
        except QueryError as e:
            return _json({"error": str(e)}, e.status)
        except EngineError as e:
            return _json({"error": str(e)}, 502)

    async def lines(self, request: web.Request) -> web.Response:
        """Text: /v1/lines/{monitor}?host=… — the `key,value` lines a client prints,
        notes in `Hinedock-Note` headers; on error a status and the message."""
        _set_caller(request)
        q = request.query
        monitor = MONITORS.get(request.match_info["monitor"])
        if monitor is None:
            return web.Response(status=404, text=f"unknown monitor "
                                f"{request.match_info['monitor']!r}")
        try:
            view = self._host(q.get("host", "127.0.0.1"), q.get("port"))
            result = await monitor.lines(self.queries, view, q)
        except QueryError as e:
            return web.Response(status=e.status, text=str(e))
        except EngineError as e:
            return web.Response(status=502, text=str(e))
        except (MonitorError, OutputError) as e:
            return web.Response(status=422, text=str(e))
        notes = [*result.notes, *result.lines.skipped,
                 *filter(None, [result.lines.buffer_warning()])]
        headers = [("Hinedock-Note", header_safe(n)) for n in notes]
        return web.Response(text=result.lines.text(), headers=CIMultiDict(headers))

    # ---- jobs --------------------------------------------------------------------

    def _job_target(self, request: web.Request, what: str) -> tuple[HostView, list[Container]]:
        who = request[PEER] = peer(request)  # once per request: the audit reuses it
        if not may_run_jobs(who, self.job_gids):
            log.warning("job refused", job=what, uid=who.uid if who else None,
                        query=header_safe(request.query_string)[:300])
            raise QueryError(403, "jobs need root or a member of [daemon] job_groups "
                                  f"({', '.join(self.cfg.daemon.job_groups) or 'none set'}); "
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
