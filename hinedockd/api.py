"""The local API: JSON over HTTP on a unix socket (never TCP), read by `hinedock`."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import structlog
from aiohttp import web
from multidict import CIMultiDict

from hinedockd import jobs
from hinedockd.config import Config
from hinedockd.docker.engine import EngineError
from hinedockd.docker.host import HostWatcher
from hinedockd.hinemos.sync import HostSync
from hinedockd.messages.hub import SyslogHub
from hinedockd.metrics.figures import KeyCursors, container_figures
from hinedockd.model import STATES, STATS_STATES, Container, matches
from hinedockd.monitors import MONITORS, MonitorError
from hinedockd.output import OutputError
from hinedockd.processes import compile_pattern, count_processes
from hinedockd.snmp import SnmpSource

log = structlog.get_logger("hinedockd.api")
API_VERSION = 1


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


Query = Mapping[str, str]


def header_safe(text: str) -> str:
    """A note fit for an HTTP header: printable ASCII only (names come from containers)."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:1000]


def _clock(t: float) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def status_table(hosts: list[dict[str, Any]], syslog: list[dict[str, Any]]) -> str:
    """`hinedock status`: one line per host, then one per syslog target."""
    rows = [f"{'HOST':<16} {'ENGINE':<14} {'SINCE':<14} {'LAST EVENT':<14} "
            f"{'RUN/PAU/EXI/ALL':<15} {'STREAMS':>7} {'HINEMOS':<16} LAST ERROR"]
    for h in hosts:
        states = h.get("states", {})
        counts = (f"{states.get('running', 0)}/{states.get('paused', 0)}/"
                  f"{states.get('exited', 0)}/{h['containers']}")
        sync = h.get("hinemos") or {}
        hinemos = {True: "ok", False: "failing", None: "-"}[sync.get("last_ok")]
        if sync.get("last_at"):
            hinemos += " " + _clock(sync["last_at"])[6:]
        error = h["last_error"] or sync.get("last_error") or "-"
        engine = "connected" if h["connected"] else "disconnected"
        rows.append(f"{header_safe(h['facility_id'])[:16]:<16} {engine:<14} "
                    f"{_clock(h['since']):<14} {_clock(h['last_event_ns'] / 1e9):<14} "
                    f"{counts:<15} {h['streams_open']:>7} {hinemos:<16} {header_safe(error)}")
    if syslog:
        rows.append("")
        rows.append(f"{'SYSLOG TARGET':<40} {'STATE':<13} {'SENT':>8} {'QUEUED':>7} "
                    f"{'DROPPED':>8} LAST ERROR")
        for t in syslog:
            state = "connected" if t["connected"] else "not connected"
            rows.append(f"{t['target'][:40]:<40} {state:<13} {t['sent']:>8} {t['queued']:>7} "
                        f"{t['dropped']:>8} {header_safe(t['last_error']) or '-'}")
    return "\n".join(rows) + "\n"


def process_figures() -> dict[str, Any]:
    """The daemon's own footprint, to watch for leaks (tasks, descriptors, memory)."""
    rss = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    return {"tasks": len(asyncio.all_tasks()), "open_fds": fds, "rss_bytes": rss}


def peer_uid(request: web.Request) -> int | None:
    """The caller's uid on the unix socket (SO_PEERCRED), for the audit trail."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET,
                                                          socket.SO_PEERCRED,
                                                          struct.calcsize("3i")))
    return int(uid)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status,
                        content_type="application/json")


class LocalApi:
    def __init__(self, cfg: Config, watchers: list[HostWatcher],
                 hub: SyslogHub | None = None, syncs: Mapping[str, HostSync] | None = None,
                 snmp: Mapping[str, SnmpSource] | None = None) -> None:
        self.cfg = cfg
        self.watchers = watchers
        self.hub = hub
        self.syncs = syncs or {}
        self.snmp = snmp or {}
        self.cursors = KeyCursors()
        self.event_keys: OrderedDict[str, int] = OrderedDict()
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

    def _watcher(self, name: str, port: str | None) -> HostWatcher:
        try:
            host = self.cfg.find_host(name, int(port) if port and port.isdigit() else None)
        except KeyError as e:
            raise ApiError(404, str(e.args[0])) from None
        return next(w for w in self.watchers if w.host is host)

    @staticmethod
    def _selection(q: Query, w: HostWatcher) -> list[Container]:
        ids, names = q.get("id"), q.get("name")
        if ids and names:
            raise ApiError(400, "select by id or by name, not both")
        found = [c for c in w.containers.values() if matches(c, ids, names)]
        if (ids or names) and not found:
            raise ApiError(404, f"no container matches {'id' if ids else 'name'} "
                                f"{ids or names!r} on {w.host.facility_id}")
        return sorted(found, key=lambda c: (c.name, c.id))

    def _live(self, q: Query, w: HostWatcher) -> list[Container]:
        """All running/paused containers; or those named, whatever their state, so that
        the answer can say why a named container has no figures."""
        selected = self._selection(q, w)
        if q.get("id") or q.get("name"):
            return selected
        return [c for c in selected if c.state in STATS_STATES]

    @staticmethod
    def _number(q: Query, key: str) -> float | None:
        text = q.get(key)
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

    async def status(self, request: web.Request) -> web.Response:
        hosts = [w.snapshot() for w in self.watchers]
        for h in hosts:
            sync = self.syncs.get(h["facility_id"])
            h["hinemos"] = sync.snapshot() if sync else None
        syslog = self.hub.snapshot() if self.hub else []
        if request.query.get("format") == "table":
            return web.Response(text=status_table(hosts, syslog))
        return _json({"api": API_VERSION, "started": self.started, "pid": os.getpid(),
                      "hosts": hosts, "syslog": syslog, "process": process_figures()})

    async def host_data(self, request: web.Request) -> web.Response:
        """JSON: /v1/hosts/{host}/{what} with what in DATA."""
        q = request.query
        try:
            w = self._watcher(request.match_info["host"], q.get("port"))
            return _json(await self.data(request.match_info["what"], w, q))
        except ApiError as e:
            return _json({"error": str(e)}, e.status)
        except EngineError as e:
            return _json({"error": str(e)}, 502)

    async def lines(self, request: web.Request) -> web.Response:
        """Text: /v1/lines/{monitor}?host=… — the `key,value` lines a client prints,
        notes in `Hinedock-Note` headers; on error a status and the message."""
        q = request.query
        try:
            what, fmt = MONITORS[request.match_info["monitor"]]
        except KeyError:
            return web.Response(status=404, text=f"unknown monitor "
                                f"{request.match_info['monitor']!r}")
        try:
            w = self._watcher(q.get("host", "127.0.0.1"), q.get("port"))
            result = fmt(await self.data(what, w, q), q)
        except ApiError as e:
            return web.Response(status=e.status, text=str(e))
        except EngineError as e:
            return web.Response(status=502, text=str(e))
        except (MonitorError, OutputError) as e:
            return web.Response(status=422, text=str(e))
        notes = [*result.notes, *filter(None, [result.lines.buffer_warning()])]
        headers = [("Hinedock-Note", header_safe(n)) for n in notes]
        return web.Response(text=result.lines.text(), headers=CIMultiDict(headers))

    # ---- jobs --------------------------------------------------------------------

    def _job_target(self, request: web.Request) -> tuple[HostWatcher, list[Container]]:
        q = request.query
        if not (q.get("id") or q.get("name")):
            raise ApiError(400, "jobs need -c CONTAINER_ID or -n CONTAINER_NAME")
        w = self._watcher(q.get("host", "127.0.0.1"), q.get("port"))
        return w, self._selection(q, w)

    def _audit(self, request: web.Request, w: HostWatcher, what: str, c: Container,
               result: str) -> None:
        """Every job to the journal and to syslog: who (uid of the caller), what, result."""
        uid = peer_uid(request)
        log.info("job", host=w.host.facility_id, job=what, container=c.short_id, name=c.name,
                 result=result, uid=uid)
        if self.hub is not None:
            self.hub.emit(self.hub.hostnames[w.host.facility_id],
                          f"job {what} id={c.short_id} name={c.name} result={result} uid={uid}",
                          "notice")

    async def job(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in ("start", "stop", "restart", "remove"):
            return web.Response(status=404, text=f"unknown job {action!r}")
        q = request.query
        try:
            wait = int(q["t"]) if q.get("t") else None
            w, targets = self._job_target(request)
        except ApiError as e:
            return web.Response(status=e.status, text=str(e))
        except ValueError:
            return web.Response(status=400, text=f"-t must be whole seconds, got {q['t']!r}")
        lines, failed = [], False
        for c in targets:  # one after another, as the report's scripts did
            outcome = await jobs.lifecycle(w.engine, action, c, wait=wait,
                                           force=q.get("force") == "1",
                                           link=q.get("link") == "1",
                                           volumes=q.get("volumes") == "1")
            self._audit(request, w, action, c, outcome.line().split(" ", 2)[2])
            failed |= outcome.result == "Failed"
            lines.append(outcome.line())
        return web.Response(text="".join(line + "\n" for line in lines),
                            headers={"Hinedock-Exit": "9" if failed else "0"})

    async def exec(self, request: web.Request) -> web.StreamResponse:
        """Frames: `S <id12> <name>`, `O <n>` + n bytes (stdout), `E <n>` + n bytes
        (stderr), `X <exit code>`, `F <reason>` (the exec could not run)."""
        argv = request.query.getall("arg", [])
        try:
            w, targets = self._job_target(request)
            if not argv:
                raise ApiError(400, "no command to run")
        except ApiError as e:
            return web.Response(status=e.status, text=str(e))
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        for c in targets:
            await resp.write(f"S {c.short_id} {c.name}\n".encode())
            self._audit(request, w, "exec " + " ".join(argv)[:200], c, "started")
            if c.state != "running":
                await resp.write(f"F not running ({c.state})\n".encode())
                continue
            try:
                async for stream, data in jobs.exec_stream(w.engine, c, argv):
                    if stream == 0:
                        await resp.write(b"X " + data + b"\n")
                        self._audit(request, w, "exec", c, f"exit {data.decode()}")
                    else:
                        await resp.write(b"OE"[stream - 1:stream] + b" %d\n" % len(data) + data)
            except EngineError as e:
                await resp.write(f"F {header_safe(str(e))}\n".encode())
        await resp.write_eof()
        return resp

    async def archive(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        try:
            w, targets = self._job_target(request)
            if len(targets) != 1:
                raise ApiError(400, "an archive comes from one container; select one")
            if not q.get("path"):
                raise ApiError(400, "no path to download")
        except ApiError as e:
            return web.Response(status=e.status, text=str(e))
        (c,) = targets
        chunks = jobs.archive_stream(w.engine, c, q["path"])
        try:
            first = await anext(chunks, b"")
        except EngineError as e:
            return web.Response(status=404 if e.status == 404 else 502, text=str(e))
        resp = web.StreamResponse(headers={"Content-Type": "application/x-tar",
                                           "Hinedock-Container": f"{c.short_id} {c.name}"})
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
        self._audit(request, w, f"download {q['path'][:200]}", c, "Success")
        await resp.write_eof()
        return resp

    async def data(self, what: str, w: HostWatcher, q: Query) -> Any:
        producer = {"ping": self.ping, "containers": self.containers, "counts": self.counts,
                    "size": self.size, "metrics": self.metrics,
                    "processes": self.processes, "events": self.events}.get(what)
        if producer is None:
            raise ApiError(404, f"unknown data {what!r}")
        return await producer(w, q)

    async def ping(self, w: HostWatcher, q: Query) -> Any:
        ok = await w.engine.ping()
        return {"status": 0 if ok else 1, "ping_ok": ok, "stream_connected": w.status.connected,
                "since": w.status.since, "last_error": w.status.last_error}

    async def containers(self, w: HostWatcher, q: Query) -> Any:
        return {"host": w.host.facility_id, "connected": w.status.connected,
                "containers": [{"id": c.id, "name": c.name, "state": c.state, "image": c.image,
                                "command": c.command, "ports": list(c.ports)}
                               for c in self._selection(q, w)]}

    async def counts(self, w: HostWatcher, q: Query) -> Any:
        if not w.status.connected:
            raise ApiError(503, f"{w.host.facility_id}: not connected ({w.status.last_error})")
        counts = dict.fromkeys(STATES, 0)
        for c in w.containers.values():
            counts[c.state] += 1
        return {"host": w.host.facility_id, "counts": counts}

    async def size(self, w: HostWatcher, q: Query) -> Any:
        return {"host": w.host.facility_id, "sizes": await w.disk_usage()}

    async def metrics(self, w: HostWatcher, q: Query) -> Any:
        d = self.cfg.daemon
        selected = self._live(q, w)
        now = time.time()
        window = self._number(q, "window")
        key = q.get("key")
        if window is not None and key:
            raise ApiError(400, "give a window or a key, not both")
        if key:
            window = self.cursors.window(f"{w.host.facility_id}\0{key}", now,
                                         d.default_window_seconds, d.retention_seconds)
        window = min(window or d.default_window_seconds, d.retention_seconds)
        scale = q.get("scale") or d.cpu_scale
        if scale not in ("host", "core"):
            raise ApiError(400, f"scale must be host or core, got {scale!r}")
        host_memory = w.status.mem_total
        detail = q.get("of") == "detail"
        host_figures = None
        if q.get("with_host") == "1":
            source = self.snmp.get(w.host.facility_id)
            host_figures = (source.figures(window, now) if source else
                            {"error": f"{w.host.facility_id}: no SNMP configured for this host "
                                      "([hosts.snmp] in the daemon's config)"})

        def figures(c: Container) -> dict[str, Any]:
            return container_figures(c, w.series.get(c.id), window=window, now=now,
                                     host_memory=host_memory, scale=scale,
                                     memory_detail=detail)

        selected_figures = {c.id: figures(c) for c in selected}
        all_running = None
        if host_figures is not None:
            # Σ over every running container, for the host's share outside them; the
            # figures already made for the selection are reused, not made again.
            running = [selected_figures.get(c.id) or figures(c) for c in w.containers.values()
                       if c.state in STATS_STATES]
            with_window = [f for f in running if f.get("window")]
            all_running = {"cpu_percent": sum(f["cpu"]["percent"] for f in with_window),
                           "rss": sum(f["memory"]["rss"] for f in with_window)}
        return {"host": w.host.facility_id, "window_requested": window, "connected":
                w.status.connected, "host_figures": host_figures, "all_running": all_running,
                "containers": list(selected_figures.values())}

    async def events(self, w: HostWatcher, q: Query) -> Any:
        """Events since the previous call with `key` (first call: the default window), for
        the report's MonitorDockerHostEvent.py; from the daemon's in-memory history."""
        if self.hub is None:
            raise ApiError(503, "no event history in this daemon")
        # The key remembers the last event it was given (engine time), not a clock:
        # an event that arrives late is still handed out once.
        key = f"{w.host.facility_id}\0{q.get('key') or ''}"
        default = time.time() - self.cfg.daemon.default_window_seconds
        since_ns = self.event_keys.pop(key, int(default * 1e9))
        events = self.hub.events_since(w.host.facility_id, since_ns)
        self.event_keys[key] = events[-1][0] if events else since_ns
        while len(self.event_keys) > 10_000:
            self.event_keys.popitem(last=False)
        return {"host": w.host.facility_id, "hostname": self.hub.hostnames[w.host.facility_id],
                "events": [{"time_nano": t, "text": text} for t, text in events]}

    async def processes(self, w: HostWatcher, q: Query) -> Any:
        try:
            prog = compile_pattern(q.get("prog") or ".*", "prog")
            args = compile_pattern(q.get("args") or ".*", "args")
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

        out = await asyncio.gather(*(count(c) for c in self._live(q, w)))
        return {"host": w.host.facility_id, "containers": out}
