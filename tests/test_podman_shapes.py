"""Podman's Docker-compatible API, from its recorded answers (tests/data/*-podman4.3.*):
the dialect is found, memory is read from `usage`, received and sent are put the
right way round, packets are said to be absent, `remove` removes, and a state text
the daemon does not know never reads as "gone"."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hinedockd import monitors
from hinedockd.answers import MetricsAnswer
from hinedockd.config import DaemonConfig, HostConfig
from hinedockd.docker.dialect import DOCKER, PODMAN, dialect_from_version
from hinedockd.docker.events import LATE_NS, Cursor
from hinedockd.docker.host import Host
from hinedockd.docker.inventory import Inventory, Listing, parse_list
from hinedockd.docker.view import REMOVED, HostObserver, HostView
from hinedockd.metrics.figures import container_figures
from hinedockd.metrics.sample import parse_sample
from hinedockd.model import Container, ContainerState, EngineEvent
from hinedockd.testing import FakeEngine
from tests.conftest import DATA, eventually, fixture_json

HOST = HostConfig(facility_id="pod1", url="unix:///run/podman-ci.sock", address="127.0.0.1")


def test_the_dialect_comes_from_version() -> None:
    assert dialect_from_version(fixture_json("version-podman4.3.json")) == PODMAN
    assert dialect_from_version({"Version": "20.10.24", "ApiVersion": "1.41"}) == DOCKER
    assert dialect_from_version("garbage") == DOCKER


@pytest.mark.parametrize("version, swapped, packets", [
    ("4.3.1", True, False),  # measured (tests/data/*-podman4.3.*)
    ("4.4.0", False, False),  # containers/podman#16618: the direction fixed
    ("4.9.4-rhel", False, False),  # RHEL 9's
    ("5.0.0", False, True),  # containers/podman#21534: per interface, with packets
    ("5.4.2", False, True),  # Debian 13's (issue 28: eth0 tx_bytes of a server it sent)
    ("", True, False),  # no version: the measured one
    ("9" * 5000, False, True),  # a hostile engine's text: read on its first 9 digits
])
def test_podmans_dialect_follows_its_version(version: str, swapped: bool,
                                            packets: bool) -> None:
    doc = fixture_json("version-podman4.3.json")
    doc["Version"] = doc["Components"][0]["Version"] = version
    d = dialect_from_version(doc)
    assert (d.name, d.network_swapped, d.packets) == ("podman", swapped, packets)


def test_memory_without_a_stats_map_is_read_from_usage() -> None:
    doc = fixture_json("stats-podman4.3.json")
    s = parse_sample(doc)
    assert s is not None
    assert s.rss == doc["memory_stats"]["usage"] > 0
    assert dict(s.mem_stats) == {"usage": doc["memory_stats"]["usage"]}  # what exists


async def test_received_and_sent_are_swapped_back_and_packets_are_absent() -> None:
    host = Host(HOST, DaemonConfig())
    cid = "d" * 64
    host.inventory.set(cid, Container(cid, "web", ContainerState.RUNNING))
    host.samples.dialect = PODMAN
    doc = fixture_json("stats-podman4.3.json")
    for i, t in enumerate(("2026-12-02T07:43:13Z", "2026-12-02T07:43:23Z")):
        net = doc["networks"]["network"]
        net["rx_bytes"], net["tx_bytes"] = 100 * i, 5_000_000 * i  # the host side's view
        host.samples.on_doc(cid, {**doc, "read": t})
    f = container_figures(host.containers[cid], host.series(cid), window=60, now=None,
                          host_memory=1 << 30, scale="host", packets=PODMAN.packets).figures
    assert f is not None and f.net is not None
    assert (f.net.rx_bytes, f.net.tx_bytes) == (5_000_000, 100)  # the container received
    assert f.net.rx_packets is None
    answer = MetricsAnswer(host="pod1", window_requested=60, connected=True, host_figures=None,
                           all_running=None, engine="podman",
                           containers=[container_figures(
                               host.containers[cid], host.series(cid), window=60, now=None,
                               host_memory=1 << 30, scale="host", packets=False)])
    assert monitors.network(answer, {}).lines.text().startswith("nw_rxkb:dddddddd,5000000.00")
    with pytest.raises(monitors.MonitorError, match="podman gives no packet counts"):
        monitors.network(answer, {"packets": "1"})


async def test_podman_5_is_read_the_right_way_round_with_packets() -> None:
    """Podman 5.4.2 (recorded on cgroup v2, tests/data/README.md): a server that sent
    21,000,367 bytes (its own eth0 says so) reads as sent, with its packets. Before the
    dialect followed the version, every Podman was swapped and packets refused."""
    host = Host(HOST, DaemonConfig())
    cid = "e" * 64
    host.inventory.set(cid, Container(cid, "pweb", ContainerState.RUNNING))
    host.samples.dialect = dialect_from_version(fixture_json("version-podman5.4.json"))
    doc = fixture_json("stats-podman5.4.json")
    eth0 = doc["networks"]["eth0"]
    assert (eth0["tx_bytes"], eth0["rx_bytes"]) == (21_000_367, 17_202)  # as recorded
    start = {**doc, "networks": {"eth0": {k: 0 for k in eth0}}, "read": "2026-12-04T07:00:00Z"}
    host.samples.on_doc(cid, start)
    host.samples.on_doc(cid, {**doc, "read": "2026-12-04T07:00:10Z"})
    f = container_figures(host.containers[cid], host.series(cid), window=60, now=None,
                          host_memory=1 << 30, scale="host",
                          packets=host.samples.dialect.packets).figures
    assert f is not None and f.net is not None
    assert (f.net.rx_bytes, f.net.tx_bytes) == (17_202, 21_000_367)
    assert (f.net.rx_packets, f.net.tx_packets) == (253, 428)


async def test_the_recorded_lifecycle_ends_in_removal() -> None:
    told: list[str] = []
    host = Host(HOST, DaemonConfig())

    class Told(HostObserver):
        def state_reported(self, h: HostView, cid: str, name: str, state: str) -> None:
            told.append(state)

    host.subscribe(Told())
    for line in (DATA / "events-podman4.3.jsonl").read_bytes().splitlines():
        host.events.on_raw(line)
    assert told == ["created", "running", "paused", "running", "exited", REMOVED]
    assert host.containers == {}


def test_an_unknown_state_text_keeps_the_container_as_it_was() -> None:
    inventory = Inventory()
    item = {"Id": "a" * 64, "Names": ["/web"], "State": "running", "Status": "Up 1 minute"}

    def told(listing: Listing) -> list[tuple[str, str | None]]:
        return [(ch.cid[:4], ch.told) for ch in inventory.replace_all(listing)]

    assert told(parse_list([item])) == [("aaaa", "running")]
    listing = parse_list([{**item, "State": "stopping", "Status": "Stopping"}])
    assert listing.containers == [] and "stopping" in listing.unreadable["a" * 64]
    assert told(listing) == []  # Podman's slow stop: not gone, not told anything
    assert inventory.containers["a" * 64].state == ContainerState.RUNNING
    assert told(parse_list([{**item, "State": "exited", "Status": "Exited (0)"}])) == [
        ("aaaa", "exited")]
    assert told(parse_list([])) == [("aaaa", REMOVED)]


async def test_the_silence_watchdog_follows_the_streams_pace(tmp_path: Path) -> None:
    """Samples every 1.5 s with stats_silence_seconds = 1: the stream is kept (three
    of its own intervals allowed), not reopened between every two samples."""
    async with FakeEngine(sample_interval=1.5) as fake:
        box = fake.add("slow")
        host = Host(HostConfig(facility_id="f1", url=fake.url, address="127.0.0.1",
                               stats="stream"),
                    DaemonConfig(stats_silence_seconds=1.0))
        task = asyncio.create_task(host.run())
        try:
            await eventually(lambda: host.status.samples >= 4, within=15)
            assert fake.requests.count(f"stats {box.id[:12]}") == 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def test_podmans_unsplit_top_is_counted() -> None:
    from hinedockd.processes import compile_pattern, count_processes

    top = fixture_json("top-podman4.3.json")  # one title, one unsplit string per process
    assert count_processes(top, compile_pattern("sleep", "prog"),
                           compile_pattern("3600", "args")) == 1
    assert count_processes(top, compile_pattern("httpd", "prog"),
                           compile_pattern(".*", "args")) == 0
    docker_shape = {"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
                    "Processes": [["root", "1", "0", "0", "10:00", "?", "00:00:00",
                                   "/bin/sleep 3600"]]}
    assert count_processes(docker_shape, compile_pattern("sleep", "prog"),
                           compile_pattern("3600", "args")) == 1


def event(t: int, action: str = "start", actor: str = "c1") -> EngineEvent:
    return EngineEvent(type="container", action=action, actor_id=actor, attributes={},
                       time_nano=t)


def test_events_out_of_order_are_kept_once_and_replays_dropped() -> None:
    s = 10**9
    cursor = Cursor(90 * s)  # resumed from a saved cursor
    assert cursor.admit(event(100 * s, "create"))
    assert cursor.admit(event(100 * s - 70_000_000, "pull", "img"))  # 70 ms late: kept
    assert not cursor.admit(event(100 * s - 70_000_000, "pull", "img"))  # once
    assert not cursor.admit(event(100 * s - LATE_NS - 1, "old"))  # too old: a replay
    assert cursor.ns == 100 * s
    start = 100 * s - LATE_NS
    assert cursor.since() == {"since": f"{start // s}.{start % s:09d}"}


def test_after_a_restart_nothing_up_to_the_saved_cursor_is_told_again() -> None:
    cursor = Cursor(100 * 10**9)  # saved: everything up to it was sent
    assert not cursor.admit(event(100 * 10**9, "die"))  # since= includes its boundary
    assert not cursor.admit(event(99 * 10**9, "stop"))
    assert cursor.admit(event(100 * 10**9 + 1, "destroy"))


async def test_the_recorded_podman_events_are_all_admitted() -> None:
    host = Host(HOST, DaemonConfig())
    lines = (DATA / "events-podman4.3.jsonl").read_bytes().splitlines()
    for line in lines:
        host.events.on_raw(line)
    assert host.status.events == len(lines)  # the late `image pull` too


def test_a_fresh_start_never_resumes_before_its_first_event() -> None:
    cursor = Cursor()  # no saved cursor: the stream began "now"
    assert cursor.admit(event(100 * 10**9 + 5))
    assert cursor.since() == {"since": "100.000000005"}


def test_health_check_execs_are_told_apart_from_other_execs() -> None:
    """Docker 26 and 20.10 spell a check's exec `/bin/sh -c <test>` (issue 28)."""
    from hinedockd.docker.lifecycle import HealthExecs, health_command

    command = health_command(["CMD-SHELL", "false"])
    assert command == "/bin/sh -c false"
    assert health_command(["CMD", "curl", "-f", "http://x/"]) == "curl -f http://x/"
    assert health_command(["NONE"]) is None and health_command("garbage") is None
    checks = HealthExecs(limit=2)
    assert checks.is_check("exec_create: /bin/sh -c false", {"execID": "e1"}, command)
    assert checks.is_check("exec_start: /bin/sh -c false", {"execID": "e1"}, command)
    assert checks.is_check("exec_die", {"execID": "e1", "exitCode": "1"}, command)
    assert not checks.is_check("exec_die", {"execID": "e1"}, command)  # told once
    assert not checks.is_check("exec_create: sh -c id", {"execID": "e2"}, command)
    assert not checks.is_check("exec_die", {"execID": "e2"}, command)  # an operator's
    assert not checks.is_check("exec_create: /bin/sh -c false", {"execID": "e3"}, None)
