"""The local API: JSON over HTTP on a unix socket (never TCP), read by `hinedock`."""

from __future__ import annotations

import asyncio
import grp
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import structlog
from aiohttp import web

from hinedockd.config import Config
from hinedockd.docker.engine import EngineError
from hinedockd.docker.host import HostWatcher
from hinedockd.metrics.figures import KeyCursors, container_figures
from hinedockd.model import STATES, STATS_STATES, Container, matches
from hinedockd.processes import compile_pattern, count_processes

log = structlog.get_logger("hinedockd.api")
API_VERSION = 1


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status,
                        content_type="application/json")


Handler = Callable[[web.Request], Awaitable[Any]]


def _endpoint(fn: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return _json(await fn(request))
        except ApiError as e:
            return _json({"error": str(e)}, e.status)
        except EngineError as e:
            return _json({"error": str(e)}, 502)
    return wrapped


class LocalApi:
    def __init__(self, cfg: Config, watchers: list[HostWatcher]) -> None:
        self.cfg = cfg
        self.watchers = watchers
        self.cursors = KeyCursors()
        self.started = time.time()
        self.app = web.Application()
        self.app.add_routes([
            web.get("/v1/status", _endpoint(self.status)),
            web.get("/v1/hosts/{host}/ping", _endpoint(self.ping)),
            web.get("/v1/hosts/{host}/containers", _endpoint(self.containers)),
            web.get("/v1/hosts/{host}/counts", _endpoint(self.counts)),
            web.get("/v1/hosts/{host}/size", _endpoint(self.size)),
            web.get("/v1/hosts/{host}/metrics", _endpoint(self.metrics)),
            web.get("/v1/hosts/{host}/processes", _endpoint(self.processes)),
        ])
        self._runner: web.AppRunner | None = None

    # ---- serving ---------------------------------------------------------------

    async def start(self) -> None:
        path = Path(self.cfg.daemon.socket)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_socket():
            path.unlink()  # a stale socket from a previous run
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.UnixSite(self._runner, str(path)).start()
        os.chmod(path, 0o660)
        group = self.cfg.daemon.socket_group
        if group:
            os.chown(path, -1, grp.getgrnam(group).gr_gid)
        log.info("local API listening", socket=str(path))

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- helpers ---------------------------------------------------------------

    def _watcher(self, request: web.Request) -> HostWatcher:
        name = request.match_info["host"]
        port = request.query.get("port")
        try:
            host = self.cfg.find_host(name, int(port) if port and port.isdigit() else None)
        except KeyError as e:
            raise ApiError(404, str(e.args[0])) from None
        return next(w for w in self.watchers if w.host is host)

    @staticmethod
    def _selection(request: web.Request, w: HostWatcher) -> list[Container]:
        ids, names = request.query.get("id"), request.query.get("name")
        if ids and names:
            raise ApiError(400, "select by id or by name, not both")
        found = [c for c in w.containers.values() if matches(c, ids, names)]
        if (ids or names) and not found:
            raise ApiError(404, f"no container matches {'id' if ids else 'name'} "
                                f"{ids or names!r} on {w.host.facility_id}")
        return sorted(found, key=lambda c: (c.name, c.id))

    def _live(self, request: web.Request, w: HostWatcher) -> list[Container]:
        """All running/paused containers; or those named, whatever their state, so that
        the answer can say why a named container has no figures."""
        selected = self._selection(request, w)
        if request.query.get("id") or request.query.get("name"):
            return selected
        return [c for c in selected if c.state in STATS_STATES]

    @staticmethod
    def _number(request: web.Request, key: str) -> float | None:
        text = request.query.get(key)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ApiError(400, f"{key} must be a number, got {text!r}") from None
        if not value > 0:
            raise ApiError(400, f"{key} must be positive, got {text!r}")
        return value

    # ---- endpoints -------------------------------------------------------------

    async def status(self, request: web.Request) -> Any:
        return {"api": API_VERSION, "started": self.started, "pid": os.getpid(),
                "hosts": [w.snapshot() for w in self.watchers]}

    async def ping(self, request: web.Request) -> Any:
        w = self._watcher(request)
        ok = await w.engine.ping()
        return {"status": 0 if ok else 1, "ping_ok": ok, "stream_connected": w.status.connected,
                "since": w.status.since, "last_error": w.status.last_error}

    async def containers(self, request: web.Request) -> Any:
        w = self._watcher(request)
        return {"host": w.host.facility_id, "connected": w.status.connected,
                "containers": [{"id": c.id, "name": c.name, "state": c.state, "image": c.image,
                                "command": c.command, "ports": list(c.ports)}
                               for c in self._selection(request, w)]}

    async def counts(self, request: web.Request) -> Any:
        w = self._watcher(request)
        if not w.status.connected:
            raise ApiError(503, f"{w.host.facility_id}: not connected ({w.status.last_error})")
        counts = dict.fromkeys(STATES, 0)
        for c in w.containers.values():
            counts[c.state] += 1
        return {"host": w.host.facility_id, "counts": counts}

    async def size(self, request: web.Request) -> Any:
        w = self._watcher(request)
        return {"host": w.host.facility_id, "sizes": await w.disk_usage()}

    async def metrics(self, request: web.Request) -> Any:
        w = self._watcher(request)
        d = self.cfg.daemon
        selected = self._live(request, w)
        now = time.time()
        window = self._number(request, "window")
        key = request.query.get("key")
        if window is not None and key:
            raise ApiError(400, "give a window or a key, not both")
        if key:
            window = self.cursors.window(f"{w.host.facility_id}\0{key}", now,
                                         d.default_window_seconds, d.retention_seconds)
        window = min(window or d.default_window_seconds, d.retention_seconds)
        scale = request.query.get("scale", d.cpu_scale)
        if scale not in ("host", "core"):
            raise ApiError(400, f"scale must be host or core, got {scale!r}")
        host_memory = w.status.mem_total
        detail = request.query.get("detail") == "1"
        return {"host": w.host.facility_id, "window_requested": window, "connected":
                w.status.connected,
                "containers": [container_figures(c, w.series.get(c.id), window=window, now=now,
                                                 host_memory=host_memory, scale=scale,
                                                 memory_detail=detail) for c in selected]}

    async def processes(self, request: web.Request) -> Any:
        w = self._watcher(request)
        try:
            prog = compile_pattern(request.query.get("prog", ".*"), "prog")
            args = compile_pattern(request.query.get("args", ".*"), "args")
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        async def count(c: Container) -> dict[str, Any]:
            item: dict[str, Any] = {"id": c.id, "name": c.name}
            if c.state not in STATS_STATES:
                item["error"] = f"not running ({c.state})"
                return item
            try:
                item["count"] = count_processes(await w.top(c.id), prog, args)
            except (EngineError, ValueError) as e:
                item["error"] = str(e)
            return item

        out = await asyncio.gather(*(count(c) for c in self._live(request, w)))
        return {"host": w.host.facility_id, "containers": out}
