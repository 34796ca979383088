"""A fleet on one daemon (issue 31): the hosts' poll rounds are staggered, their
connects and inspects share caps, and a storm of engines restarting at once loses
nothing, bursts nothing and leaves the other hosts answering."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hinedockd.config import DaemonConfig, HostConfig
from hinedockd.docker.fleet import STAGGER_SECONDS, STAGGER_SHARE, Fleet, round_offset
from hinedockd.docker.host import Host
from hinedockd.testing import FakeEngine
from hinedockd.testing.engine import InFlight
from tests.conftest import eventually
from tests.realparts import Daemon, wait_for


@given(st.integers(1, 500), st.sampled_from([10.0, 30.0, 60.0, 300.0]))
def test_rounds_are_spread_evenly_over_at_most_a_quarter_of_the_interval(
        hosts: int, interval: float) -> None:
    offsets = [round_offset(place, hosts, interval) for place in range(hosts)]
    assert offsets[0] == 0.0
    assert all(0 <= o <= STAGGER_SHARE * interval + 1e-9 for o in offsets)
    step = min(STAGGER_SECONDS, STAGGER_SHARE * interval / max(1, hosts - 1))
    assert all(b - a == pytest.approx(step) for a, b in itertools.pairwise(offsets))  # evenly


async def test_hosts_of_one_fleet_list_and_inspect_within_its_caps() -> None:
    """12 engines, each inspect and list taking 50 ms: with the fleet's caps at 2 lists
    and 5 inspects, no more are ever in flight at the engines together, and the caps
    were reached (without them 12 lists and 96 inspects could be)."""
    counted = InFlight()
    engines = [FakeEngine(in_flight=counted, answer_seconds=0.05) for _ in range(12)]
    for i, e in enumerate(engines):
        for j in range(20):
            e.add(f"c{i}_{j}")
        await e.start()
    fleet = Fleet(len(engines), lists=2, inspects=5)
    hosts = [Host(HostConfig(facility_id=f"h{i}", url=e.url, address="127.0.0.1"),
                  DaemonConfig(), fleet=fleet, place=i) for i, e in enumerate(engines)]
    tasks = [asyncio.create_task(h.run()) for h in hosts]
    try:
        await eventually(lambda: all(h.status.connected for h in hosts), within=30)
        await eventually(lambda: all(all(cid in h.lifecycle for cid in e.containers)
                                     for h, e in zip(hosts, engines, strict=True)), within=30)
        assert counted.most == {"list": 2, "inspect": 5}
        assert {h.poller.offset for h in hosts if h.poller} == {
            round_offset(i, 12, 60.0) for i in range(12)}
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for e in engines:
            await e.stop()


# ---- the storm: the daemon as shipped, 50 fake engines, the REST fake ----------------

HOSTS, RESTARTED, CONTAINERS = 50, 20, 10
PACE = 50  # [hinemos] max_calls_per_second, as shipped


def manager_stats(url: str, after: float | None = None) -> Any:
    query = f"?after={after}" if after is not None else ""
    with urllib.request.urlopen(f"{url}/_fake/stats{query}", timeout=10) as r:
        return json.loads(r.read())


def start_manager() -> tuple[subprocess.Popen[str], str]:
    """The REST fake in a process of its own (its calls a second are counted apart
    from this process's 50 engines); its API's URL."""
    manager = subprocess.Popen([sys.executable, "-m", "hinedockd.testing", "fake-rest-manager",
                                "--port", "0"], stdout=subprocess.PIPE, text=True)
    assert manager.stdout is not None
    return manager, next(w for w in manager.stdout.readline().split() if w.startswith("http://"))


def fleet_daemon(d: Path, engines: dict[str, FakeEngine], api_url: str,
                 hinemos: str = "") -> Daemon:
    """A daemon (not started) for these engines, each a host named by its key, with
    the REST manager at `api_url`; `hinemos`: more of its [hinemos] table."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "password").write_text("hinemos\n")
    hosts = "".join(f"""
[[hosts]]
facility_id = "{fid}"
url = "{e.url}"
address = "10.0.{i}.1"
""" for i, (fid, e) in enumerate(engines.items()))
    (d / "config.toml").write_text(f"""[daemon]
socket = "{d}/hinedockd.sock"
state_dir = "{d}/state"
log_format = "console"
[hinemos]
api = "rest"
url = "{api_url}"
password_file = "{d}/password"
{hinemos}
{hosts}""")
    return Daemon(f"{d}/hinedockd.sock", d / "config.toml", d / "daemon.log")


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[tuple[list[FakeEngine], Daemon, str]]:
    counted = InFlight()  # engines just restarted answer slowly: 0.2 s a list or inspect
    engines = [FakeEngine(in_flight=counted, answer_seconds=0.2) for _ in range(HOSTS)]
    for i, e in enumerate(engines):
        for j in range(CONTAINERS):
            e.add(f"c{i}_{j}")
        await e.start()
    manager, base = await asyncio.to_thread(start_manager)
    daemon = fleet_daemon(tmp_path, {f"fleet{i}": e for i, e in enumerate(engines)}, base,
                          f"max_calls_per_second = {PACE}")
    manager_url = base.removesuffix("/HinemosWeb/api")
    try:
        await asyncio.to_thread(daemon.start, False)
        yield engines, daemon, manager_url
    finally:
        daemon.stop()
        manager.terminate()
        manager.wait(timeout=10)
        for e in engines:
            await e.stop()


def all_connected(daemon: Daemon) -> bool:
    hosts = daemon.status_all()["hosts"]
    return len(hosts) == HOSTS and all(h["connected"] for h in hosts)


def report(daemon: Daemon, host: str) -> subprocess.CompletedProcess[str]:
    return daemon.run("MonitorDockerContainerStatus.py", "-i", host)


@pytest.mark.slow
async def test_twenty_of_fifty_engines_restarting_at_once(
        fleet: tuple[list[FakeEngine], Daemon, str]) -> None:
    engines, daemon, manager = fleet
    nodes = HOSTS * (CONTAINERS + 1)
    await asyncio.to_thread(wait_for, lambda: all_connected(daemon)
                            and manager_stats(manager)["nodes"] == nodes, 240,
                            "every host connected and every node in the repository")
    for i in range(RESTARTED):  # mark where each host's event history is
        daemon.api(f"/v1/hosts/fleet{i}/events", key="storm")
    writes_before = Counter(manager_stats(manager)["writes_by_operation"])
    engines[0].in_flight.most.clear()

    # The storm: 20 engines go down at the same moment; while down, every container of
    # each restarts and one is replaced by a new one; they come back at the same moment.
    storm_at = time.monotonic()
    restarts = [asyncio.create_task(e.restart(3.0)) for e in engines[:RESTARTED]]
    await asyncio.sleep(0.5)
    for i, e in enumerate(engines[:RESTARTED]):
        first = next(iter(e.containers.values()))
        e.set_state(first, "exited", "die")
        e.remove(first)
        e.add(f"new{i}")
    await asyncio.gather(*restarts)

    # Meanwhile the hosts that stayed up answer the report's commands, whole.
    answers = []
    while not await asyncio.to_thread(all_connected, daemon):
        answers.append(await asyncio.to_thread(report, daemon, f"fleet{HOSTS - 1}"))
    assert answers and all(a.returncode == 0 and len(a.stdout.splitlines()) == CONTAINERS
                           for a in answers), answers[-1]

    # Nothing lost: each restarted container's die and start, exactly once.
    for i in range(RESTARTED):
        texts = [e["text"] for e in daemon.api(f"/v1/hosts/fleet{i}/events",
                                               key="storm")["events"]]
        for j in range(CONTAINERS):
            name = f"name=c{i}_{j} "
            dies = sum(t.startswith("container die") and name in t + " " for t in texts)
            starts = sum(t.startswith("container start") and name in t + " " for t in texts)
            assert (dies, starts) == ((2, 1) if j == 0 else (1, 1)), (i, j, texts)
    # The repository follows: the replaced containers' nodes went, the new ones came.
    await asyncio.to_thread(
        wait_for, lambda: Counter(manager_stats(manager)["writes_by_operation"])
        - writes_before >= Counter({"deleteNode": RESTARTED, "addNode": RESTARTED}), 120,
        "the replaced containers' nodes deleted and the new ones added")
    stats = manager_stats(manager, after=storm_at)
    assert stats["nodes"] == nodes
    # Bounded: the fleet's caps at the engines; at the manager, the pace (the fake
    # counts calls as it serves them, and serves a backlog at once when its own loop
    # falls behind: twice the pace leaves room for that). Without the caps and the
    # pace this storm had 11 lists and 92 inspects in flight and sent the manager 209
    # calls in one second (2026-12-05).
    assert engines[0].in_flight.most["list"] <= 4
    assert engines[0].in_flight.most["inspect"] <= 32
    assert stats["peak_calls_per_second"] <= 2 * PACE


# ---- two daemons sharing one manager --------------------------------------------------

def holdings(repo: Any, hosts: list[str]) -> dict[str, Any]:
    """What the repository holds of these hosts' nodes: each node whole (its
    modifyDatetime with it) and the scopes it is a member of."""
    mine = [f for f in repo.nodes() if f.split("-")[0] in hosts]
    return {fid: (dict(repo.facilities[fid]),
                  sorted(s for s, f in repo.facilities.items() if fid in f.get("members", ())))
            for fid in mine}


@pytest.mark.slow
async def test_two_daemons_with_disjoint_hosts_leave_each_others_nodes_alone(
        tmp_path: Path) -> None:
    """Daemon A watches a0, a1, daemon B b0, b1; all their containers share a label
    scope and docker_container. Through full passes, a restart of each and a change
    on A's side, neither deletes, rewrites or re-scopes the other's nodes."""
    from hinedockd.testing.hinemos import FakeRestManager

    sides: dict[str, dict[str, FakeEngine]] = {"a": {}, "b": {}}
    for side, fleet_ in sides.items():
        for h in range(2):
            e = fleet_[f"{side}{h}"] = FakeEngine()
            for j in range(3):
                e.add(f"c{j}", labels={"hinemosAssignScopeId": "web"})
            await e.start()
    async with FakeRestManager() as fake:
        fake.repo.add_scope("", {"facilityId": "web", "facilityName": "web",  # the operator's
                                 "facilityType": 0, "ownerRoleId": "ALL_USERS"})
        daemons = {side: fleet_daemon(tmp_path / side, engines,
                                      f"{fake.base_url()}/HinemosWeb/api", "full_sync_seconds = 10")
                   for side, engines in sides.items()}
        everything = 2 * 2 * 4  # 2 daemons x 2 hosts x (the host's node and 3 containers)
        try:
            for d in daemons.values():
                await asyncio.to_thread(d.start)
            await eventually(lambda: len(fake.repo.nodes()) == everything, within=60)
            await asyncio.sleep(12)  # a full pass each
            assert all(h["hinemos"]["last_full_seconds"] > 0  # and `status` says how long
                       for d in daemons.values() for h in d.status_all()["hosts"])
            b_before = holdings(fake.repo, list(sides["b"]))
            assert len(b_before) == 8 and all("web" in scopes and "docker_container" in scopes
                                              for fid, (_, scopes) in b_before.items()
                                              if fid.count("-"))
            a_before = holdings(fake.repo, list(sides["a"]))
            # A restarts; meanwhile one of its containers goes and another comes.
            await asyncio.to_thread(daemons["a"].stop)
            a0 = sides["a"]["a0"]
            gone = next(iter(a0.containers.values()))
            a0.set_state(gone, "exited", "die")
            a0.remove(gone)
            a0.add("c9", labels={"hinemosAssignScopeId": "web"})
            await asyncio.to_thread(daemons["a"].start)
            await eventually(lambda: "a0-c9" in fake.repo.facilities
                             and "a0-c0" not in fake.repo.facilities, within=30)
            # B restarts too, and both make full passes over each other's scopes.
            await asyncio.to_thread(daemons["b"].stop)
            await asyncio.to_thread(daemons["b"].start)
            await asyncio.sleep(25)
            assert holdings(fake.repo, list(sides["b"])) == b_before
            a_after = holdings(fake.repo, list(sides["a"]))
            assert {k: v for k, v in a_after.items() if k not in ("a0", "a0-c9")} == {
                k: v for k, v in a_before.items() if k not in ("a0", "a0-c0")}
        finally:
            for d in daemons.values():
                d.stop()
            for engines in sides.values():
                for e in engines.values():
                    await e.stop()
