"""Custom trap push: the fake receiver against the manager's rules (its source, cited in
hinedockd/testing/customtrap.py), the body the daemon builds, and the sender on the
fake engine: figures each interval on each container's node, a state change at once,
a manager away that loses no state item, a 400 counted."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import time
import types
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
from hinedockd.hinemos import pusher
from hinedockd.hinemos.customtrap import (
    HostReading,
    TrapItem,
    body,
    figure_items,
    host_items,
    string_item,
    trap_date,
)
from hinedockd.hinemos.dryrun import MemoryBackend
from hinedockd.hinemos.pusher import (
    NODE_GRACE_SECONDS,
    CustomTrapSender,
    LatestRound,
    Packed,
    StringQueue,
    pack,
)
from hinedockd.hinemos.reconciler import Reconciler
from hinedockd.hinemos.sync import HostSync
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
    assert figure_items(None, None, ("cpu_usage", "cpu_usage#*", "health"), "d") == []


def test_a_host_node_says_whether_its_engine_answers_even_when_it_does_not() -> None:
    keys = ("engine_status", "running", "exited", "cpu_usage", "host_mem_usage")
    up = host_items(HostReading(True, {"running": 3, "exited": 1}, 12.5, 40.0), keys, "d")
    assert [(i.key, i.msg) for i in up] == [("engine_status", "1"), ("running", "3"),
                                           ("exited", "1"), ("cpu_usage", "12.50"),
                                           ("host_mem_usage", "40.00")]
    down = host_items(HostReading(False, {"running": 3}, 12.5, 40.0), keys, "d")
    assert [(i.key, i.msg) for i in down] == [("engine_status", "0")]  # no stale counts
    no_snmp = host_items(HostReading(True, {"running": 0}), keys, "d")
    assert [i.key for i in no_snmp] == ["engine_status", "running"]


def item(n: int) -> TrapItem:
    return TrapItem("2026-12-02 14:05:00", "string", "state", f"s{n}")


def test_string_items_wait_for_their_node_and_keep_their_order() -> None:
    made: set[str] = set()
    q = StringQueue(bound=5)
    q.put("new", item(1), 0.0, known=False)  # its sync has not made it yet
    q.put("old", item(2), 0.0, known=True)  # its node existed: its news (removed…)
    q.put("new", item(3), 0.0, known=False)
    batch = q.batch(made.__contains__, 1.0)
    assert batch is not None and batch[0] == "old"
    q.sent(batch[1])
    assert q.batch(made.__contains__, 1.0) is None and len(q) == 2  # waiting, not lost
    made.add("new")
    batch = q.batch(made.__contains__, 2.0)
    assert batch is not None and [w.item.msg for w in batch[1]] == ["s1", "s3"]
    q.sent(batch[1])
    q.put("never", item(4), 0.0, known=False)
    assert q.batch(made.__contains__, NODE_GRACE_SECONDS + 1) is None
    assert (len(q), q.unknown_node) == (0, 1)  # its node never came: dropped, counted
    for n in range(7):
        q.put("new", item(n), 3.0, known=True)
    assert (len(q), q.dropped) == (5, 2)  # the bound: the oldest go, counted
    batch = q.batch(made.__contains__, 3.0)
    assert batch is not None and batch[1][0].item.msg == "s2"


def test_a_new_round_replaces_what_was_not_sent_and_leaves_out_the_gone() -> None:
    def packed(n: int) -> Packed:
        return pack("node", [item(n)])

    r = LatestRound()
    r.replace([("a", packed(1)), ("b", packed(2)), ("gone", packed(3))])
    first = r.take()
    assert first is not None and first[0] == "a"
    r.put_back(*first)  # not sent: first again
    r.replace([("b", packed(5)), ("a", packed(4))])  # "gone" is in no new round
    assert r.superseded == 3
    assert [r.take(), r.take(), r.take()] == [("b", packed(5)), ("a", packed(4)), None]
    r.replace([("a", packed(6))])
    r.put_back("a", packed(1))  # an older body never overwrites the newer
    assert r.take() == ("a", packed(6))


def test_a_packed_body_is_the_body_and_out_of_the_collectors_sight() -> None:
    items = [item(1), item(2)]
    p = pack("n1", items)
    assert p == (body("n1", items), 2)
    gc.collect()
    assert not gc.is_tracked(p)  # a tuple of bytes and an int: untracked once looked at


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
keys = ["cpu_usage", "cpu_usage#*", "health"]
host_keys = []
timezone = "Asia/Tokyo"

[hinemos.customtrap.processes]
httpd = "httpd|nginx"
""")
    trap = cfg.hinemos.customtrap
    assert trap is not None and (trap.interval_seconds, trap.keys, trap.events) == (
        30, ("cpu_usage", "cpu_usage#*", "health"), True)
    assert (trap.host_keys, trap.processes) == ((), (("httpd", "httpd|nginx"),))
    for table, message in [('url = "manager:8082"', "customtrap.url: must be http"),
                           ('url = "http://m/"\ninterval_seconds = 5', "interval_seconds"),
                           ('url = "http://m/"\nkeys = ["cpu"]', "keys: must be"),
                           ('url = "http://m/"\ntimezone = "Mars/Base"', "unknown time zone"),
                           ('url = "http://m/"\nevent = true', "event"),
                           ('url = "http://m/"\nhost_keys = ["load"]', "host_keys: must be"),
                           ('url = "http://m/"\n[hinemos.customtrap.processes]\n'
                            'cpu_usage = "x"', "processes.cpu_usage: a process count"),
                           ('url = "http://m/"\n[hinemos.customtrap.processes]\n'
                            'web = "("', "processes.web: bad regular expression")]:
        with pytest.raises(ConfigError, match=message):
            parse_config(f"{HOST}[hinemos.customtrap]\n{table}\n")


async def test_a_wall_clock_behind_the_loop_never_gives_a_round_twice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A timer waking before the wall clock reaches the round's moment (the wall clock
    slewed slower than the loop's): each round still has a moment of its own, one
    interval after the last (CI once pushed the same round twice)."""
    t0 = time.time()
    wall = types.SimpleNamespace(time=lambda: t0 + (time.time() - t0) * 0.8,
                                 monotonic=time.monotonic)
    monkeypatch.setattr(pusher, "time", wall)
    trap = CustomTrapConfig(url="http://m/", interval_seconds=1)
    sender = CustomTrapSender(HinemosConfig(), trap, [], lambda _: True)
    moments: list[float] = []

    async def round_at(now: float, moment: float) -> list[pusher.Body]:
        moments.append(moment)
        return []

    monkeypatch.setattr(sender, "round_in_turns", round_at)
    task = asyncio.create_task(sender._rounds())
    await eventually(lambda: len(moments) >= 3, within=6)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert all(m % 1 == 0 for m in moments)
    assert [b - a for a, b in itertools.pairwise(moments)] == [1.0] * (len(moments) - 1), moments


@dataclass
class Pushing:
    engine: FakeEngine
    manager: FakeCustomTrapManager
    host: Host
    sender: CustomTrapSender
    reconciler: Reconciler


@pytest.fixture
async def pushing(tmp_path: Path) -> AsyncIterator[Pushing]:
    """The daemon's wiring for one host: the dry-run repository's sync makes the nodes
    the sender may send to (app.py), the fake engine and receiver on either side."""
    async with FakeEngine(sample_interval=0.2) as engine, FakeCustomTrapManager() as manager:
        engine.add("web1", cpu_rate=0.5)
        host = Host(HostConfig(facility_id="h1", url=engine.url, address="127.0.0.1",
                               stats="stream"),
                    DaemonConfig())
        trap = CustomTrapConfig(url=manager.url, interval_seconds=1, timeout_seconds=2,
                                keys=(*CustomTrapConfig.keys, "cpu_usage#*"),
                                processes=(("httpd", "httpd"), ("sshd", "sshd")))
        backend = MemoryBackend(log_writes=False)
        await backend.start()
        reconciler = Reconciler(backend, HinemosConfig())
        sync = HostSync(host, reconciler, 300)
        sender = CustomTrapSender(HinemosConfig(), trap, [host], reconciler.node_exists)
        host.subscribe(sync)
        host.subscribe(sender)
        manager.nodes = {"h1", "h1-web1", "h1-web2"}
        tasks = [asyncio.create_task(t) for t in (host.run(), sync.run(), sender.run())]
        try:
            yield Pushing(engine, manager, host, sender, reconciler)
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
    assert {"cpu_usage", "cpu_usage#0", "cpu_usage#1", "host_mem_usage", "limit_mem_usage",
            "nw_rxkb", "nw_rxpck", "disk_write", "uptime", "httpd", "sshd"} <= keys
    assert "health" not in keys  # no health check: no item, never a 0
    assert [r.msg for r in m.items("h1-web1", "httpd")][-1] == "1"
    assert [r.msg for r in m.items("h1-web1", "sshd")][-1] == "0"
    assert m.duplicates == 0 and "UNREGISTERED" not in {r.facility_id for r in m.received}
    host_node = {r.key: r.msg for r in m.items("h1")}
    assert host_node["engine_status"] == "1" and host_node["running"] == "1"
    assert "cpu_usage" not in host_node  # no SNMP for this host: no host figures


async def test_a_gone_containers_node_hears_its_removal_and_then_nothing(
        pushing: Pushing) -> None:
    m, engine = pushing.manager, pushing.engine
    await eventually(lambda: bool(m.items("h1-web1")), within=10)
    web2 = engine.add("web2")
    await eventually(lambda: bool(m.items("h1-web2", "cpu_usage")), within=10)
    events = [r.msg for r in m.items("h1", "event")]
    assert any(e.startswith("container start ") and "name=web2" in e for e in events), events
    engine.set_state(web2, "exited", "die")
    engine.remove(web2)
    await eventually(lambda: [r.msg for r in m.items("h1-web2", "state")][-1:] == ["removed"],
                     within=5)
    await eventually(lambda: not pushing.reconciler.node_exists("h1-web2"), within=5)
    after = len(m.items("h1-web2"))
    rounds = pushing.sender.rounds
    await eventually(lambda: pushing.sender.rounds >= rounds + 2, within=5)
    assert len(m.items("h1-web2")) == after  # its node is gone: nothing more to it
    assert m.items("h1-web1", "cpu_usage")


async def test_nothing_goes_to_a_node_the_sync_has_not_made(pushing: Pushing) -> None:
    m = pushing.manager
    await eventually(lambda: bool(m.items("h1-web1", "cpu_usage")), within=10)
    exists = pushing.sender.exists
    pushing.sender.exists = lambda fid: fid != "h1-web1" and exists(fid)
    now = time.time()
    bodies = await pushing.sender.round_in_turns(now, now)
    assert [fid for fid, _ in bodies] == ["h1"]


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
    await m.unlisten(hang_up=True)  # the manager away
    engine.set_state(web2, "exited", "die")
    engine.set_state(web2, "running", "start")
    engine.set_state(web2, "paused", "pause")
    await eventually(lambda: pushing.sender.poster.failed > 0, within=10)
    await m.listen()
    await eventually(lambda: [r.msg for r in m.items("h1-web2", "state")] == [
        *told, "exited", "running", "paused"], within=40)
    snap = pushing.sender.snapshot()
    assert (snap.queued, snap.dropped, snap.unknown_node) == (0, 0, 0) and snap.failed > 0
    before = len(m.items("h1-web1", "cpu_usage"))
    await eventually(lambda: len(m.items("h1-web1", "cpu_usage")) > before, within=5)


async def test_a_body_the_manager_refuses_is_counted_and_not_sent_again(
        pushing: Pushing) -> None:
    m = pushing.manager
    await eventually(lambda: bool(m.items("h1-web1")), within=10)
    m.answer = 400
    await eventually(lambda: pushing.sender.poster.rejected >= 2, within=10)
    snap = pushing.sender.snapshot()
    assert snap.last_error == "HTTP 400: 400" and snap.queued == 0
