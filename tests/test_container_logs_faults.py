"""Containers' own logs against the fake engine: the faults a real engine won't produce
on demand (a stream cut mid-way, lines rotated away while the daemon was not reading,
a driver that keeps nothing) — each line told once, a loss said once, nothing retried
in a loop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hinedockd.config import Config, parse_config
from hinedockd.docker.host import Host
from hinedockd.docker.logframes import STDOUT
from hinedockd.messages.containerlog import LogCursor, LogPosition
from hinedockd.messages.containerlogs import ContainerLogs
from hinedockd.messages.hub import SyslogHub
from hinedockd.testing import FakeEngine
from hinedockd.testing.container import FakeContainer
from tests.conftest import eventually


@dataclass
class World:
    engine: FakeEngine
    cfg: Config
    out: Path
    host: Host
    logs: ContainerLogs
    tasks: list[asyncio.Task[None]]

    def lines(self, short: str = "") -> list[str]:
        """The file target's lines for this HOSTNAME: `Mmm dd hh:mm:ss HOST TAG: MSG`."""
        text = self.out.read_text() if self.out.exists() else ""
        return [line for line in text.splitlines() if f" {short} " in line]

    def numbers(self, c: FakeContainer) -> list[int]:
        return [int(m.group(1)) for line in self.lines(c.id[:12])
                if (m := re.search(r"hinedockd-stdout: line (\d+)$", line))]


async def start_world(engine: FakeEngine, tmp_path: Path,
                      saved: dict[str, LogPosition] | None = None, origin: int = 0,
                      extra: str = "") -> World:
    out = tmp_path / "out.log"
    cfg = parse_config(f"""
[daemon]
state_dir = "{tmp_path}/state"
[[hosts]]
facility_id = "fake1"
url = "{engine.url}"
address = "127.0.0.1"
[[syslog]]
target = "file://{out}"
[logs]
report_seconds = 1
{extra}
""")
    host = Host(cfg.hosts[0], cfg.daemon)
    hub = SyslogHub(cfg, [host])
    logs = ContainerLogs(cfg, hub, [host], {"fake1": saved or {}}, {"fake1": origin})
    host.subscribe(hub)
    host.subscribe(logs)
    tasks = [asyncio.create_task(c) for c in (host.run(), hub.run(), logs.run())]
    await eventually(lambda: host.status.connected)
    return World(engine, cfg, out, host, logs, tasks)


async def stop_world(w: World) -> None:
    for t in w.tasks:
        t.cancel()
    await asyncio.gather(*w.tasks, return_exceptions=True)


@pytest.fixture
async def engine() -> AsyncIterator[FakeEngine]:
    e = FakeEngine(sample_interval=0.2)
    await e.start()
    yield e
    await e.stop()


SELECTED = {"hinedock.logs": "true"}


async def test_a_cut_stream_resumes_and_tells_each_line_once(engine: FakeEngine,
                                                             tmp_path: Path) -> None:
    w = await start_world(engine, tmp_path)
    try:
        c = engine.add("app", labels=SELECTED)
        other = engine.add("quiet")  # not selected: never followed
        for i in range(1, 51):
            engine.write_log(c, f"line {i}")
            engine.write_log(other, f"line {i}")
            if i % 10 == 0:
                engine.cut_streams()
            await asyncio.sleep(0.01)
        await eventually(lambda: w.numbers(c) == list(range(1, 51)), within=30)
        assert w.lines(other.id[:12]) == [] or all(
            "hinedockd-stdout" not in line for line in w.lines(other.id[:12]))
        follows = [r for r in engine.requests if r.startswith(f"logs {c.id[:12]}")]
        assert len(follows) >= 2 and follows[0].endswith("since=None tail=None")  # all of it
        assert not any(r.startswith(f"logs {other.id[:12]}") for r in engine.requests)
    finally:
        await stop_world(w)


async def test_lines_rotated_away_while_away_are_a_gap_said_once(engine: FakeEngine,
                                                                 tmp_path: Path) -> None:
    c = engine.add("app", labels=SELECTED)
    for i in range(1, 6):
        engine.write_log(c, f"line {i}")
    taken = c.log[1][0]  # up to line 2 before a restart
    position = LogPosition(taken, {STDOUT: LogCursor(taken, 1)})
    for i in range(6, 11):
        engine.write_log(c, f"line {i}")
    c.log_kept_from = 4  # lines 1-4 rotated away: line 3 and 4 are lost
    w = await start_world(engine, tmp_path, saved={c.id: position})
    try:
        await eventually(lambda: w.numbers(c) == list(range(5, 11)))
        engine.cut_streams()  # a later reconnect says nothing again
        engine.write_log(c, "line 11")
        await eventually(lambda: w.numbers(c) == list(range(5, 12)))
        gaps = [line for line in w.lines(c.id[:12]) if " log_gap " in line]
        assert len(gaps) == 1, gaps
        assert "name=app before=" in gaps[0] and "hinedockd:" in gaps[0]
    finally:
        await stop_world(w)


async def test_a_restart_resumes_from_the_saved_cursor(engine: FakeEngine,
                                                       tmp_path: Path) -> None:
    c = engine.add("app", labels=SELECTED)
    w = await start_world(engine, tmp_path)
    for i in range(1, 21):
        engine.write_log(c, f"line {i}")
    await eventually(lambda: w.numbers(c) == list(range(1, 21)))
    saved = w.logs.hosts["fake1"].take_checkpoint()
    await stop_world(w)
    for i in range(21, 31):
        engine.write_log(c, f"line {i}")  # while the daemon is away
    w = await start_world(engine, tmp_path, saved=dict(saved.positions))
    try:
        await eventually(lambda: w.numbers(c) == list(range(1, 31)))
        await asyncio.sleep(0.3)
        assert w.numbers(c) == list(range(1, 31))  # nothing twice
    finally:
        await stop_world(w)


async def test_a_driver_that_keeps_nothing_is_not_retried_until_a_new_start(
        engine: FakeEngine, tmp_path: Path) -> None:
    c = engine.add("nolog", labels=SELECTED, log_driver="none")
    w = await start_world(engine, tmp_path)
    try:
        def asked() -> int:
            return sum(r.startswith(f"logs {c.id[:12]}") for r in engine.requests)

        await eventually(lambda: asked() == 1)
        await asyncio.sleep(1.5)
        assert asked() == 1
        c.log_driver = "json-file"
        engine.set_state(c, "exited", "die")
        engine.set_state(c, "running", "start")
        engine.write_log(c, "line 1")
        await eventually(lambda: w.numbers(c) == [1])
    finally:
        await stop_world(w)


async def test_a_flood_is_limited_and_announced_while_another_container_is_told(
        engine: FakeEngine, tmp_path: Path) -> None:
    w = await start_world(engine, tmp_path, extra="lines_per_second = 50\nburst = 100")
    try:
        loud = engine.add("loud", labels=SELECTED)
        calm = engine.add("calm", labels=SELECTED)
        for i in range(1, 5001):
            engine.write_log(loud, f"line {i}")
        engine.write_log(calm, "line 1")
        await eventually(lambda: w.numbers(calm) == [1])
        await eventually(lambda: any(" log_dropped " in x for x in w.lines(loud.id[:12])))
        sent = w.numbers(loud)
        assert 100 <= len(sent) < 500 and sent == sorted(set(sent))
        (snap,) = [s for s in w.logs.snapshot() if s.name == "loud"]
        assert snap.dropped + snap.sent == 5000 and snap.lines == 5000
        dropped = [x for x in w.lines(loud.id[:12]) if " log_dropped " in x]
        assert re.search(r"log_dropped name=loud lines=\d+ limit=50/s burst=100$", dropped[0])
    finally:
        await stop_world(w)
