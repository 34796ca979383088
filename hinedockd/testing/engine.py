"""Fakes for what cannot run here or won't fail on demand, kept in one place.

FakeEngine serves the subset of the Docker Engine API the daemon uses, with the
shapes recorded from a real engine 20.10 (the sample in this package's `data/`,
a copy of the recorded fixture): `/events` with `since=`
replay of at most 256 events, per-container `/stats` streams, `/containers/json`,
`/containers/{id}/json`, `/info`, `/_ping`, `/top`, `/system/df`. It can cut its
streams and go silent, which a real engine won't do on demand. Run it standalone for the benchmarks:

    python -m hinedockd.testing fake-engine --port 23750 --containers 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from hinedockd.docker.dialect import version_tuple
from hinedockd.docker.engine import raise_fd_limit
from hinedockd.testing.server import FakeServer

API = "v1.41"
V = "/{api:v[0-9]+[.][0-9]+}"  # any version prefix: the gate below judges it, as an engine
REPLAY_LIMIT = 256  # the engine keeps this many events for `since=`
STORM_DOWN_SECONDS = 3.0  # how long a restarted engine refuses connections


def recorded_sample() -> dict[str, Any]:
    """The stats sample recorded from a real engine 20.10 (cgroup v1), shipped with
    this package."""
    data = resources.files("hinedockd.testing").joinpath(
        "data/stats-cgroupv1-engine20.10.json").read_bytes()
    return orjson.loads(data)  # type: ignore[no-any-return]


def _iso(t: float) -> str:
    whole = int(t)
    nanos = int((t - whole) * 1e9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{nanos:09d}Z"


@dataclass
class FakeContainer:
    id: str
    name: str
    state: str = "running"
    labels: dict[str, str] = field(default_factory=dict)
    image: str = "localbusybox:latest"
    cpu_rate: float = 0.25  # cores busy
    io_rate: int = 1000  # bytes/s written, received
    started: float = field(default_factory=time.time)
    tty: bool = False
    # Its own output, as the engine keeps it: (time ns, stream, text); the lines before
    # `log_kept_from` are rotated away (no longer kept).
    log: list[tuple[int, int, str]] = field(default_factory=list)
    log_kept_from: int = 0
    log_driver: str = "json-file"  # "none": nothing to read (501, Docker's wording)

    def list_item(self) -> dict[str, Any]:
        return {"Id": self.id, "Names": [f"/{self.name}"], "Image": self.image,
                "Command": "sh -c 'httpd -f -p 8080'", "Created": int(self.started),
                "Ports": [], "Labels": dict(self.labels), "State": self.state,
                "Status": "Up 1 second" if self.state == "running" else "Exited (0) 1 second ago",
                "SizeRw": 6}

    def inspect(self) -> dict[str, Any]:
        """`GET /containers/{id}/json`, the part the daemon reads, shaped as Docker
        20.10 answered (tests/data/inspect-lifecycle.json)."""
        running = self.state in ("running", "paused")
        return {"Id": self.id, "Name": f"/{self.name}", "RestartCount": 0,
                "State": {"Status": self.state, "Running": running,
                          "Paused": self.state == "paused", "OOMKilled": False,
                          "ExitCode": 0, "StartedAt": _iso(self.started),
                          "FinishedAt": "0001-01-01T00:00:00Z" if running else _iso(self.started)},
                "Config": {"Image": self.image, "Labels": dict(self.labels), "Tty": self.tty},
                "HostConfig": {"LogConfig": {"Type": self.log_driver, "Config": {}}}}

    def log_entry(self, i: int) -> bytes:
        """Line `i` as Docker 20.10 sends it (tests/data/logs-*docker20.10.bin): a frame of
        `<RFC 3339 nanoseconds> <text>\\n`, or the raw bytes ending `\\r\\n` with a TTY."""
        ts, stream, text = self.log[i]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 10**9))
        body = f"{stamp}.{ts % 10**9:09d}Z {text}".encode()
        if self.tty:
            return body + b"\r\n"
        body += b"\n"
        return bytes([stream, 0, 0, 0]) + len(body).to_bytes(4, "big") + body


@dataclass(frozen=True)
class ErrorAnswer:
    """What a broken or hostile engine answers to every API call (`FakeEngine.failing`):
    `status`, `content_type` and `body`, then `pad` bytes more."""

    status: int
    content_type: str
    body: bytes
    pad: int = 0


class InFlight:
    """Requests being answered, by kind (`list`: a full container list; `inspect`), and
    the most there ever were at once: shared by a fleet of fake engines, it tells what
    the daemon asked of all of them together."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}

    def enter(self, kind: str) -> None:
        self.now[kind] = self.now.get(kind, 0) + 1
        self.most[kind] = max(self.most.get(kind, 0), self.now[kind])

    def leave(self, kind: str) -> None:
        self.now[kind] -= 1


class FakeEngine(FakeServer):
    def __init__(self, sample_interval: float = 1.0, in_flight: InFlight | None = None,
                 answer_seconds: float = 0.0) -> None:
        """`in_flight`: counts this engine's lists and inspects (shared by a fleet);
        `answer_seconds`: each of them takes this long, as a busy engine's would."""
        super().__init__()
        self.in_flight = in_flight or InFlight()
        self.answer_seconds = answer_seconds
        self.containers: dict[str, FakeContainer] = {}
        self.history: list[dict[str, Any]] = []
        self.sample_interval = sample_interval
        self.silent = False  # stats streams stop sending (but stay open)
        self.requests: list[str] = []
        self._event_queues: set[asyncio.Queue[bytes | None]] = set()
        self._stat_responses: set[web.StreamResponse] = set()
        self._log_waiters: dict[str, asyncio.Event] = {}
        self._log_transports: set[asyncio.BaseTransport] = set()
        self._template = recorded_sample()
        # A hostile or broken engine (issue 29): the answers named here ("list",
        # "inspect", "top", "df", "exec") carry this many bytes more, streamed; and the
        # exit code an exec's inspect gives.
        # The API versions it speaks (`/version`'s ApiVersion and MinAPIVersion), as a
        # real engine: older than the minimum is refused with the engine's own message,
        # newer than its own is refused too. `upgrade` changes them, as an engine
        # upgraded in place.
        self.api_version, self.min_api_version = API[1:], "1.12"
        self.oversize: dict[str, int] = {}
        self.exec_exit_code: object = 0
        self.failing: ErrorAnswer | None = None  # every API call but /_ping answers it
        self.app.add_routes([
            web.get("/_ping", self._ping),
            web.get("/version", self._version),
            web.get(f"{V}/info", self._info),
            web.get(f"{V}/containers/json", self._list),
            web.get(f"{V}/events", self._events),
            web.get(f"{V}/containers/{{id}}/json", self._inspect),
            web.get(f"{V}/containers/{{id}}/stats", self._stats),
            web.get(f"{V}/containers/{{id}}/logs", self._logs),
            web.get(f"{V}/containers/{{id}}/top", self._top),
            web.get(f"{V}/system/df", self._df),
            web.post(f"{V}/containers/{{id}}/exec", self._exec_create),
            web.post(f"{V}/exec/{{id}}/start", self._exec_start),
            web.get(f"{V}/exec/{{id}}/json", self._exec_inspect),
        ])
        self.app.middlewares.append(self._api_gate)

    @property
    def url(self) -> str:
        """The engine's URL as a host's `url` names it."""
        return f"tcp://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        await super().start(host, port)
        return self.url

    async def stop(self) -> None:
        self.cut_streams()
        await super().stop()

    # ---- driving ---------------------------------------------------------------

    def add(self, name: str, state: str = "running", **kw: Any) -> FakeContainer:
        cid = hashlib.sha256(f"{name}{time.time_ns()}".encode()).hexdigest()
        c = self.containers[cid] = FakeContainer(cid, name, state, **kw)
        self.emit(c, "create")
        if state == "running":
            self.emit(c, "start")
        return c

    def set_state(self, c: FakeContainer, state: str, action: str) -> None:
        c.state = state
        if state == "running":
            c.started = time.time()
        self.emit(c, action)
        self._wake_logs(c)

    def write_log(self, c: FakeContainer, text: str, stream: int = 1,
                  ts_ns: int | None = None) -> None:
        """The container prints a line (now, or at the engine time `ts_ns`)."""
        c.log.append((time.time_ns() if ts_ns is None else ts_ns, stream, text))
        self._wake_logs(c)

    def _wake_logs(self, c: FakeContainer) -> None:
        waiter = self._log_waiters.pop(c.id, None)
        if waiter is not None:
            waiter.set()

    def remove(self, c: FakeContainer) -> None:
        self.containers.pop(c.id, None)
        self.emit(c, "destroy")

    def emit(self, c: FakeContainer, action: str, etype: str = "container") -> dict[str, Any]:
        now = time.time_ns()
        if self.history and now <= self.history[-1]["timeNano"]:
            now = self.history[-1]["timeNano"] + 1
        ev = {"Type": etype, "Action": action,
              "Actor": {"ID": c.id, "Attributes": {**c.labels, "image": c.image, "name": c.name}},
              "scope": "local", "time": now // 10**9, "timeNano": now}
        self.history = [*self.history[-(REPLAY_LIMIT - 1):], ev]
        line = orjson.dumps(ev) + b"\n"
        for q in self._event_queues:
            q.put_nowait(line)
        return ev

    async def restart(self, down_seconds: float) -> None:
        """As an engine restarted (a host rebooted in a maintenance window): it hangs
        up and refuses connections for `down_seconds`, every container stops and starts
        again meanwhile (its events kept for `since=`), then it listens again."""
        await self.unlisten(hang_up=True)
        self.cut_streams()
        for c in list(self.containers.values()):
            if c.state == "running":
                self.set_state(c, "exited", "die")
                self.set_state(c, "running", "start")
        await asyncio.sleep(down_seconds)
        await self.listen()

    def cut_streams(self) -> None:
        """Drop every open stream, as a dying engine or a broken network would."""
        for q in self._event_queues:
            q.put_nowait(None)
        for r in list(self._stat_responses):
            if r.task is not None:
                r.task.cancel()
        for transport in list(self._log_transports):
            transport.close()
        for waiter in self._log_waiters.values():
            waiter.set()
        self._log_waiters.clear()

    def sample(self, c: FakeContainer, now: float) -> bytes:
        s = copy.deepcopy(self._template)
        up = max(0.0, now - c.started)
        s["read"] = _iso(now)
        s["id"], s["name"] = c.id, f"/{c.name}"
        usage = s["cpu_stats"]["cpu_usage"]
        usage["total_usage"] = int(up * c.cpu_rate * 1e9)
        usage["percpu_usage"] = [usage["total_usage"], 0]
        s["blkio_stats"]["io_service_bytes_recursive"] = [
            {"major": 8, "minor": 0, "op": "Read", "value": 0},
            {"major": 8, "minor": 0, "op": "Write", "value": int(up * c.io_rate)}]
        s["networks"]["eth0"].update(rx_bytes=int(up * c.io_rate), rx_packets=int(up))
        return orjson.dumps(s) + b"\n"

    # ---- handlers --------------------------------------------------------------

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"ApiVersion": self.api_version,
                                  "MinAPIVersion": self.min_api_version,
                                  "Version": "20.10.24-fake"})

    def upgrade(self, api_version: str, min_api_version: str) -> None:
        """As an engine upgraded in place: its streams drop, it speaks other versions."""
        self.api_version, self.min_api_version = api_version, min_api_version
        self.cut_streams()

    @web.middleware
    async def _api_gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Docker's answers to a version it does not speak (its wording, API 1.44+);
        `failing`'s answer to everything when it is set."""
        if self.failing is not None and request.path != "/_ping":
            return await self._error_answer(request, self.failing)
        asked = request.match_info.get("api")
        if asked:
            v, low, high = (version_tuple(t) or () for t in
                            (asked[1:], self.min_api_version, self.api_version))
            if v < low:
                return web.json_response({"message": f"client version {asked[1:]} is too old. "
                                          f"Minimum supported API version is "
                                          f"{self.min_api_version}, please upgrade your client "
                                          "to a newer version"}, status=400)
            if v > high:
                return web.json_response({"message": f"client version {asked[1:]} is too new. "
                                          f"Maximum supported API version is "
                                          f"{self.api_version}"}, status=400)
        return await handler(request)  # type: ignore[no-any-return]

    async def _error_answer(self, request: web.Request, e: ErrorAnswer) -> web.StreamResponse:
        resp = web.StreamResponse(status=e.status)
        resp.content_type = e.content_type
        await resp.prepare(request)
        try:
            await resp.write(e.body)
            await _padding(resp, e.pad)
        except (ConnectionResetError, ConnectionError):
            pass  # the daemon gave up on it, as it should
        return resp

    async def _info(self, request: web.Request) -> web.Response:
        # SystemTime: the engine's clock, RFC 3339 with nanoseconds (Docker 20.10-28,
        # Podman 4.3 and 5 all give it).
        now = time.time_ns()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9))
        return web.json_response({"MemTotal": 8 << 30, "NCPU": 2, "ServerVersion": "fake",
                                  "SystemTime": f"{stamp}.{now % 10**9:09d}Z"})

    async def _list(self, request: web.Request) -> web.StreamResponse:
        items = [c.list_item() for c in self.containers.values()]
        filters = orjson.loads(request.query.get("filters", "{}"))
        if filters.get("id"):
            items = [i for i in items if any(i["Id"].startswith(x) for x in filters["id"])]
            return await self._answer(request, "list", items)
        async with self._counted("list"):
            return await self._answer(request, "list", items)

    async def _inspect(self, request: web.Request) -> web.StreamResponse:
        c = self.containers.get(request.match_info["id"])
        if c is None:
            return web.json_response({"message": "No such container"}, status=404)
        async with self._counted("inspect"):
            return await self._answer(request, "inspect", c.inspect())

    @contextlib.asynccontextmanager
    async def _counted(self, kind: str) -> AsyncIterator[None]:
        self.in_flight.enter(kind)
        try:
            await asyncio.sleep(self.answer_seconds)
            yield
        finally:
            self.in_flight.leave(kind)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"events since={request.query.get('since')}")
        q: asyncio.Queue[bytes | None] = asyncio.Queue()
        since = request.query.get("since")
        if since:
            sec, _, frac = since.partition(".")
            since_ns = int(sec) * 10**9 + int((frac or "0").ljust(9, "0")[:9])
            for ev in self.history:
                if ev["timeNano"] >= since_ns:
                    q.put_nowait(orjson.dumps(ev) + b"\n")
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        self._event_queues.add(q)
        try:
            while (line := await q.get()) is not None:
                await resp.write(line)
        except ConnectionResetError:
            pass  # the client went away
        finally:
            self._event_queues.discard(q)
        return resp

    async def _stats(self, request: web.Request) -> web.StreamResponse:
        c = self.containers.get(request.match_info["id"])
        self.requests.append(f"stats {request.match_info['id'][:12]}")
        if c is None:
            return web.json_response({"message": "No such container"}, status=404)
        if request.query.get("stream") in ("0", "false"):
            return web.Response(body=self.sample(c, time.time()), content_type="application/json")
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        self._stat_responses.add(resp)
        try:
            while c.id in self.containers:
                if not self.silent:
                    await resp.write(self.sample(c, time.time()))
                await asyncio.sleep(self.sample_interval)
        except ConnectionResetError:
            pass  # the client went away
        finally:
            self._stat_responses.discard(resp)
        return resp

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        """`follow=1&timestamps=1` with `since` (inclusive, as Docker's) or `tail=0`; the
        stream ends when the container stops, or is cut by `cut_streams`."""
        c = self.containers.get(request.match_info["id"])
        q = request.query
        self.requests.append(f"logs {request.match_info['id'][:12]} since={q.get('since')} "
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
            sec, _, frac = q.get("since", "0").partition(".")
            since = int(sec) * 10**9 + int((frac or "0").ljust(9, "0")[:9])
            i = next((k for k, line in enumerate(c.log) if line[0] >= since), len(c.log))
        resp = web.StreamResponse()
        resp.content_type = "application/octet-stream"
        await resp.prepare(request)
        transport = request.transport
        if transport is None:
            return resp
        self._log_transports.add(transport)
        try:
            while not transport.is_closing():
                i = max(i, c.log_kept_from)
                while i < len(c.log):
                    if c.log[i][1] in streams:
                        await resp.write(c.log_entry(i))
                    i += 1
                if c.state != "running" or q.get("follow") != "1":
                    break
                waiter = self._log_waiters.setdefault(c.id, asyncio.Event())
                await waiter.wait()
        except ConnectionResetError:
            pass  # the client went away
        finally:
            self._log_transports.discard(transport)
        return resp

    async def _top(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "top", {
            "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            "Processes": [["root", "1", "0", "0", "10:00", "?", "00:00:00",
                           "httpd -f -p 8080"]]})

    async def _df(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "df", {
            "LayersSize": 1982354, "Images": [],
            "Containers": [c.list_item() for c in self.containers.values()]})

    async def _answer(self, request: web.Request, kind: str, doc: Any) -> web.StreamResponse:
        """`doc` as JSON, or with `oversize[kind]` bytes of padding first (a `Pad`
        member, or element), streamed a MiB at a time: the fake itself stays small."""
        pad = self.oversize.get(kind, 0)
        if not pad:
            return web.json_response(doc)
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        body = orjson.dumps(doc)
        start, end = (b'[{"Pad":"', b'"}') if isinstance(doc, list) else (b'{"Pad":"', b'"')
        rest = body[1:]
        try:
            await resp.write(start)
            await _padding(resp, pad)
            await resp.write(end + (b"," if len(rest) > 1 else b"") + rest)
        except (ConnectionResetError, ConnectionError):
            pass  # the daemon gave up on it, as it should
        return resp

    async def _exec_create(self, request: web.Request) -> web.Response:
        if request.match_info["id"] not in self.containers:
            return web.json_response({"message": "No such container"}, status=404)
        return web.json_response({"Id": hashlib.sha256(str(time.time_ns()).encode())
                                  .hexdigest()}, status=201)

    async def _exec_start(self, request: web.Request) -> web.StreamResponse:
        """One frame of stdout (`ran\n`); with `oversize["exec"]`, then a frame whose
        header announces 4 GB, of which that many bytes come."""
        resp = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.raw-stream"})
        await resp.prepare(request)
        await resp.write(b"\x01\0\0\0\0\0\0\x04ran\n")
        pad = self.oversize.get("exec", 0)
        if pad:
            await resp.write(b"\x01\0\0\0\xff\xff\xff\xff")
            await _padding(resp, pad)
        return resp

    async def _exec_inspect(self, request: web.Request) -> web.Response:
        return web.json_response({"ID": request.match_info["id"], "Running": False,
                                  "ExitCode": self.exec_exit_code})


async def _padding(resp: web.StreamResponse, size: int) -> None:
    """`size` bytes (rounded up to a MiB) written a MiB at a time: the fake stays small."""
    chunk = b"x" * (1 << 20)
    for _ in range(0, size, len(chunk)):
        await resp.write(chunk)


async def _steady(rate: float, step_fn: Callable[[int], None]) -> None:
    """Call step_fn(n) `rate` times a second, on a fixed schedule (no drift)."""
    step, n, next_at = 1.0 / rate, 0, time.monotonic()
    while True:
        step_fn(n)
        n += 1
        next_at += step
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def _serve_fake_engine(port: int, containers: int, interval: float,
                             events_per_second: float, churn_per_second: float,
                             hosts: int = 1, storm_size: int = 0) -> None:
    """`hosts` engines (a fleet: the others on the ports after `port`, or any free
    ones with port 0), each with `containers`; the first one drives the loops. On
    SIGUSR1, the first `storm` of them restart at once (`restart`)."""
    fleet = []
    for h in range(1, hosts):
        other = FakeEngine(sample_interval=interval)
        for i in range(containers):
            other.add(f"bench{h}_{i}")
        url = await other.start(port=port + h if port else 0)
        fleet.append(other)
        print(f"fake engine at {url} with {containers} containers", flush=True)
    engine = FakeEngine(sample_interval=interval)
    for i in range(containers):
        engine.add(f"bench_{i}")
    url = await engine.start(port=port)
    print(f"fake engine at {url} with {containers} containers", flush=True)
    fleet.append(engine)
    storming: set[asyncio.Task[None]] = set()

    def storm() -> None:
        for e in fleet[:storm_size]:
            task = asyncio.create_task(e.restart(STORM_DOWN_SECONDS))
            storming.add(task)
            task.add_done_callback(storming.discard)

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, storm)
    boxes = list(engine.containers.values())
    loops = []
    if events_per_second > 0:
        # Events that change no state (like `docker exec`), each with the wall time it
        # was sent, for the event-to-syslog latency bench.
        def exec_event(n: int) -> None:
            c = boxes[n % len(boxes)]
            c.labels["sent_ns"] = str(time.time_ns())
            engine.emit(c, "exec_create: true")

        loops.append(_steady(events_per_second, exec_event))
    if churn_per_second > 0:
        # Churn for the soak bench: alternately create a container (it starts and
        # streams) and destroy the oldest one created so.
        churned: list[FakeContainer] = []

        def churn(n: int) -> None:
            if n % 2 == 0 or not churned:
                churned.append(engine.add(f"churn_{n}",
                                          labels={"sent_ns": str(time.time_ns())}))
            else:
                engine.set_state(churned[0], "exited", "die")
                engine.remove(churned.pop(0))

        loops.append(_steady(churn_per_second, churn))
    await asyncio.gather(*loops, asyncio.Event().wait())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m hinedockd.testing")
    sub = p.add_subparsers(dest="what", required=True)
    fe = sub.add_parser("fake-engine")
    fe.add_argument("--port", type=int, default=23750)
    fe.add_argument("--containers", type=int, default=100)
    fe.add_argument("--interval", type=float, default=1.0)
    fe.add_argument("--events-per-second", type=float, default=0.0)
    fe.add_argument("--churn-per-second", type=float, default=0.0,
                    help="creates and destroys per second (alternating)")
    fe.add_argument("--hosts", type=int, default=1, help="engines, each with --containers")
    fe.add_argument("--storm", type=int, default=0,
                    help="on SIGUSR1, this many of the engines restart at once")
    rm = sub.add_parser("fake-rest-manager", help="the Hinemos 7.x REST API (GET /_fake/stats)")
    rm.add_argument("--port", type=int, default=8080)
    ct = sub.add_parser("fake-customtrap", help="the manager's custom trap receiver")
    ct.add_argument("--port", type=int, default=18082)
    args = p.parse_args(argv)
    raise_fd_limit()
    if args.what == "fake-customtrap":
        asyncio.run(_serve_fake_customtrap(args.port))
        return
    if args.what == "fake-rest-manager":
        asyncio.run(_serve_fake_rest_manager(args.port))
        return
    asyncio.run(_serve_fake_engine(args.port, args.containers, args.interval,
                                   args.events_per_second, args.churn_per_second, args.hosts,
                                   args.storm))


async def _serve_fake_customtrap(port: int) -> None:
    from hinedockd.testing.customtrap import FakeCustomTrapManager

    manager = FakeCustomTrapManager()
    await manager.start(port=port)
    print(f"fake custom trap receiver at {manager.url}", flush=True)
    await asyncio.Event().wait()



async def _serve_fake_rest_manager(port: int) -> None:
    from hinedockd.testing.hinemos import FakeRestManager

    manager = FakeRestManager()
    await manager.start(port=port)
    print(f"fake REST manager at {manager.base_url()}/HinemosWeb/api", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
