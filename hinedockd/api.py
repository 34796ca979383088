"""The local API: HTTP on a unix socket (never TCP), read by `hinedock`.

HTTP only: the routes, the query string, the status codes. The answers come from
`queries.py` (over each host's `HostView`), the lines from `monitors.py` through
`queries.MONITORS`, the jobs from `jobroutes.py`, the status from `status.py`.
"""

from __future__ import annotations

import asyncio
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
from hinedockd.docker.engine import EngineError
from hinedockd.docker.view import HostView
from hinedockd.gate import CALLER_UID, LISTEN_BACKLOG, Admission, Door, GatedHandler
from hinedockd.hinemos.pusher import CustomTrapSender
from hinedockd.hinemos.sync import HostSync
from hinedockd.jobroutes import JobRoutes, peer
from hinedockd.messages.audit import JobAudit
from hinedockd.messages.containerlogs import ContainerLogs
from hinedockd.messages.hub import SyslogHub
from hinedockd.monitors import MonitorError
from hinedockd.output import OutputError
from hinedockd.queries import DATA, MONITORS, Queries, QueryError
from hinedockd.redact import redact
from hinedockd.status import header_safe, status_document, status_table

log = structlog.get_logger("hinedockd.api")


def _set_caller(request: web.Request) -> None:
    """For this request's task only (gate.CALLER_UID): whose `-k` cursors to use."""
    who = peer(request)
    CALLER_UID.set(who.uid if who is not None else -1)


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
        self.jobs = JobRoutes(cfg.daemon.job_groups, self._host, JobAudit(hub))
        self.started = time.time()
        self.app = web.Application()
        self.app.add_routes([
            web.get("/v1/status", self.status),
            web.get("/v1/hosts/{host}/{what}", self.host_data),
            web.get("/v1/lines/{monitor}", self.lines),
            *self.jobs.routes(),
        ])
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
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
