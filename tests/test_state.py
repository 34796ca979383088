"""What survives a restart: the state file, and the rule that a cursor is saved only
once the syslog messages it accounts for have left (else a crash would lose them)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from hinedockd import persist
from hinedockd.config import parse_config
from hinedockd.docker.host import Host
from hinedockd.messages.hub import SyslogHub
from hinedockd.persist import Checkpoints, HostState, Persister
from hinedockd.testing import FakeEngine
from tests.conftest import eventually
from tests.realparts import free_port


def test_checkpoints_give_the_newest_settled_state_once() -> None:
    points = Checkpoints()
    points.add(HostState(1), (10, 5))
    points.add(HostState(2), (20, 5))
    points.add(HostState(3), (30, 6))
    assert points.take_settled((9, 9)) is None  # the first sink has not sent its 10th
    assert points.take_settled((15, 5)) == HostState(1)  # 2 is waiting on the first sink
    assert points.take_settled((15, 5)) is None
    assert points.take_settled((30, 6)) == HostState(3)  # 2 is skipped: 3 is newer
    assert points.pending == []


def test_checkpoints_stay_bounded_while_a_target_is_stuck() -> None:
    points = Checkpoints(keep=4)
    for n in range(1, 101):
        points.add(HostState(n), (n,))
    assert len(points.pending) == 4
    assert points.pending[0][0] == HostState(1) and points.pending[-1][0] == HostState(100)
    assert points.take_settled((60,)) is not None
    assert points.take_settled((100,)) == HostState(100)


def test_state_file_round_trip_and_a_damaged_file_set_aside(tmp_path: Path) -> None:
    saved = HostState(1_700_000_000_123_456_789, {"a" * 64: "running"})
    persist.save(str(tmp_path), "h1", saved)
    assert persist.load(str(tmp_path), "h1") == saved
    assert persist.load(str(tmp_path), "other") == HostState()
    persist.state_file(str(tmp_path), "h1").write_text('{"cursor_ns": "x"')
    assert persist.load(str(tmp_path), "h1") == HostState()
    assert (tmp_path / "host-h1.damaged").exists()
    assert list(tmp_path.glob("*.tmp")) == []


async def tcp_receiver(port: int, into: list[bytes]) -> asyncio.Server:
    """A syslog receiver that only collects what arrives."""
    async def receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            into.append(data)
        writer.close()

    return await asyncio.start_server(receive, "127.0.0.1", port)


async def test_a_cursor_is_saved_only_after_its_messages_left(tmp_path: Path) -> None:
    engine = FakeEngine()
    url = await engine.start()
    port = free_port()  # nobody listens yet: the TCP target holds its messages
    cfg = parse_config(f"""
[daemon]
socket = "{tmp_path}/s"
state_dir = "{tmp_path}/state"
[[hosts]]
facility_id = "h1"
url = "{url}"
address = "127.0.0.1"
[[syslog]]
target = "tcp://127.0.0.1:{port}"
""")
    w = Host(cfg.hosts[0], cfg.daemon)
    hub = SyslogHub(cfg, [w])
    w.subscribe(hub)
    persister = Persister({persist.state_file(cfg.daemon.state_dir, "h1"): w}, hub)
    tasks = [asyncio.create_task(c) for c in (w.run(), hub.run(), persister.run(every=0.1))]
    received: list[bytes] = []
    server = None
    try:
        await eventually(lambda: w.status.connected)
        c = engine.add("web1")  # create and start: two events, two state messages
        last = engine.events.history[-1]["timeNano"]
        # The persister took the checkpoint at the new cursor and, its messages unsent,
        # kept it waiting (taken and settled in one look: pending means not saved).
        points = persister.checkpoints[persist.state_file(cfg.daemon.state_dir, "h1")]
        await eventually(lambda: any(getattr(state, "cursor_ns", 0) == last
                                     for state, _ in points.pending))
        saved = persist.load(cfg.daemon.state_dir, "h1")
        assert saved.cursor_ns < engine.events.history[0]["timeNano"], "saved past unsent messages"
        assert c.id not in saved.states
        server = await tcp_receiver(port, received)
        await eventually(lambda: persist.load(cfg.daemon.state_dir, "h1").cursor_ns
                         == engine.events.history[-1]["timeNano"], within=20)
        assert persist.load(cfg.daemon.state_dir, "h1").states == {c.id: "running"}
        assert b"container start id=" + c.id[:12].encode() in b"".join(received)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            server.close()
        await engine.stop()


async def test_drain_waits_for_queued_messages_and_no_longer(tmp_path: Path) -> None:
    port = free_port()  # the TCP target has nobody to send to
    cfg = parse_config(f"""
[[hosts]]
facility_id = "h1"
url = "tcp://127.0.0.1:1"
address = "127.0.0.1"
[[syslog]]
target = "file://{tmp_path}/messages.log"
[[syslog]]
target = "tcp://127.0.0.1:{port}"
""")
    hub = SyslogHub(cfg)
    for n in range(500):
        hub.emit("h1", f"message {n}", "info")
    task = asyncio.create_task(hub.run())
    server = None
    try:
        await asyncio.wait_for(hub.sinks[0].queue.join(), 10)
        assert len((tmp_path / "messages.log").read_text().splitlines()) == 500
        assert hub.sent() == (500, 0) and hub.marks() == (500, 500)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hub.drain(), 0.5)
            raise AssertionError("drained with 500 messages still queued for TCP")
        server = await tcp_receiver(port, [])
        await asyncio.wait_for(hub.drain(), 20)  # the TCP target reconnects and sends all
        assert hub.sent() == (500, 500)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if server is not None:
            server.close()
