"""The local API in-process: aiohttp's test client against `LocalApi.app`, a real
`Host` watching the fake engine. What the client reads (JSON answers, lines, notes,
status codes) without a daemon process or a socket file."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hinedockd.api import LocalApi
from hinedockd.docker.host import Host
from hinedockd.messages.hub import SyslogHub
from hinedockd.queries import MONITORS, Queries
from hinedockd.testing import FakeContainer, FakeEngine
from tests.conftest import assert_hinemos_lines, eventually, fake_host_config


@dataclass
class World:
    engine: FakeEngine
    host: Host
    client: TestClient[Any, Any]
    web1: FakeContainer
    web2: FakeContainer


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeEngine(sample_interval=0.2) as engine:
        web1 = engine.add("web1", cpu_rate=0.5)
        web2 = engine.add("web2", state="exited")
        cfg = fake_host_config(tmp_path, engine.url)
        host = Host(cfg.hosts[0], cfg.daemon)
        hub = SyslogHub(cfg, [host])
        host.subscribe(hub)
        api = LocalApi(cfg, [host], Queries(cfg.daemon, hub=hub), hub)
        task = asyncio.create_task(host.run())
        try:
            async with TestClient(TestServer(api.app)) as client:
                await eventually(lambda: (s := host.series(web1.id)) is not None
                                 and (d := s.delta(60)) is not None and d.seconds >= 0.5)
                yield World(engine, host, client, web1, web2)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_json_answers_have_the_api_names(world: World) -> None:
    r = await world.client.get("/v1/hosts/fake1/containers")
    assert r.status == 200
    items = {c["name"]: c for c in (await r.json())["containers"]}
    assert items["web1"]["state"] == "running" and items["web2"]["state"] == "exited"
    assert items["web1"]["id"] == world.web1.id and items["web1"]["ports"] == []
    r = await world.client.get("/v1/hosts/127.0.0.1/counts")
    assert (await r.json())["counts"] == {"created": 0, "running": 1, "paused": 0,
                                          "restarting": 0, "removing": 0, "exited": 1,
                                          "dead": 0}
    r = await world.client.get("/v1/hosts/fake1/metrics", params={"window": "30"})
    answer = await r.json()
    assert answer["window_requested"] == 30 and answer["connected"] is True
    (c,) = answer["containers"]
    assert c["name"] == "web1" and c["error"] is None
    assert c["figures"]["cpu"]["percent"] == pytest.approx(25.0, rel=0.2)  # 0.5 of 2 cores
    assert c["figures"]["window"]["seconds"] > 0


async def test_lines_and_notes(world: World) -> None:
    r = await world.client.get("/v1/lines/cpu", params={"host": "fake1", "name": "web*"})
    assert r.status == 200
    pairs = assert_hinemos_lines(await r.text())
    assert [k for k, _ in pairs] == ["cpu_usage:web1"]
    assert r.headers.getall("Hinedock-Note") == [f"{world.web2.id[:12]} web2: not running "
                                                 "(exited)"]
    r = await world.client.get("/v1/lines/states", params={"host": "fake1"})
    assert await r.text() == (f"state:{world.web1.id[:12]},0\n"
                              f"state:{world.web2.id[:12]},4\n")


async def test_every_monitor_answers_or_says_why(world: World) -> None:
    for name in MONITORS:
        r = await world.client.get(f"/v1/lines/{name}", params={"host": "fake1"})
        assert r.status == 200, (name, await r.text())
        assert_hinemos_lines(await r.text())


async def test_key_cursors_give_the_time_since_the_previous_call(world: World) -> None:
    async def window(key: str) -> float:
        r = await world.client.get("/v1/hosts/fake1/metrics", params={"key": key})
        return float((await r.json())["window_requested"])

    assert await window("k1") == 60  # the first call: the default window
    await asyncio.sleep(0.3)
    assert 0.2 < await window("k1") < 5
    assert await window("k2") == 60  # another key has its own cursor


@pytest.mark.parametrize("path, params, status, message", [
    ("/v1/hosts/nowhere/containers", {}, 404, "unknown host 'nowhere'"),
    ("/v1/hosts/fake1/nothing", {}, 404, "unknown data 'nothing'"),
    ("/v1/hosts/fake1/metrics", {"window": "-1"}, 400, "window must be positive"),
    ("/v1/hosts/fake1/metrics", {"window": "5", "key": "k"}, 400, "a window or a key"),
    ("/v1/hosts/fake1/metrics", {"scale": "galaxy"}, 400, "scale must be host or core"),
    ("/v1/hosts/fake1/metrics", {"id": "a", "name": "b"}, 400, "by id or by name"),
    ("/v1/hosts/fake1/processes", {"prog": "("}, 400, "bad regular expression"),
    ("/v1/hosts/fake1/containers", {"name": "nobody"}, 404, "no container matches"),
    ("/v1/hosts/fake1/containers", {"port": "\u00b2"}, 400, "-p must be a TCP port"),
    ("/v1/hosts/fake1/containers", {"port": "9" * 5000}, 400, "-p must be a TCP port"),
    ("/v1/hosts/fake1/containers", {"port": "0"}, 400, "-p must be a TCP port"),
])
async def test_bad_questions_get_a_status_and_a_reason(world: World, path: str,
                                                       params: dict[str, str], status: int,
                                                       message: str) -> None:
    r = await world.client.get(path, params=params)
    assert r.status == status
    assert message in (await r.json())["error"]


async def test_lines_errors_are_text(world: World) -> None:
    r = await world.client.get("/v1/lines/nothing")
    assert r.status == 404 and "unknown monitor" in await r.text()
    r = await world.client.get("/v1/lines/cpu", params={"host": "fake1", "name": "web2"})
    assert r.status == 422 and "not running (exited)" in await r.text()
    r = await world.client.post("/v1/jobs/stop", params={"host": "fake1", "name": "web1"})
    # Over TCP (the tests' client) the caller cannot be known: no job (only root and
    # job_groups may; tests/test_access.py on the real socket).
    assert r.status == 403 and "jobs need root" in await r.text()


async def test_status_json_and_table(world: World) -> None:
    r = await world.client.get("/v1/status")
    doc = await r.json()
    (h,) = doc["hosts"]
    assert h["facility_id"] == "fake1" and h["connected"] is True and h["hinemos"] is None
    assert h["states"]["running"] == 1 and h["streams_open"] == 1
    assert doc["syslog"][0]["target"].startswith("file://")
    assert set(doc["process"]) == {"tasks", "open_fds", "rss_bytes"}
    r = await world.client.get("/v1/status", params={"format": "table"})
    header, row, *_ = (await r.text()).splitlines()
    assert header.startswith("HOST") and row.split()[:2] == ["fake1", "connected"]


def test_status_table_shows_a_partial_hinemos_pass() -> None:
    from hinedockd.answers import SyncSnapshot
    from hinedockd.docker.view import HostSnapshot
    from hinedockd.status import status_table

    host = HostSnapshot(
        facility_id="h1", address="127.0.0.1", stats_mode="stream", connected=True, since=0,
        ping_ok=True, last_event_ns=0, last_error="", last_error_at=0, reconnects=0, events=0,
        samples=0, bad_samples=0, containers=0, states={}, streams_open=0, mem_total=0, ncpu=0,
        server_version="")
    sync = SyncSnapshot(passes=3, last_at=0, last_ok=False, last_refused=1, last_writes=4,
                        last_error="1 write(s) refused, e.g. h1-web1: HinemosUnknown")
    row = status_table([(host, sync)], []).splitlines()[1]
    assert row.split()[5:9] == ["0", "streams", "-", "partial"]
    assert row.endswith("e.g. h1-web1: HinemosUnknown")
    # Polled: samples a minute asked of the engine, and what they cost it (estimated).
    polled = dataclasses.replace(host, stats_mode="poll", samples_per_minute=200.0,
                                 engine_cpu_ms_per_minute=400.0)
    assert status_table([(polled, sync)], []).splitlines()[1].split()[5:7] == [
        "200/min", "400ms/min"]


async def test_a_host_the_daemon_lost_answers_no_figures(world: World) -> None:
    """Exit 1 with the reason, nothing on stdout: never the cached figures as if current."""
    r = await world.client.get("/v1/lines/cpu", params={"host": "fake1"})
    assert r.status == 200 and "cpu_usage:web1," in await r.text()
    await world.engine.stop()  # the engine goes away; the cache is still full
    await eventually(lambda: not world.host.status.connected)
    for monitor in ("cpu", "mem", "net", "restarts", "uptime", "states"):
        r = await world.client.get(f"/v1/lines/{monitor}", params={"host": "fake1"})
        text = await r.text()
        assert r.status == 422 and "not connected to this engine" in text, (monitor, text)
        assert "cpu_usage" not in text and "state:" not in text
