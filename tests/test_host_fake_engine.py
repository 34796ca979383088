"""The host watcher against the fake engine: faults a real engine won't produce on
demand (cut streams, silent streams) and exact figures from known counters."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hinedockd.config import DaemonConfig, HostConfig
from hinedockd.docker.engine import Engine, EngineError
from hinedockd.docker.host import Host
from hinedockd.docker.stats import (
    FIRST_GAP_SECONDS,
    ROUND_LEAD_SECONDS,
    SampleRate,
    StatsStreams,
    round_lead,
)
from hinedockd.docker.view import HostObserver, HostView
from hinedockd.metrics.figures import container_figures
from hinedockd.model import Container, ContainerState, EngineEvent
from hinedockd.rounds import next_round
from hinedockd.testing import FakeEngine
from tests.conftest import eventually

DAEMON = DaemonConfig(stats_silence_seconds=1.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeEngine]:
    e = FakeEngine(sample_interval=0.2)
    await e.start()
    yield e
    await e.stop()


class Events(HostObserver):
    """Records the engine events a host tells."""

    def __init__(self) -> None:
        self.seen: list[EngineEvent] = []

    def engine_event(self, host: HostView, event: EngineEvent) -> None:
        self.seen.append(event)


def pumps(w: Host) -> StatsStreams:
    assert w.streams is not None
    return w.streams


async def watch(fake: FakeEngine, **host: object) -> tuple[Host, asyncio.Task[None]]:
    cfg = HostConfig(facility_id="fake1", url=fake.url, address="127.0.0.1", stats="stream")
    w = Host(dataclasses.replace(cfg, **host), DAEMON)  # type: ignore[arg-type]
    task = asyncio.create_task(w.run())
    await eventually(lambda: w.status.connected)
    return w, task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_cut_events_stream_resumes_without_losing_or_repeating(fake: FakeEngine) -> None:
    a = fake.add("a")
    w, task = await watch(fake)
    events = Events()
    w.subscribe(events)
    seen = events.seen
    b = fake.add("b")
    await eventually(lambda: len(seen) == 2)
    fake.cut_streams()
    # Changes while the stream is down reach the daemon by the since= replay.
    fake.set_state(a, "paused", "pause")
    fake.set_state(b, "exited", "die")
    c = fake.add("c")
    # Reconnected and listed: the replay, held until the list was applied, is all in.
    await eventually(lambda: w.status.reconnects >= 1 and w.status.connected and len(seen) >= 6)
    keys = [ev.key for ev in seen]
    assert len(keys) == len(set(keys)) == 6, "an event was lost or repeated"
    assert [ev.action for ev in seen[2:]] == ["pause", "die", "create", "start"]
    assert any(r.startswith("events since=") and r != "events since=None"
               for r in fake.requests)
    assert {cid: ct.state for cid, ct in w.containers.items()} == {
        a.id: "paused", b.id: "exited", c.id: "running"}
    assert w.status.reconnects >= 1
    await stop(task)


async def test_a_quiet_engine_that_restarts_loses_none_of_its_events(fake: FakeEngine) -> None:
    """No event between the connect and the engine's restart: the reconnect still asks
    for what came since the connect (the engine's clock at /info), not for nothing."""
    a = fake.add("a")
    w, task = await watch(fake)
    events = Events()
    w.subscribe(events)
    await fake.unlisten(hang_up=True)
    fake.cut_streams()
    fake.set_state(a, "exited", "die")
    fake.set_state(a, "running", "start")
    await fake.listen()
    await eventually(lambda: [ev.action for ev in events.seen] == ["die", "start"])
    assert w.cursor.ns == events.seen[-1].time_nano
    await stop(task)


async def test_relist_after_reconnect_catches_what_replay_cannot(fake: FakeEngine) -> None:
    a = fake.add("a")
    w, task = await watch(fake)
    fake.cut_streams()
    # More than the engine's 256-event replay buffer happens during the gap.
    for _ in range(300):
        fake.emit(a, "exec_start: true")
    gone = fake.add("gone")
    fake.remove(gone)
    fake.set_state(a, "exited", "die")
    await eventually(lambda: w.containers.get(a.id, None) is not None
                     and w.containers[a.id].state == "exited")
    assert gone.id not in w.containers
    await stop(task)


async def test_stats_pumps_follow_the_lifecycle(fake: FakeEngine) -> None:
    a = fake.add("a", cpu_rate=0.5, io_rate=4000)
    w, task = await watch(fake)
    def covered() -> float:
        series = w.series(a.id)
        d = series.delta(60) if series else None
        return d.seconds if d else 0.0

    await eventually(lambda: a.id in pumps(w).pumps and covered() >= 1.0)
    f = container_figures(w.containers[a.id], w.series(a.id), window=60, now=None,
                          host_memory=8 << 30, scale="host").figures
    assert f is not None
    assert f.cpu.percent == pytest.approx(25.0, rel=0.1)  # 0.5 core of 2
    assert f.disk.write_per_second == pytest.approx(4000, rel=0.1)
    assert f.net is not None and f.net.rx_bytes_per_second == pytest.approx(4000, rel=0.1)
    fake.set_state(a, "exited", "die")
    await eventually(lambda: a.id not in pumps(w).pumps)
    fake.set_state(a, "running", "start")
    await eventually(lambda: a.id in pumps(w).pumps)
    fake.remove(a)
    await eventually(lambda: a.id not in w.containers and w.series(a.id) is None)
    assert not pumps(w).pumps
    await stop(task)


async def test_silent_stats_stream_is_reopened(fake: FakeEngine) -> None:
    a = fake.add("a")
    w, task = await watch(fake)
    await eventually(lambda: w.status.samples > 0)
    opened = fake.requests.count(f"stats {a.id[:12]}")
    fake.silent = True
    await eventually(lambda: fake.requests.count(f"stats {a.id[:12]}") > opened)
    fake.silent = False
    samples = w.status.samples
    await eventually(lambda: w.status.samples > samples)
    await stop(task)


async def test_poll_mode_samples_without_streams(fake: FakeEngine) -> None:
    fake.add("a")
    w, task = await watch(fake, stats="poll", poll_interval_seconds=1.0)
    await eventually(lambda: w.status.samples >= 2, within=5)
    assert w.streams is None and w.poller is not None
    await stop(task)


async def test_a_container_that_starts_answers_within_seconds_between_rounds(
        fake: FakeEngine) -> None:
    """Polled every 30 s (the default), a container started between rounds is
    sampled at once and FIRST_GAP_SECONDS later: it has a CPU rate long before the
    next two rounds would give it one."""
    w, task = await watch(fake, stats="poll", poll_interval_seconds=30.0)
    started = time.monotonic()
    b = fake.add("b", cpu_rate=0.5)
    await eventually(lambda: (s := w.series(b.id)) is not None and s.delta(60) is not None,
                     within=FIRST_GAP_SECONDS + 3)
    assert time.monotonic() - started < FIRST_GAP_SECONDS + 3
    assert fake.requests.count(f"stats {b.id[:12]}") <= 3  # no stream, no more than asked
    assert w.streams_open() == 0
    await stop(task)


def test_poll_rounds_fall_a_second_before_each_multiple_of_the_interval() -> None:
    for now in (0.0, 28.9, 29.0, 29.5, 59.0, 1_796_000_000.3):
        at = next_round(now, 30.0, ROUND_LEAD_SECONDS)
        assert now < at <= now + 30.0 and (at + ROUND_LEAD_SECONDS) % 30.0 == 0, (now, at)


@given(st.floats(0, 2e9), st.floats(0, 600), st.sampled_from([10.0, 30.0, 60.0, 300.0]))
def test_a_round_that_takes_long_starts_early_enough_to_end_before_the_multiple(
        now: float, took: float, interval: float) -> None:
    lead = round_lead(took, interval)
    at = next_round(now, interval, lead)
    assert now < at <= now + interval
    assert ROUND_LEAD_SECONDS <= lead <= max(ROUND_LEAD_SECONDS, interval / 2)
    multiple = round((at + lead) / interval) * interval
    assert abs(at + lead - multiple) < 1e-3  # the round starts `lead` before a multiple
    if took + ROUND_LEAD_SECONDS <= interval / 2:  # and, taking `took`, ends a second before
        assert at + took == pytest.approx(multiple - ROUND_LEAD_SECONDS, abs=1e-3)


def test_samples_a_minute_from_the_running_total() -> None:
    rate = SampleRate()
    assert rate.per_minute() is None
    for i in range(30):  # 100 containers polled every 30 s: 200 a minute
        rate.mark(i * 5.0, int(i * 5.0 * 200 / 60))
    per_minute = rate.per_minute()
    assert per_minute is not None and abs(per_minute - 200) < 2


async def test_bad_samples_and_events_are_counted_not_fatal(fake: FakeEngine) -> None:
    a = fake.add("a")
    w, task = await watch(fake)
    w.samples.on_raw(a.id, b'{"read": "2026-01-01T00:00:00Z"}')
    w.samples.on_raw(a.id, b"{truncated")
    w.events.on_raw(b'{"Type": "container"}')
    w.events.on_raw(b"\xff\xfe")
    assert w.status.bad_samples == 2
    assert w.status.connected and a.id in w.containers
    await stop(task)


async def test_unreachable_host_fails_alone(fake: FakeEngine) -> None:
    fake.add("a")
    good, good_task = await watch(fake)
    bad = Host(HostConfig(facility_id="dead", url="tcp://127.0.0.1:1",
                                 address="127.0.0.2"), DAEMON)
    bad_task = asyncio.create_task(bad.run())
    await eventually(lambda: bad.status.last_error != "")
    assert "dead" in bad.status.last_error and not bad.status.connected
    assert good.status.connected
    await stop(bad_task)
    await stop(good_task)


def test_container_is_plain_data() -> None:
    c = Container(id="x" * 64, name="n", state=ContainerState.RUNNING)
    assert c.short_id == "x" * 12


async def test_a_failing_observer_ends_the_host_with_its_error(fake: FakeEngine) -> None:
    """Observers do not fail: one that raises has a bug, and the host ends with it
    (the supervisor then stops the daemon, systemd restarts it) instead of going on
    with the observer told nothing: a Hinemos sync or syslog hub silently dead."""
    w, task = await watch(fake)

    class Broken(HostObserver):
        def engine_event(self, host: HostView, event: EngineEvent) -> None:
            raise RuntimeError("bug in an observer")

    w.subscribe(Broken())
    fake.add("a")
    with pytest.raises(BaseExceptionGroup) as ended:
        await asyncio.wait_for(task, 20)
    assert ended.group_contains(RuntimeError, match="bug in an observer")


@pytest.mark.slow
async def test_a_slow_manager_gets_coalesced_passes_not_a_queue(fake: FakeEngine) -> None:
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
    w, task = await watch(fake)
    sync = HostSync(w, Reconciler(backend, HinemosConfig()), full_sync_seconds=3600)
    w.subscribe(sync)
    sync.poke(full=True)
    sync_task = asyncio.create_task(sync.run())
    boxes = []
    for i in range(12):  # 24 lifecycle events while passes take seconds each
        boxes.append(fake.add(f"slow{i}"))
        await asyncio.sleep(0.25)
    expected = {"fake1", *(f"fake1-slow{i}" for i in range(12))}
    await eventually(lambda: set(manager.repo.nodes()) == expected, within=120)
    assert sync.passes < 12  # coalesced: far fewer passes than events
    fake.remove(boxes[0])
    await eventually(lambda: "fake1-slow0" not in manager.repo.nodes(), within=60)
    assert set(manager.repo.nodes()) == expected - {"fake1-slow0"}  # nothing else deleted
    sync_task.cancel()
    await asyncio.gather(sync_task, return_exceptions=True)
    await stop(task)
    await backend.close()
    await manager.stop()


async def test_a_one_shot_answer_comes_whole_and_a_gone_container_says_404(
        fake: FakeEngine) -> None:
    """The poller's own connection (`Engine.get_once`): the document as the engine
    sent it, and a container removed meanwhile as the 404 the poller passes over."""
    a = fake.add("a")
    engine = Engine(HostConfig(facility_id="fake1", url=fake.url, address="127.0.0.1"))
    try:
        raw = await engine.get_once(f"containers/{a.id}/stats",
                                    {"stream": "false", "one-shot": "true"})
        assert orjson.loads(raw)["id"] == a.id
        with pytest.raises(EngineError) as gone:
            await engine.get_once("containers/nosuch/stats", {"stream": "false"})
        assert gone.value.status == 404 and "No such container" in str(gone.value)
    finally:
        await engine.close()


async def test_an_engine_upgraded_in_place_is_spoken_to_at_its_new_version(
        fake: FakeEngine) -> None:
    """The engine restarts as one whose minimum API is newer than what the daemon spoke:
    each call at the old version is answered "client version 1.41 is too old". The
    daemon chooses the version again at the reconnect and goes on (before, aiodocker's
    choice held until the daemon restarted)."""
    w, task = await watch(fake)
    try:
        assert w.engine.api_version == "v1.41"
        fake.upgrade("1.47", "1.44")
        pinned = Engine(w.host)  # the old way: one choice for the life of the process
        pinned.docker.api_version = "v1.41"
        with pytest.raises(EngineError, match=r"client version 1\.41 is too old"):
            await pinned.get_json("containers/json")
        await pinned.close()
        await eventually(lambda: w.engine.api_version == "v1.45" and w.status.connected,
                         within=15)
        added = fake.add("after_upgrade")
        await eventually(lambda: added.id in w.containers)
    finally:
        await stop(task)


def test_the_api_version_spoken_is_ours_to_choose() -> None:
    from hinedockd.docker.engine import TESTED_API, choose_api

    assert TESTED_API == (1, 45)  # Docker 26.1, recorded (tests/data/*-docker26.*)
    assert choose_api({"ApiVersion": "1.41", "MinAPIVersion": "1.12"}) == "v1.41"  # 20.10
    assert choose_api({"ApiVersion": "1.52", "MinAPIVersion": "1.44"}) == "v1.45"  # 29
    assert choose_api({"ApiVersion": "1.52", "MinAPIVersion": "1.47"}) == "v1.47"  # its minimum
    assert choose_api({"ApiVersion": "1.41"}) == "v1.41"  # Podman's compat API
    assert choose_api({"ApiVersion": "garbage"}) is None and choose_api([]) is None
    assert choose_api({"ApiVersion": "9" * 5000}) is None  # an engine's text, bounded
    assert choose_api({"ApiVersion": "1.45-beta"}) is None
