"""The push to custom trap monitoring from the daemon (its own process) on the real
engines, into the fake receiver (hinedockd/testing/customtrap.py, which follows the
manager's source): a busy container's `cpu_usage` arrives on its node every interval
and matches `hinedock cpu` over the same window within 1 point; a state change
arrives as a `string` item within 1 s; a manager away for 2 minutes loses no state
item and the figures come back at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from hinedockd.testing.customtrap import FakeCustomTrapManager
from tests.conftest import eventually
from tests.realparts import (
    ENGINE_URLS,
    ON_DOCKER_ONLY,
    Daemon,
    docker,
    one_cpu,
    run_container,
    start_daemon,
)

INTERVAL = 10  # the least the config takes


@pytest.fixture
async def manager() -> AsyncIterator[FakeCustomTrapManager]:
    async with FakeCustomTrapManager() as m:
        # The repository sync makes these nodes; an unknown ID would land in UNREGISTERED.
        m.nodes = {"docker_host1", *(f"docker_host1-hdt_{n}"
                                     for n in ("trap_busy", "trap_away", "trap_keep"))}
        yield m


@pytest.fixture
def daemon(manager: FakeCustomTrapManager, engine_cli: str,
           tmp_path: Path) -> Iterator[Daemon]:
    yield from start_daemon(tmp_path, f"""
[hinemos.customtrap]
url = "{manager.url}"
interval_seconds = {INTERVAL}
keys = ["cpu_usage", "host_mem_usage", "uptime"]
""", host_url=ENGINE_URLS[engine_cli])


async def cpu_now(daemon: Daemon, name: str) -> float:
    return await asyncio.to_thread(one_cpu, daemon, name, "--window", str(INTERVAL))


async def test_figures_each_interval_and_states_at_once(
        manager: FakeCustomTrapManager, daemon: Daemon, engine_cli: str) -> None:
    cid = await asyncio.to_thread(run_container, "trap_busy", "sh", "-c", "yes > /dev/null",
                                  cli=engine_cli)
    node = "docker_host1-hdt_trap_busy"
    # Podman's first samples come 5 s apart and its start lags its CLI under load.
    await eventually(lambda: len(manager.items(node, "cpu_usage")) >= 2, within=6 * INTERVAL)
    # Right after a round, the client's answer covers the same window, unless the
    # engine's next sample came in between (Podman's every 5 s: then the windows
    # differ by a sample and the next round is compared).
    def more_than(n: int) -> Callable[[], bool]:
        return lambda: len(manager.items(node, "cpu_usage")) > n

    pairs = []
    for _ in range(3):
        await eventually(more_than(len(manager.items(node, "cpu_usage"))), within=2 * INTERVAL)
        pushed = float(manager.items(node, "cpu_usage")[-1].msg)
        pairs.append((pushed, await cpu_now(daemon, "hdt_trap_busy")))
        if abs(pairs[-1][0] - pairs[-1][1]) < 1:
            break
    assert all(p > 20 for p, _ in pairs) and abs(pairs[-1][0] - pairs[-1][1]) < 1, pairs
    stamps = [r.sampled for r in manager.items(node, "cpu_usage")]
    assert all(s is not None and s.second % INTERVAL == 0 for s in stamps)  # one per round
    assert len(set(stamps)) == len(stamps)
    host = {r.key: r.msg for r in manager.items("docker_host1")}
    assert host["engine_status"] == "1" and int(host["running"]) >= 1, host
    assert any(r.msg.startswith("container start ") and "name=hdt_trap_busy" in r.msg
               for r in manager.items("docker_host1", "event"))
    # Only the nodes the (dry-run) repository sync made: nothing lands in UNREGISTERED.
    assert {r.facility_id for r in manager.received} <= manager.nodes

    started = time.monotonic()
    await asyncio.to_thread(docker, "stop", "-t", "1", cid, cli=engine_cli)
    stopped_at = time.monotonic()
    await eventually(lambda: any(r.msg == "exited" for r in manager.items(node, "state")),
                     within=10)
    arrived = time.monotonic()
    # Within 1 s of the engine's CLI returning on Docker here; Podman's own events lag
    # its CLI by seconds under load (docker/dialect.py), the push does not add to it;
    # the VM's engines run under software emulation.
    assert arrived - stopped_at < {"docker": 1.0, "podman": 6.0, "docker26": 3.0,
                                   "podman5": 6.0}[engine_cli], (
        arrived - stopped_at, stopped_at - started)
    await asyncio.to_thread(docker, "rm", "-f", cid, cli=engine_cli)
    await eventually(lambda: any(r.msg == "removed" for r in manager.items(node, "state")),
                     within=10)


@ON_DOCKER_ONLY
@pytest.mark.slow
async def test_a_manager_away_for_two_minutes_loses_no_state(
        manager: FakeCustomTrapManager, daemon: Daemon, engine_cli: str) -> None:
    cid = await asyncio.to_thread(run_container, "trap_away", "sleep", "3600",
                                  cli=engine_cli)
    keep = await asyncio.to_thread(run_container, "trap_keep", "sleep", "3600",
                                   cli=engine_cli)
    node, kept = "docker_host1-hdt_trap_away", "docker_host1-hdt_trap_keep"
    await eventually(lambda: bool(manager.items(node, "uptime"))
                     and bool(manager.items(kept, "uptime")), within=3 * INTERVAL)
    await manager.unlisten(hang_up=True)
    away = time.monotonic()
    for _ in range(3):
        await asyncio.to_thread(docker, "pause", cid, cli=engine_cli)
        await asyncio.to_thread(docker, "unpause", cid, cli=engine_cli)
    await asyncio.to_thread(docker, "stop", "-t", "1", cid, cli=engine_cli)
    await asyncio.sleep(max(0.0, 120 - (time.monotonic() - away)))
    figures_before = len(manager.items(node, "uptime"))
    kept_before = len(manager.items(kept, "uptime"))
    await manager.listen()
    back, wall_back = time.monotonic(), time.time() - 1
    await eventually(lambda: [r.msg for r in manager.items(node, "state")][-7:] == [
        "paused", "running", "paused", "running", "paused", "running", "exited"], within=45)
    assert time.monotonic() - back < 45
    # Of the intervals away only the newest round is sent, at once (backoff: at most
    # half an interval); the stopped container has none.
    await eventually(lambda: len(manager.items(kept, "uptime")) > kept_before,
                     within=INTERVAL / 2 + 2)
    dated_away = [r for r in manager.items(kept, "uptime")[kept_before:]
                  if r.sampled is not None and r.sampled.timestamp() < wall_back]
    assert len(dated_away) <= 1, dated_away  # newest wins: no replay of the missed rounds
    assert len(manager.items(node, "uptime")) == figures_before
    await eventually(lambda: any(r.sampled is not None and r.sampled.timestamp() > wall_back
                                 for r in manager.items(kept, "uptime")), within=INTERVAL + 5)
    await asyncio.to_thread(docker, "rm", "-f", cid, keep, cli=engine_cli)
