"""Fakes for what cannot run here or won't fail on demand, kept in one place.

FakeEngine serves the subset of the Docker Engine API the daemon uses, with the
shapes recorded from a real engine 20.10 (the sample in this package's `data/`,
a copy of the recorded fixture): `/events` with `since=`
replay of at most 256 events, per-container `/stats` streams, `/containers/json`,
`/containers/{id}/json`, `/info`, `/_ping`, `/top`, `/system/df`, `/logs`, exec. It
can cut its streams and go silent, and answer as a broken or hostile engine would,
which a real engine won't do on demand. Its parts: `container` (one container's
shapes), `enginestreams` (events, logs), `hostile` (padded and error answers, exec).
Run it standalone for the benchmarks:

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
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from hinedockd.docker.dialect import version_tuple
from hinedockd.docker.engine import raise_fd_limit
from hinedockd.testing.container import FakeContainer, iso, iso_ns
from hinedockd.testing.enginestreams import EventLog, LogStreams
from hinedockd.testing.hostile import Answers, Execs
from hinedockd.testing.server import FakeServer

API = "v1.41"
V = "/{api:v[0-9]+[.][0-9]+}"  # any version prefix: the gate below judges it, as an engine
STORM_DOWN_SECONDS = 3.0  # how long a restarted engine refuses connections


def recorded_sample() -> dict[str, Any]:
    """The stats sample recorded from a real engine 20.10 (cgroup v1), shipped with
    this package."""
    data = resources.files("hinedockd.testing").joinpath(
        "data/stats-cgroupv1-engine20.10.json").read_bytes()
    return orjson.loads(data)  # type: ignore[no-any-return]


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
    """The engine: its containers, the calls that drive it (add, set_state, write_log,
    remove, restart, upgrade, cut_streams) and its short answers; the long ones are
    `events` and `logs` (enginestreams), the hostile ones `answers` and `execs`."""

    def __init__(self, sample_interval: float = 1.0, in_flight: InFlight | None = None,
                 answer_seconds: float = 0.0) -> None:
        """`in_flight`: counts this engine's lists and inspects (shared by a fleet);
        `answer_seconds`: each of them takes this long, as a busy engine's would."""
        super().__init__()
        self.in_flight = in_flight or InFlight()
        self.answer_seconds = answer_seconds
        self.containers: dict[str, FakeContainer] = {}
        self.sample_interval = sample_interval
        self.silent = False  # stats streams stop sending (but stay open)
        self.requests: list[str] = []
        self.events = EventLog(self.requests)
        self.logs = LogStreams(self.containers, self.requests)
        self.answers = Answers()
        self.execs = Execs(self.containers, self.answers)
        self._stat_responses: set[web.StreamResponse] = set()
        self._template = recorded_sample()
        # The API versions it speaks (`/version`'s ApiVersion and MinAPIVersion), as a
        # real engine: older than the minimum is refused with the engine's own message,
        # newer than its own is refused too. `upgrade` changes them, as an engine
        # upgraded in place.
        self.api_version, self.min_api_version = API[1:], "1.12"
        self.app.add_routes([
            web.get("/_ping", self._ping),
            web.get("/version", self._version),
            web.get(f"{V}/info", self._info),
            web.get(f"{V}/containers/json", self._list),
            web.get(f"{V}/events", self.events.serve),
            web.get(f"{V}/containers/{{id}}/json", self._inspect),
            web.get(f"{V}/containers/{{id}}/stats", self._stats),
            web.get(f"{V}/containers/{{id}}/logs", self.logs.serve),
            web.get(f"{V}/containers/{{id}}/top", self._top),
            web.get(f"{V}/system/df", self._df),
            *self.execs.routes(V),
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
        self.logs.wake(c)

    def write_log(self, c: FakeContainer, text: str, stream: int = 1,
                  ts_ns: int | None = None) -> None:
        """The container prints a line (now, or at the engine time `ts_ns`)."""
        c.log.append((time.time_ns() if ts_ns is None else ts_ns, stream, text))
        self.logs.wake(c)

    def remove(self, c: FakeContainer) -> None:
        self.containers.pop(c.id, None)
        self.emit(c, "destroy")

    def emit(self, c: FakeContainer, action: str, etype: str = "container") -> dict[str, Any]:
        return self.events.emit(c, action, etype)

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

    def upgrade(self, api_version: str, min_api_version: str) -> None:
        """As an engine upgraded in place: its streams drop, it speaks other versions."""
        self.api_version, self.min_api_version = api_version, min_api_version
        self.cut_streams()

    def cut_streams(self) -> None:
        """Drop every open stream, as a dying engine or a broken network would."""
        self.events.cut()
        for r in list(self._stat_responses):
            if r.task is not None:
                r.task.cancel()
        self.logs.cut()

    def sample(self, c: FakeContainer, now: float) -> bytes:
        s = copy.deepcopy(self._template)
        up = max(0.0, now - c.started)
        s["read"] = iso(now)
        s["id"], s["name"] = c.id, f"/{c.name}"
        usage = s["cpu_stats"]["cpu_usage"]
        usage["total_usage"] = int(up * c.cpu_rate * 1e9)
        usage["percpu_usage"] = [usage["total_usage"], 0]
        s["blkio_stats"]["io_service_bytes_recursive"] = [
            {"major": 8, "minor": 0, "op": "Read", "value": 0},
            {"major": 8, "minor": 0, "op": "Write", "value": int(up * c.io_rate)}]
        s["networks"]["eth0"].update(rx_bytes=int(up * c.io_rate), rx_packets=int(up))
        return orjson.dumps(s) + b"\n"

    # ---- short answers ---------------------------------------------------------

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"ApiVersion": self.api_version,
                                  "MinAPIVersion": self.min_api_version,
                                  "Version": "20.10.24-fake"})

    @web.middleware
    async def _api_gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Docker's answers to a version it does not speak (its wording, API 1.44+);
        `answers.failing`'s answer to everything when it is set."""
        if self.answers.failing is not None and request.path != "/_ping":
            return await self.answers.error(request, self.answers.failing)
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

    async def _info(self, request: web.Request) -> web.Response:
        # SystemTime: the engine's clock, RFC 3339 with nanoseconds (Docker 20.10-28,
        # Podman 4.3 and 5 all give it).
        return web.json_response({"MemTotal": 8 << 30, "NCPU": 2, "ServerVersion": "fake",
                                  "SystemTime": iso_ns(time.time_ns())})

    async def _list(self, request: web.Request) -> web.StreamResponse:
        items = [c.list_item() for c in self.containers.values()]
        filters = orjson.loads(request.query.get("filters", "{}"))
        if filters.get("id"):
            items = [i for i in items if any(i["Id"].startswith(x) for x in filters["id"])]
            return await self.answers.json(request, "list", items)
        async with self._counted("list"):
            return await self.answers.json(request, "list", items)

    async def _inspect(self, request: web.Request) -> web.StreamResponse:
        c = self.containers.get(request.match_info["id"])
        if c is None:
            return web.json_response({"message": "No such container"}, status=404)
        async with self._counted("inspect"):
            return await self.answers.json(request, "inspect", c.inspect())

    @contextlib.asynccontextmanager
    async def _counted(self, kind: str) -> AsyncIterator[None]:
        self.in_flight.enter(kind)
        try:
            await asyncio.sleep(self.answer_seconds)
            yield
        finally:
            self.in_flight.leave(kind)

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

    async def _top(self, request: web.Request) -> web.StreamResponse:
        return await self.answers.json(request, "top", {
            "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            "Processes": [["root", "1", "0", "0", "10:00", "?", "00:00:00",
                           "httpd -f -p 8080"]]})

    async def _df(self, request: web.Request) -> web.StreamResponse:
        return await self.answers.json(request, "df", {
            "LayersSize": 1982354, "Images": [],
            "Containers": [c.list_item() for c in self.containers.values()]})


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
