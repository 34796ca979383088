"""Health, restarts, OOM kills, exit codes and uptime, from the engines' recorded answers
(tests/data/inspect-lifecycle.json, events-lifecycle-*.jsonl: a container whose health
check fails, passes, fails; one killed by an 8 MiB limit; one with `--restart always`
exiting every second; Docker 20.10 and Podman 4.3.1 side by side)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hinedockd import monitors
from hinedockd.answers import LifecycleAnswer
from hinedockd.config import DaemonConfig, HostConfig
from hinedockd.docker.host import Host
from hinedockd.docker.lifecycle import (
    Alert,
    Inspected,
    Lifecycle,
    health_alert,
    inspected_from_json,
)
from hinedockd.docker.view import HostObserver, HostView
from hinedockd.messages.framing import alert_text
from hinedockd.model import Container, ContainerState, container_from_list
from tests.conftest import DATA, assert_hinemos_lines, fixture_json

INSPECT = fixture_json("inspect-lifecycle.json")
RUNNING = ContainerState.RUNNING


def test_the_recorded_inspects_read_as_each_engine_wrote_them() -> None:
    d, p = INSPECT["docker"], INSPECT["podman"]
    health = inspected_from_json(d["health"])
    assert (health.health, health.restart_count, health.oom_killed) == ("unhealthy", 0, False)
    assert health.started_at > 1.7e9 and health.finished_at == 0  # the zero time
    oom = inspected_from_json(d["oom"])
    assert (oom.oom_killed, oom.exit_code, oom.health) == (True, 137, None)
    assert oom.finished_at > oom.started_at > 0
    assert inspected_from_json(d["loop"]).restart_count == 5
    assert inspected_from_json(p["health"]).health == "healthy"
    # Podman 4.3 here: killed by its limit (exit 137) but not flagged OOMKilled; no check: "".
    p_oom = inspected_from_json(p["oom"])
    assert (p_oom.oom_killed, p_oom.exit_code, p_oom.health) == (False, 137, None)
    assert inspected_from_json(p["loop"]).restart_count == 4
    bad: object
    for bad in ({}, {"State": "running"}, [], "x"):
        with pytest.raises(ValueError):
            inspected_from_json(bad)


def test_docker_writes_the_health_into_the_list_status() -> None:
    item = {"Id": "a" * 64, "Names": ["/web"], "State": "running"}
    for status, health in [("Up 5 minutes (healthy)", "healthy"),
                           ("Up 2 seconds (health: starting)", "starting"),
                           ("Up 1 hour (unhealthy)", "unhealthy"), ("Up 5 minutes", None),
                           ("Up 5 minutes (Paused)", None)]:
        assert container_from_list({**item, "Status": status}).health == health


class Alerts(HostObserver):
    def __init__(self) -> None:
        self.told: list[Alert] = []

    def container_alert(self, host: HostView, alert: Alert) -> None:
        self.told.append(alert)


def replay(engine: str, loop_count: int = 3) -> tuple[Host, Alerts]:
    """The recorded events through a host (no engine behind it: no list, no inspect)."""
    host = Host(HostConfig(facility_id="h1", url="unix:///nowhere", address="127.0.0.1"),
                DaemonConfig(restart_loop_count=loop_count, restart_loop_seconds=60))
    alerts = Alerts()
    host.subscribe(alerts)
    lines = (DATA / events_file(engine)).read_bytes().splitlines()
    # Stop before the removals at the end, so that the containers are still there.
    for line in lines:
        if b'"Action":"destroy"' in line or b'"Action":"remove"' in line:
            break
        host.events.on_raw(line)
    return host, alerts


@pytest.mark.parametrize("engine", ["docker", "podman"])
async def test_every_restart_is_counted_once_and_a_loop_told_once(engine: str) -> None:
    host, alerts = replay(engine)
    loop = next(c for c in host.containers.values() if c.name == "probe_loop")
    f = host.life_figures(loop, window=900, now=loop_started(engine) + 1)
    # Docker: start/die pairs; Podman: die, restart, init, start. Each start after the
    # first is one restart, whatever else the engine sends.
    starts = sum(1 for line in (DATA / events_file(engine)).read_text().splitlines()
                 if '"Action":"start"' in line and "probe_loop" in line)
    assert f.restarts == starts - 1 >= 4
    loops = [a for a in alerts.told if a.kind == "restart_loop"]
    assert len(loops) == 1 and loops[0].restarts == 3 and loops[0].container_id == loop.id


def events_file(engine: str) -> str:
    return {"docker": "events-lifecycle-engine20.10.jsonl",
            "podman": "events-lifecycle-podman4.3.jsonl"}[engine]


def loop_started(engine: str) -> float:
    events = [json.loads(line) for line in (DATA / events_file(engine)).read_text().splitlines()]
    return max(int(e["timeNano"]) for e in events
               if e["Actor"]["Attributes"].get("name") == "probe_loop") / 1e9


async def test_docker_health_events_tell_each_change_and_podman_waits_for_the_inspect(
) -> None:
    host, alerts = replay("docker")
    told = [(a.kind, a.severity) for a in alerts.told if a.kind in ("healthy", "unhealthy")]
    # Recorded: unhealthy, healthy, unhealthy (the check file made, then removed).
    assert told == [("unhealthy", "warning"), ("healthy", "info"), ("unhealthy", "warning")]
    checked = next(c for c in host.containers.values() if c.name == "probe_dh")
    assert checked.health == "unhealthy"
    host, alerts = replay("podman")  # `health_status` with no result in it
    assert [a for a in alerts.told if a.kind in ("healthy", "unhealthy")] == []


def test_health_alerts_follow_the_check_results() -> None:
    c = Container("c" * 64, "web", RUNNING)
    assert health_alert(c, None, "unhealthy") == Alert("unhealthy", c.id, "web")
    assert health_alert(c, "starting", "unhealthy") is not None
    assert health_alert(c, "unhealthy", "unhealthy") is None  # Podman: every check
    assert health_alert(c, "unhealthy", "healthy") == Alert("healthy", c.id, "web")
    assert health_alert(c, "starting", "healthy") is None
    assert health_alert(c, None, "healthy") is None


def facts(**kw: Any) -> Inspected:
    base: dict[str, Any] = {"health": None, "restart_count": 0, "oom_killed": False,
                            "exit_code": 0, "started_at": 1000.0, "finished_at": 0.0}
    return Inspected(**{**base, **kw})


def test_an_oom_kill_is_told_once_and_never_one_from_before_the_daemon() -> None:
    life = Lifecycle(retention=900, loop_count=5, loop_seconds=300)
    old = Container("o" * 64, "old", ContainerState.EXITED)
    # Killed an hour before the daemon first heard of it: a figure, not a message.
    assert life.inspected(old, facts(oom_killed=True, exit_code=137, finished_at=1000.0),
                          now=4600.0) is None
    assert life.figures(old, 60, 4600.0).oom_killed is True
    new = Container("n" * 64, "new", RUNNING)
    life.state_changed(new.id, 5000.0)  # created while the daemon runs
    dead = Container(new.id, "new", ContainerState.EXITED)
    killed = facts(oom_killed=True, exit_code=137, finished_at=5001.0)
    assert life.inspected(dead, killed, 5001.5) == Alert("oom_killed", new.id, "new",
                                                          exit_code=137)
    assert life.inspected(dead, killed, 5002.0) is None  # the same kill, inspected again


def test_uptime_grows_while_running_and_is_zero_after() -> None:
    life = Lifecycle(retention=900, loop_count=5, loop_seconds=300)
    c = Container("u" * 64, "up", RUNNING)
    life.inspected(c, facts(started_at=1000.0), now=1000.5)
    assert life.figures(c, 60, 1100.0).uptime == pytest.approx(100.0)
    assert life.figures(c, 60, 1200.0).uptime == pytest.approx(200.0)
    stopped = Container(c.id, "up", ContainerState.EXITED)
    life.state_changed(c.id, 1250.0)
    life.inspected(stopped, facts(started_at=1000.0, finished_at=1250.0, exit_code=143), 1251)
    f = life.figures(stopped, 60, 1300.0)
    assert (f.uptime, f.exit_code) == (0.0, 143) and f.state_age == pytest.approx(50.0)


def test_restarts_within_the_window_and_the_loop_rule() -> None:
    life = Lifecycle(retention=900, loop_count=3, loop_seconds=60)
    c = Container("r" * 64, "r", RUNNING)
    assert life.started(c, 0.0) is None  # its first start
    told = [life.started(c, t) for t in (10.0, 20.0, 30.0, 40.0, 95.0, 98.0, 100.0)]
    # Three within 60 s at 30 (told); at 40 still a loop, told already; at 98 three
    # again (40, 95, 98), 68 s after the first message: told again; not at 100.
    assert [a.kind if a else None for a in told] == [None, None, "restart_loop", None, None,
                                                      "restart_loop", None]
    assert life.figures(c, 60, 100.0).restarts == 3
    assert life.figures(c, 900, 100.0).restarts == 7


def answer(*figures: Any) -> LifecycleAnswer:
    return LifecycleAnswer(host="h1", window=60, connected=True, containers=list(figures))


def test_lines_are_keyed_by_name_and_pass_the_hinemos_rule() -> None:
    life = Lifecycle(retention=900, loop_count=5, loop_seconds=300)
    web = Container("w" * 64, "web", RUNNING, health="unhealthy")
    job = Container("j" * 64, "job", ContainerState.EXITED)
    life.inspected(web, facts(restart_count=3, health="unhealthy"), 1000.0)
    life.inspected(job, facts(exit_code=137, oom_killed=True, finished_at=1500.0), 1600.0)
    data = answer(life.figures(web, 60, 2000.0), life.figures(job, 60, 2000.0))
    out = {name: assert_hinemos_lines(fmt(data, {}).lines.text()) for name, fmt in (
        ("health", monitors.health), ("restarts", monitors.restarts), ("oom", monitors.oom),
        ("exit", monitors.exit_code), ("uptime", monitors.uptime))}
    assert out["health"] == [("health:web", 1.0)]  # job has no check
    assert ("restart_count:web", 3.0) in out["restarts"]
    assert ("oom_killed:job", 1.0) in out["oom"] and ("oom_killed:web", 0.0) in out["oom"]
    assert ("exit_code:job", 137.0) in out["exit"]
    assert ("uptime:web", 1000.0) in out["uptime"] and ("uptime:job", 0.0) in out["uptime"]
    with pytest.raises(monitors.MonitorError, match="no health check"):
        monitors.health(answer(life.figures(job, 60, 2000.0)), {"name": "job"})
    unknown = Container("x" * 64, "fresh", RUNNING)
    with pytest.raises(monitors.MonitorError, match="not inspected yet"):
        monitors.exit_code(answer(life.figures(unknown, 60, 2000.0)), {"name": "fresh"})


def test_alert_messages_carry_one_pattern_each() -> None:
    assert alert_text("4dfd0a12b9de", "oom_killed", "web1", (("exit_code", 137),)) == \
        "4dfd0a12b9de oom_killed name=web1 exit_code=137"
    hostile = alert_text("4dfd0a12b9de", "unhealthy", "x\n<13>FAKE\x1b")
    assert hostile == "4dfd0a12b9de unhealthy name=x <13>FAKE " and "\n" not in hostile
