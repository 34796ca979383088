"""Custom trap push: the fake receiver against the manager's rules (its source, cited in
hinedockd/testing/customtrap.py), the body the daemon builds, and the sender on the
fake engine: figures each interval on each container's node, a state change at once,
a manager away that loses no state item, a 400 counted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from hinedockd.config import (
    ConfigError,
    CustomTrapConfig,
    DaemonConfig,
    HinemosConfig,
    HostConfig,
    parse_config,
)
from hinedockd.docker.host import Host
from hinedockd.hinemos.customtrap import TrapItem, body, figure_items, string_item, trap_date
from hinedockd.hinemos.pusher import CustomTrapSender
from hinedockd.metrics.figures import container_figures
from hinedockd.testing import FakeEngine
from hinedockd.testing.customtrap import FakeCustomTrapManager
from tests.conftest import eventually


async def post(url: str, text: str) -> int | None:
    """The status, or None when the manager hung up without answering."""
    async with aiohttp.ClientSession() as s:
        try:
            async with s.post(url, data=text.encode()) as r:
                await r.read()
                return r.status
        except aiohttp.ServerDisconnectedError:
            return None


ITEM = {"DATE": "2026-12-02 14:05:00", "TYPE": "num", "KEY": "cpu_usage", "MSG": "12.5"}


async def test_the_fake_receiver_reads_as_the_manager_does() -> None:
    async with FakeCustomTrapManager() as m:
        m.nodes, m.scopes = {"n1"}, {"docker_container"}
        assert await post(m.url, json.dumps({"FacilityID": "n1", "DATA": [ITEM]})) == 200
        assert [(r.facility_id, r.key, r.msg) for r in m.received] == [("n1", "cpu_usage",
                                                                         "12.5")]
        # Read up to the first empty line: what follows is not seen.
        assert await post(m.url, '{"FacilityID": "n1",\n"DATA": []}\n\n{"x": 1}') == 200
        assert await post(m.url, '{"FacilityID": "n1",\n\n"DATA": []}') is None  # cut: unreadable
        assert await post(m.url, "not json") is None and m.closed == 2
        assert await post(m.url, json.dumps({"FacilityID": "n1"})) is None  # no DATA
        bad_date = {**ITEM, "DATE": "02/12/2026"}
        assert await post(m.url, json.dumps({"FacilityID": "n1", "DATA": [bad_date]})) == 400
        m.received.clear()
        dropped = [{**ITEM, "KEY": ""}, {k: v for k, v in ITEM.items() if k != "MSG"},
                   {**ITEM, "TYPE": "float"}, {**ITEM, "MSG": "12,5"}, {**ITEM, "MSG": "nan"}]
        kept = [{**ITEM, "TYPE": "NUM"}, {**ITEM, "TYPE": "String", "MSG": "exited"},
                {k: v for k, v in ITEM.items() if k != "DATE"}]
        assert await post(m.url, json.dumps({"FacilityID": "n1", "DATA": dropped + kept})) == 200
        assert [(r.type, r.msg, r.sampled is None) for r in m.received] == [
            ("num", "12.5", False), ("string", "exited", False), ("num", "12.5", True)]
        m.received.clear()
        assert await post(m.url, json.dumps({"FacilityID": "docker_container",
                                             "DATA": [ITEM]})) == 200
        assert m.received == []  # a scope: ignored
        assert await post(m.url, json.dumps({"FacilityID": "nobody", "DATA": [ITEM]})) == 200
        assert m.received[-1].facility_id == "UNREGISTERED"


def test_a_body_is_one_line_the_manager_reads_whole() -> None:
    hostile = string_item("2026-12-02 14:05:00", "state", "exited\n\n<13>FAKE\r")
    assert hostile is not None and "\n" not in hostile.msg
    raw = body("docker_host1-web1", [TrapItem("2026-12-02 14:05:00", "num", "cpu_usage",
                                              "12.50"), hostile])
    assert b"\n" not in raw and b"\r" not in raw
    doc = json.loads(raw)
    assert set(doc) == {"FacilityID", "DATA"}
    assert all(set(i) == {"DATE", "TYPE", "KEY", "MSG"} for i in doc["DATA"])
    assert string_item("2026-12-02 14:05:00", "state", "\x00\x1b ") is None  # an empty MSG
    assert trap_date(0, "Asia/Tokyo") == "1970-01-01 09:00:00"
    assert trap_date(0, "UTC") == "1970-01-01 00:00:00"
    assert figure_items(None, None, ("cpu_usage", "health"), "d") == []  # nothing made up


HOST = """
[[hosts]]
facility_id = "h1"
url = "unix:///var/run/docker.sock"
address = "127.0.0.1"
"""


def test_the_config_table() -> None:
    cfg = parse_config(HOST + """
[hinemos.customtrap]
url = "http://manager:8082/"
interval_seconds = 30
keys = ["cpu_usage", "health"]
timezone = "Asia/Tokyo"
""")
    trap = cfg.hinemos.customtrap
    assert trap is not None and (trap.interval_seconds, trap.keys, trap.events) == (
        30, ("cpu_usage", "health"), True)
    for table, message in [('url = "manager:8082"', "customtrap.url: must be http"),
                           ('url = "http://m/"\ninterval_seconds = 5', "interval_seconds"),
                           ('url = "http://m/"\nkeys = ["cpu"]', "keys: must be"),
                           ('url = "http://m/"\ntimezone = "Mars/Base"', "unknown time zone"),
                           ('url = "http://m/"\nevent = true', "event")]:
        with pytest.raises(ConfigError, match=message):
            parse_config(f"{HOST}[hinemos.customtrap]\n{table}\n")


@dataclass
class Pushing:
    engine: FakeEngine
    manager: FakeCustomTrapManager
    host: Host
    sender: CustomTrapSender


@pytest.fixture
async def pushing(tmp_path: Path) -> AsyncIterator[Pushing]:
    async with FakeEngine(sample_interval=0.2) as engine, FakeCustomTrapManager() as manager:
        engine.add("web1", cpu_rate=0.5)
        host = Host(HostConfig(facility_id="h1", url=engine.url, address="127.0.0.1"),
                    DaemonConfig())
        trap = CustomTrapConfig(url=manager.url, interval_seconds=1, timeout_seconds=2)
        sender = CustomTrapSender(HinemosConfig(), trap, [host])
        host.subscribe(sender)
        manager.nodes = {"h1-web1", "h1-web2"}
        tasks = [asyncio.create_task(host.run()), asyncio.create_task(sender.run())]
        try:
            yield Pushing(engine, manager, host, sender)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_each_interval_brings_each_running_containers_figures(pushing: Pushing) -> None:
    m = pushing.manager
    await eventually(lambda: len(m.items("h1-web1", "cpu_usage")) >= 3, within=10)
    cpu = [float(r.msg) for r in m.items("h1-web1", "cpu_usage")]
    # The fake engine's container burns half a core: a quarter of its 2-core host.
    assert 15 < cpu[-1] < 35, cpu
    c = next(iter(pushing.host.containers.values()))
    f = container_figures(c, pushing.host.series(c.id), window=1, now=None,
                          host_memory=pushing.host.status.mem_total, scale="host").figures
    assert f is not None and abs(f.cpu.percent - cpu[-1]) < 5
    keys = {r.key for r in m.items("h1-web1")}
    assert {"cpu_usage", "host_mem_usage", "nw_rxkb", "disk_write", "uptime"} <= keys
    assert "health" not in keys  # no health check: no item, never a 0


async def test_a_state_change_arrives_at_once_and_none_is_lost_while_away(
        pushing: Pushing) -> None:
    m, engine = pushing.manager, pushing.engine
    await eventually(lambda: bool(m.items("h1-web1")), within=10)
    web2 = engine.add("web2")
    engine.emit(web2, "create")
    engine.emit(web2, "start")
    await eventually(lambda: [r.msg for r in m.items("h1-web2", "state")][-1:] == ["running"],
                     within=1.5)
    told = [r.msg for r in m.items("h1-web2", "state")]
    await m.unlisten()  # the manager away
    engine.set_state(web2, "exited", "die")
    engine.set_state(web2, "running", "start")
    engine.set_state(web2, "paused", "pause")
    await eventually(lambda: pushing.sender.failed > 0, within=10)
    await m.listen()
    await eventually(lambda: [r.msg for r in m.items("h1-web2", "state")] == [
        *told, "exited", "running", "paused"], within=40)
    assert pushing.sender.snapshot().queued == 0 and pushing.sender.dropped == 0
    before = len(m.items("h1-web1", "cpu_usage"))
    await eventually(lambda: len(m.items("h1-web1", "cpu_usage")) > before, within=5)


async def test_a_body_the_manager_refuses_is_counted_and_not_sent_again(
        pushing: Pushing) -> None:
    m = pushing.manager
    await eventually(lambda: bool(m.items("h1-web1")), within=10)
    m.answer = 400
    await eventually(lambda: pushing.sender.rejected >= 2, within=10)
    snap = pushing.sender.snapshot()
    assert snap.last_error == "400 Bad Request" and snap.queued == 0
