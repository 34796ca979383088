"""The host watcher against the fake engine: faults a real engine won't produce on
demand (cut streams, silent streams) and exact figures from known counters."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from hinedockd.config import DaemonConfig, HostConfig
from hinedockd.docker.host import HostWatcher
from hinedockd.metrics.figures import container_figures
from hinedockd.model import Container, EngineEvent
from hinedockd.testing import FakeEngine
from tests.conftest import eventually

DAEMON = DaemonConfig(stats_silence_seconds=1.0)


@pytest.fixture
async def engine() -> AsyncIterator[FakeEngine]:
    e = FakeEngine(sample_interval=0.2)
    await e.start()
    yield e
    await e.stop()


async def watch(engine: FakeEngine, **host: object) -> tuple[HostWatcher, asyncio.Task[None]]:
    cfg = HostConfig(facility_id="fake1", url=engine.url, address="127.0.0.1")
    w = HostWatcher(dataclasses.replace(cfg, **host), DAEMON)  # type: ignore[arg-type]
    task = asyncio.create_task(w.run())
    await eventually(lambda: w.status.connected)
    return w, task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_cut_events_stream_resumes_without_losing_or_repeating(engine: FakeEngine) -> None:
    a = engine.add("a")
    w, task = await watch(engine)
    seen: list[EngineEvent] = []
    w.event_listeners.append(lambda _w, ev: seen.append(ev))
    b = engine.add("b")
    await eventually(lambda: len(seen) == 2)
    engine.cut_streams()
    # Changes while the stream is down reach the daemon by the since= replay.
    engine.set_state(a, "paused", "pause")
    engine.set_state(b, "exited", "die")
    c = engine.add("c")
    await eventually(lambda: len(seen) >= 6)
    await asyncio.sleep(0.5)
    keys = [ev.key for ev in seen]
    assert len(keys) == len(set(keys)) == 6, "an event was lost or repeated"
    assert [ev.action for ev in seen[2:]] == ["pause", "die", "create", "start"]
    assert any(r.startswith("events since=") and r != "events since=None"
               for r in engine.requests)
    assert {cid: ct.state for cid, ct in w.containers.items()} == {
        a.id: "paused", b.id: "exited", c.id: "running"}
    assert w.status.reconnects >= 1
    await stop(task)


async def test_relist_after_reconnect_catches_what_replay_cannot(engine: FakeEngine) -> None:
    a = engine.add("a")
    w, task = await watch(engine)
    engine.cut_streams()
    # More than the engine's 256-event replay buffer happens during the gap.
    for _ in range(300):
        engine.emit(a, "exec_start: true")
    gone = engine.add("gone")
    engine.remove(gone)
    engine.set_state(a, "exited", "die")
    await eventually(lambda: w.containers.get(a.id, None) is not None
                     and w.containers[a.id].state == "exited")
    assert gone.id not in w.containers
    await stop(task)


async def test_stats_pumps_follow_the_lifecycle(engine: FakeEngine) -> None:
    a = engine.add("a", cpu_rate=0.5, io_rate=4000)
    w, task = await watch(engine)
    def covered() -> float:
        d = w.series[a.id].delta(60) if a.id in w.series else None
        return d.seconds if d else 0.0

    await eventually(lambda: a.id in w.pumps and covered() >= 1.0)
    f = container_figures(w.containers[a.id], w.series[a.id], window=60, now=None,
                          host_memory=8 << 30, scale="host")
    assert f["cpu"]["percent"] == pytest.approx(25.0, rel=0.1)  # 0.5 core of 2
    assert f["disk"]["write_per_second"] == pytest.approx(4000, rel=0.1)
    assert f["net"]["rx_bytes_per_second"] == pytest.approx(4000, rel=0.1)
    engine.set_state(a, "exited", "die")
    await eventually(lambda: a.id not in w.pumps)
    engine.set_state(a, "running", "start")
    await eventually(lambda: a.id in w.pumps)
    engine.remove(a)
    await eventually(lambda: a.id not in w.containers and a.id not in w.series)
    assert not w.pumps
    await stop(task)


async def test_silent_stats_stream_is_reopened(engine: FakeEngine) -> None:
    a = engine.add("a")
    w, task = await watch(engine)
    await eventually(lambda: w.status.samples > 0)
    opened = engine.requests.count(f"stats {a.id[:12]}")
    engine.silent = True
    await eventually(lambda: engine.requests.count(f"stats {a.id[:12]}") > opened)
    engine.silent = False
    samples = w.status.samples
    await eventually(lambda: w.status.samples > samples)
    await stop(task)


async def test_poll_mode_samples_without_streams(engine: FakeEngine) -> None:
    engine.add("a")
    w, task = await watch(engine, stats="poll", poll_interval_seconds=1.0)
    await eventually(lambda: w.status.samples >= 2, within=5)
    assert not w.pumps
    await stop(task)


async def test_bad_samples_and_events_are_counted_not_fatal(engine: FakeEngine) -> None:
    a = engine.add("a")
    w, task = await watch(engine)
    w.on_stats_raw(a.id, b'{"read": "2026-01-01T00:00:00Z"}')
    w.on_stats_raw(a.id, b"{truncated")
    w.on_event_raw(b'{"Type": "container"}')
    w.on_event_raw(b"\xff\xfe")
    assert w.status.bad_samples == 2
    assert w.status.connected and a.id in w.containers
    await stop(task)


async def test_unreachable_host_fails_alone(engine: FakeEngine) -> None:
    engine.add("a")
    good, good_task = await watch(engine)
    bad = HostWatcher(HostConfig(facility_id="dead", url="tcp://127.0.0.1:1",
                                 address="127.0.0.2"), DAEMON)
    bad_task = asyncio.create_task(bad.run())
    await eventually(lambda: bad.status.last_error != "")
    assert "dead" in bad.status.last_error and not bad.status.connected
    assert good.status.connected
    await stop(bad_task)
    await stop(good_task)


def test_container_is_plain_data() -> None:
    c = Container(id="x" * 64, name="n", state="running")
    assert c.short_id == "x" * 12


async def test_a_failing_listener_does_not_stop_the_host(engine: FakeEngine) -> None:
    w, task = await watch(engine)
    seen: list[str] = []

    def broken(_w: HostWatcher, ev: EngineEvent) -> None:
        raise RuntimeError("bug in a listener")

    w.event_listeners[:0] = [broken]
    w.event_listeners.append(lambda _w, ev: seen.append(ev.action))
    a = engine.add("a")
    await eventually(lambda: seen == ["create", "start"] and a.id in w.containers)
    assert w.status.connected and w.status.reconnects == 0
    await stop(task)


async def test_a_slow_manager_gets_coalesced_passes_not_a_queue(engine: FakeEngine) -> None:
    from hinedockd.config import HinemosConfig
    from hinedockd.hinemos.reconciler import Reconciler
    from hinedockd.hinemos.rest import RestBackend
    from hinedockd.hinemos.sync import HostSync
    from hinedockd.testing.hinemos import FakeRestManager

    manager = FakeRestManager()
    base = await manager.start()
    manager.delay = 0.3  # every call
    backend = RestBackend(HinemosConfig(api="rest", url=f"{base}/HinemosWeb/api"), "hinemos")
    await backend.start()
    w, task = await watch(engine)
    sync = HostSync(w, Reconciler(backend, HinemosConfig()), full_sync_seconds=3600)
    sync.poke(full=True)
    sync_task = asyncio.create_task(sync.run())
    boxes = []
    for i in range(12):  # 24 lifecycle events while passes take seconds each
        boxes.append(engine.add(f"slow{i}"))
        await asyncio.sleep(0.25)
    expected = {"fake1", *(f"fake1-slow{i}" for i in range(12))}
    await eventually(lambda: set(manager.repo.nodes()) == expected, within=120)
    assert sync.passes < 12  # coalesced: far fewer passes than events
    engine.remove(boxes[0])
    await eventually(lambda: "fake1-slow0" not in manager.repo.nodes(), within=60)
    assert set(manager.repo.nodes()) == expected - {"fake1-slow0"}  # nothing else deleted
    sync_task.cancel()
    await asyncio.gather(sync_task, return_exceptions=True)
    await stop(task)
    await backend.close()
    await manager.stop()
