"""Events and state changes reach a real rsyslog over UDP and TCP, parse the way Hinemos
reads RFC 3164 with the right HOSTNAME, survive receiver outages and daemon restarts: on
Docker and on Podman (what depends on the engine runs on both; the receiver's outage,
the status view and dockerd's restart once)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hinemos_syslog import Parsed, parse
from tests.realparts import (
    ENGINE_URLS,
    ENGINES,
    ON_DOCKER_ONLY,
    Daemon,
    Rsyslog,
    docker,
    restart_engine,
    run_container,
    start_daemon,
    wait_for,
    wait_started,
)


@pytest.fixture(scope="module")
def daemon(engine_cli: str, rsyslog: Rsyslog,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    yield from start_daemon(tmp_path_factory.mktemp(f"hinedockd-syslog-{engine_cli}"), f"""
[[syslog]]
target = "udp://127.0.0.1:{rsyslog.port}"
[[syslog]]
target = "tcp://127.0.0.1:{rsyslog.port}"
queue_size = 50
""", host_url=ENGINE_URLS[engine_cli])


def received(rsyslog: Rsyslog, hostname: str, contains: str) -> list[Parsed]:
    """Messages (as Hinemos parses them) for this HOSTNAME whose text contains `contains`."""
    return [p for p in map(parse, rsyslog.lines())
            if p.hostname == hostname and contains in p.message]


def test_events_and_state_changes_arrive_with_the_right_hostname(
        daemon: Daemon, rsyslog: Rsyslog, engine_cli: str) -> None:
    cid = run_container("sys1", "sleep", "3600", cli=engine_cli)
    short = cid[:12]
    wait_for(lambda: len(received(rsyslog, "docker_host1", f"container start id={short}")) == 2,
             what="the start event, once per target (UDP and TCP)")
    wait_for(lambda: len(received(rsyslog, short, f"{short} running")) == 2,
             what="the running state, HOSTNAME = container ID")
    docker("stop", "-t", "1", cid, cli=engine_cli)
    wait_for(lambda: len(received(rsyslog, short, f"{short} exited")) == 2, what="exited")
    docker("rm", cid, cli=engine_cli)
    wait_for(lambda: len(received(rsyslog, short, f"{short} removed")) == 2, what="removed")
    start = received(rsyslog, "docker_host1", f"container start id={short}")[0]
    assert start.tag == "hinedockd" and "name=hdt_sys1" in start.message
    assert all(line.startswith("<") for line in rsyslog.lines())  # no stray line anywhere


@ON_DOCKER_ONLY
def test_status_view(daemon: Daemon, rsyslog: Rsyslog) -> None:
    r = daemon.run("hinedock", "status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["HOST", "ENGINE", "SINCE", "LAST"]
    host = next(line for line in lines if line.startswith("docker_host1"))
    assert host.split()[1] == "connected"
    assert any(line.startswith(f"udp://127.0.0.1:{rsyslog.port}") for line in lines)
    assert any(line.startswith(f"tcp://127.0.0.1:{rsyslog.port}") for line in lines)
    assert "DROPPED" in r.stdout


def test_hostile_labels_arrive_sanitised(daemon: Daemon, rsyslog: Rsyslog,
                                         engine_cli: str) -> None:
    evil = "x\n<13>Nov  8 09:05:03 admin su: FAKE\r\x1b[31m"
    cid = run_container("evil", "sleep", "3600", extra=("-l", f"note={evil}",
                                                        "-l", "日本=ラベル"), cli=engine_cli)
    wait_for(lambda: len(received(rsyslog, "docker_host1", f"create id={cid[:12]}")) == 2,
             what="the create event")
    (msg, _) = received(rsyslog, "docker_host1", f"create id={cid[:12]}")
    assert "note=x <13>Nov  8 09:05:03 admin su: FAKE" in msg.message
    assert "日本=ラベル" in msg.message
    assert not any("FAKE" in line and not line.startswith("<") for line in rsyslog.lines())
    assert not any("\x1b" in line for line in rsyslog.lines())
    docker("rm", "-f", cid, cli=engine_cli)


@ON_DOCKER_ONLY
def test_receiver_outage_leaves_the_daemon_healthy_and_counts_drops(
        daemon: Daemon, rsyslog: Rsyslog) -> None:
    rsyslog.stop()
    names = [f"out{i}" for i in range(12)]
    for n in names:  # 12 containers x (create, start, state...) > the TCP queue of 50
        run_container(n, "sleep", "3600")
    for n in names:
        docker("rm", "-f", f"hdt_{n}")
    wait_for(lambda: any(s["dropped"] > 0 for s in daemon.status_all()["syslog"]),
             what="drops counted on the TCP target")
    assert daemon.status()["connected"]  # metrics and events go on
    tcp = next(s for s in daemon.status_all()["syslog"] if s["target"].startswith("tcp"))
    assert not tcp["connected"] and tcp["last_error"]
    rsyslog.start()

    def tcp_caught_up() -> bool:
        tcp = next(s for s in daemon.status_all()["syslog"] if s["target"].startswith("tcp"))
        return bool(tcp["connected"]) and tcp["queued"] == 0

    wait_for(tcp_caught_up, within=60, what="TCP reconnected (with backoff) and queue sent")
    cid = run_container("after", "sleep", "3600")
    wait_for(lambda: len(received(rsyslog, cid[:12], f"{cid[:12]} running")) == 2,
             what="messages flow again on both targets")
    docker("rm", "-f", cid)


def test_no_state_change_lost_across_a_daemon_restart(
        daemon: Daemon, rsyslog: Rsyslog, engine_cli: str) -> None:
    keep = run_container("keep", "sleep", "3600", cli=engine_cli)
    wait_for(lambda: len(received(rsyslog, keep[:12], f"{keep[:12]} running")) == 2)
    # Its cursor saved (within a second of the messages leaving), then a crash.
    saved = daemon.config.parent / "state" / "host-docker_host1.json"
    wait_for(lambda: saved.exists() and keep in json.loads(saved.read_text())["states"],
             what="the daemon's state saved")
    daemon.stop(signal.SIGKILL)  # a crash, not a clean stop
    docker("stop", "-t", "1", keep, cli=engine_cli)
    new = run_container("whiledown", "sleep", "3600", cli=engine_cli)
    daemon.start()
    wait_for(lambda: len(received(rsyslog, keep[:12], f"{keep[:12]} exited")) == 2,
             what="the stop while the daemon was down")
    wait_for(lambda: len(received(rsyslog, new[:12], f"{new[:12]} running")) == 2,
             what="the start while the daemon was down")
    wait_for(lambda: len(received(rsyslog, "docker_host1", f"start id={new[:12]}")) == 2,
             what="the replayed events")
    time.sleep(2)
    # Told once each, not once per reconnect; not moved backwards by the replay.
    assert len(received(rsyslog, keep[:12], f"{keep[:12]} running")) == 2
    assert len(received(rsyslog, keep[:12], f"{keep[:12]} exited")) == 2
    docker("rm", "-f", keep, new, cli=engine_cli)


def test_report_commands_for_events_and_states(daemon: Daemon, rsyslog: Rsyslog,
                                               tmp_path: Path, engine_cli: str) -> None:
    cid = run_container("cron", "sleep", "3600", cli=engine_cli)
    wait_started(daemon, cid)
    log = tmp_path / "events.log"
    wait_for(lambda: daemon.run("MonitorDockerHostEvent.py", "-i", "docker_host1", "-k", "e1",
                                "-f", str(log)).returncode == 0 and log.exists()
             and f"id={cid[:12]}" in log.read_text(), what="events in the file")
    first = log.read_text()
    if ENGINES[engine_cli].family == "docker":
        # The history keeps every event; the [[syslog]] target's default skips the
        # network's connect that every start repeats.
        assert "network connect id=" in first
        assert not received(rsyslog, "docker_host1", "network connect")
    r = daemon.run("MonitorDockerHostEvent.py", "-k", "e1", "-f", str(log))
    assert r.returncode == 0 and r.stdout == ""
    assert log.read_text() == first  # nothing new since the previous call with this key
    r = daemon.run("MonitorDockerContainerStatus.py", "-c", cid[:12], "-s",
                   f"127.0.0.1:{rsyslog.port}")
    assert r.returncode == 0, r.stderr
    date, clock, short, state = r.stdout.split()
    assert (short, state) == (cid[:12], "running") and len(date) == 10 and len(clock) == 8
    wait_for(lambda: len(received(rsyslog, cid[:12], f"{cid[:12]} running")) >= 3,
             what="the status command's own message")
    r = daemon.run("MonitorDockerHostEvent.py", "-k", "e2")
    assert r.returncode == 1 and "-s SYSLOG_HOST:PORT or -f LOGFILE" in r.stderr
    # One severity table: the report's command sends a `die` at the daemon's priority.
    docker("stop", "-t", "1", cid, cli=engine_cli)
    die = f"container die id={cid[:12]}"
    wait_for(lambda: len(received(rsyslog, "docker_host1", die)) == 2, what="the die event")
    r = daemon.run("MonitorDockerHostEvent.py", "-k", "e1", "-s", f"127.0.0.1:{rsyslog.port}")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len(received(rsyslog, "docker_host1", die)) == 3,
             what="the die event sent by the report's command")
    assert {m.pri for m in received(rsyslog, "docker_host1", die)} == {12}  # user.warning
    docker("rm", "-f", cid, check=False, cli=engine_cli)


@ON_DOCKER_ONLY
@pytest.mark.root
@pytest.mark.skipif(os.environ.get("HINEDOCK_TEST_ENGINE_RESTART") != "1",
                    reason="restarts dockerd: set HINEDOCK_TEST_ENGINE_RESTART=1 (.ci/run does)")
def test_no_state_change_lost_across_an_engine_restart(daemon: Daemon,
                                                       rsyslog: Rsyslog) -> None:
    cid = run_container("engine", "sleep", "3600")
    short = cid[:12]
    wait_for(lambda: len(received(rsyslog, short, f"{short} running")) == 2)

    def while_down() -> None:
        wait_for(lambda: not daemon.status()["connected"], what="daemon sees the engine gone")

    restart_engine(while_down)
    # The engine stopped the container on its way down; the daemon says so once it is back.
    wait_for(lambda: len(received(rsyslog, short, f"{short} exited")) == 2, within=90,
             what="the stop during the engine's restart")
    docker("start", cid)
    wait_for(lambda: len(received(rsyslog, short, f"{short} running")) == 4,
             what="running again after the restart")
    docker("rm", "-f", cid)


@ON_DOCKER_ONLY
def test_health_check_execs_stay_out_of_syslog(daemon: Daemon, rsyslog: Rsyslog,
                                               engine_cli: str) -> None:
    """A check every second was two syslog lines a second (`exec_create: /bin/sh -c
    false`, `exec_start`, issue 28); now only its result (health_status) is told, and
    an operator's own exec still is."""
    cid = run_container("sysh", "sleep", "3600", cli=engine_cli,
                        extra=("--health-cmd", "false", "--health-interval", "1s",
                               "--health-retries", "1"))
    short = cid[:12]
    told = f"health_status: unhealthy id={short}"
    wait_for(lambda: bool(received(rsyslog, "docker_host1", told)), within=30,
             what="the check's result told")
    time.sleep(3)  # three more checks
    docker("exec", cid, "sh", "-c", "exit 0", cli=engine_cli)
    mine = f"exec_create: sh -c exit 0 id={short}"
    wait_for(lambda: bool(received(rsyslog, "docker_host1", mine)), what="the operator's exec")
    checks = [p.message for p in received(rsyslog, "docker_host1", f"id={short}")
              if "/bin/sh -c false" in p.message]
    assert checks == [], checks[:3]
    # The operator's exec_die, once per target: it may follow its exec_create by a
    # moment (the CLI returns on the exit code, the event comes when the engine reaps it)
    wait_for(lambda: len(received(rsyslog, "docker_host1", f"exec_die id={short}")) >= 2,
             within=10, what="the operator's exec_die")
    dies = received(rsyslog, "docker_host1", f"exec_die id={short}")
    assert len(dies) == 2, [p.message for p in dies]
    docker("rm", "-f", cid, cli=engine_cli)
