"""What happened to each container besides its state: restarts, OOM kills, exit codes,
start times, and the alerts they call for. Pure; its one writer is the host.

What the monitors users compare us with watch (check_docker's `--restarts`/`--uptime`,
Telegraf's `restart_count`/`oomkilled`/`exitcode`/`uptime_ns`, Zabbix agent 2's
template) comes from two places, both recorded for real (tests/data/*-lifecycle*):

- `GET /containers/{id}/json` (inspect), read after each lifecycle event and once per
  container at each connect: `RestartCount`, `State.OOMKilled`, `State.ExitCode`,
  `State.StartedAt` / `FinishedAt`, `State.Health.Status`;
- the events: each `start` of a container that had run before is a restart (Docker's
  restart policy sends `die` then `start`, no `restart`; Podman sends `die`,
  `restart`, `init`, `start`: counting starts counts each once on both), and Docker's
  `oom` event. Podman 4.3 on this cgroup v1 host sends no `oom` event and leaves
  `OOMKilled` false for a container its memory limit killed (exit code 137): the
  figure says what the engine says. Docker 26 on cgroup v2 (Debian 13) misses most
  kills of a detached container: in 4 `docker run -d --memory 32m` runs of a shell that
  doubles a string, the kernel logged the memory cgroup's kill each time (dmesg) but
  the engine sent an `oom` event and set `OOMKilled` once; attached runs were told 4 of
  4. The exit code 137 is what every engine tells; `hinedock exit` reads it.

Health itself lives on the `Container` (`model.py`): it is part of the node
(`DOCKER_HEALTH`), and the inventory is its one writer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hinedockd.metrics.sample import SampleError, parse_time
from hinedockd.model import HEALTH_CODES, STATS_STATES, Container, LifeFigures

# `hinedock health`: a number per health state, so that a numeric monitor can alert.


@dataclass(frozen=True)
class Inspected:
    """The part of an inspect answer this module reads."""

    health: str | None  # healthy / unhealthy / starting; None: no health check
    restart_count: int
    oom_killed: bool
    exit_code: int
    started_at: float  # epoch seconds; 0: never started
    finished_at: float  # 0: never finished
    health_command: str | None = None  # as the engine's exec events spell it


def health_command(test: Any) -> str | None:
    """`Config.Healthcheck.Test` as Docker's `exec_create: …` event spells the command
    it runs for each check: `["CMD-SHELL", "false"]` is `/bin/sh -c false` (seen on
    Docker 20.10 and 26, issue 28), `["CMD", "a", "b"]` is `a b`; None without a check."""
    if not isinstance(test, list) or not test or not all(isinstance(t, str) for t in test):
        return None
    if test[0] == "CMD-SHELL" and len(test) > 1:
        return "/bin/sh -c " + " ".join(test[1:])
    if test[0] == "CMD" and len(test) > 1:
        return " ".join(test[1:])
    return None


def _epoch(text: Any) -> float:
    """The engine's RFC 3339 time; 0 for the zero time ("0001-01-01T00:00:00Z") and
    for anything unreadable."""
    if not isinstance(text, str) or text.startswith("0001-"):
        return 0.0
    try:
        return max(0.0, parse_time(text))
    except SampleError:
        return 0.0


def health_of(raw: Any) -> str | None:
    """A health text as the engines write it (`State.Health.Status`, the text after
    `health_status: `), or None: no check (Docker: no `Health`; Podman: "")."""
    text = raw.strip().lower() if isinstance(raw, str) else ""
    return text if text in HEALTH_CODES else None


def inspected_from_json(doc: Any) -> Inspected:
    """Raises ValueError for an answer that is not an inspect document."""
    state = doc.get("State") if isinstance(doc, Mapping) else None
    if not isinstance(state, Mapping):
        raise ValueError("inspect answer has no State")
    health = state.get("Health")
    exit_code, restarts = state.get("ExitCode"), doc.get("RestartCount")
    config = doc.get("Config")
    check = config.get("Healthcheck") if isinstance(config, Mapping) else None
    return Inspected(
        health=health_of(health.get("Status")) if isinstance(health, Mapping) else None,
        restart_count=restarts if isinstance(restarts, int) and restarts > 0 else 0,
        oom_killed=state.get("OOMKilled") is True,
        exit_code=exit_code if isinstance(exit_code, int) else 0,
        started_at=_epoch(state.get("StartedAt")),
        finished_at=_epoch(state.get("FinishedAt")),
        health_command=health_command(check.get("Test")) if isinstance(check, Mapping)
        else None,
    )


AlertKind = Literal["unhealthy", "healthy", "oom_killed", "restart_loop"]


@dataclass(frozen=True)
class Alert:
    """A message of the daemon's own about one container (messages/framing.py writes
    it; the syslog hub sends it with the container's ID as HOSTNAME)."""

    kind: AlertKind
    container_id: str
    name: str
    restarts: int = 0  # restart_loop: starts seen within `window`
    window: float = 0.0
    exit_code: int = 0  # oom_killed

    @property
    def severity(self) -> Literal["warning", "info"]:
        return "info" if self.kind == "healthy" else "warning"


class HealthExecs:
    """Pure: which exec events are a health check's. Docker runs each check as an exec
    and tells it (`exec_create: /bin/sh -c false`, `exec_start: …`, `exec_die` with
    the same `execID`): a container checked every 5 s sent two lines every 5 s to syslog
    (issue 28). An exec whose command is the container's health test is a check; its
    `exec_die` is known by the execID (at most `limit` kept, the oldest forgotten)."""

    def __init__(self, limit: int = 4096) -> None:
        self._ids: dict[str, None] = {}
        self.limit = limit

    def is_check(self, action: str, attributes: Mapping[str, str],
                 command: str | None) -> bool:
        verb, _, cmd = action.partition(": ")
        exec_id = attributes.get("execID", "")
        if verb in ("exec_create", "exec_start"):
            if command is None or cmd != command:
                return False
            if exec_id:
                self._ids[exec_id] = None
                while len(self._ids) > self.limit:
                    del self._ids[next(iter(self._ids))]
            return True
        if verb in ("exec_die", "exec_detach") and exec_id in self._ids:
            if verb == "exec_die":
                del self._ids[exec_id]
            return True
        return False


def health_alert(c: Container, before: str | None, after: str | None) -> Alert | None:
    """What one health check result calls for (told on each `health_status` event:
    Docker sends one per change, Podman one per check). Becoming unhealthy is a
    warning; back from unhealthy to healthy is info; nothing else says anything. The
    health read at a connect (list, inspect) is not a check result: a daemon restart
    tells nothing again."""
    if after == "unhealthy" and before != "unhealthy":
        return Alert("unhealthy", c.id, c.name)
    if after == "healthy" and before == "unhealthy":
        return Alert("healthy", c.id, c.name)
    return None


@dataclass
class _Record:
    known_since: float  # when the daemon first heard of the container
    facts: Inspected | None = None
    has_run: bool = False  # a start seen, or the engine says it started before
    starts: deque[float] = field(default_factory=deque)  # restarts seen (times)
    ooms: deque[float] = field(default_factory=deque)  # `oom` events (times)
    loop_told_at: float | None = None
    oom_told: float = 0.0  # finished_at of the last OOM kill told


class Lifecycle:
    """Per container: the last inspect and what the daemon saw happen, kept for
    `retention` seconds. `loop_count` starts within `loop_seconds` are a restart loop,
    told once per `loop_seconds`."""

    def __init__(self, retention: float, loop_count: int, loop_seconds: float) -> None:
        self.retention, self.loop_count, self.loop_seconds = retention, loop_count, loop_seconds
        self._records: dict[str, _Record] = {}
        self._state_since: dict[str, float] = {}

    def __contains__(self, cid: str) -> bool:
        rec = self._records.get(cid)
        return rec is not None and rec.facts is not None

    def _record(self, cid: str, now: float) -> _Record:
        rec = self._records.get(cid)
        if rec is None:
            rec = self._records[cid] = _Record(known_since=now)
        return rec

    def forget(self, cid: str) -> None:
        self._records.pop(cid, None)
        self._state_since.pop(cid, None)

    def state_changed(self, cid: str, now: float) -> None:
        self._record(cid, now)
        self._state_since[cid] = now

    def inspected(self, c: Container, facts: Inspected, now: float) -> Alert | None:
        """A fresh inspect; an OOM kill that happened since the daemon knew the
        container (not one from before its start) is told once."""
        rec = self._record(c.id, now)
        first = rec.facts is None
        rec.facts = facts
        rec.has_run = rec.has_run or facts.started_at > 0
        if first and c.id not in self._state_since:
            since = facts.started_at if c.state in STATS_STATES else facts.finished_at
            self._state_since[c.id] = since or now
        if (facts.oom_killed and facts.finished_at > 0 and facts.finished_at != rec.oom_told
                and facts.finished_at >= rec.known_since - 5):
            rec.oom_told = facts.finished_at
            return Alert("oom_killed", c.id, c.name, exit_code=facts.exit_code)
        return None

    def started(self, c: Container, at: float) -> Alert | None:
        """A `start` event: a restart when the container had run before; a restart
        loop when `loop_count` of them fall within `loop_seconds`."""
        rec = self._record(c.id, at)
        if not rec.has_run:
            rec.has_run = True
            return None
        rec.starts.append(at)
        self._trim(rec.starts, at)
        recent = sum(1 for t in rec.starts if t > at - self.loop_seconds)
        if recent >= self.loop_count and (rec.loop_told_at is None
                                          or at - rec.loop_told_at >= self.loop_seconds):
            rec.loop_told_at = at
            return Alert("restart_loop", c.id, c.name, restarts=recent,
                         window=self.loop_seconds)
        return None

    def oom_event(self, cid: str, at: float) -> None:
        rec = self._record(cid, at)
        rec.ooms.append(at)
        self._trim(rec.ooms, at)

    def _trim(self, times: deque[float], now: float) -> None:
        while times and times[0] < now - self.retention:
            times.popleft()

    def health_command(self, cid: str) -> str | None:
        rec = self._records.get(cid)
        return rec.facts.health_command if rec is not None and rec.facts is not None else None

    def figures(self, c: Container, window: float, now: float) -> LifeFigures:
        rec = self._records.get(c.id)
        facts = rec.facts if rec else None
        since = self._state_since.get(c.id)
        running = c.state in STATS_STATES
        uptime = None
        if facts is not None:
            uptime = max(0.0, now - facts.started_at) if running and facts.started_at else 0.0
        return LifeFigures(
            id=c.id, name=c.name, state=c.state, health=c.health,
            restart_count=facts.restart_count if facts else None,
            restarts=sum(1 for t in rec.starts if t > now - window) if rec else 0,
            oom_killed=facts.oom_killed if facts else None,
            oom_events=sum(1 for t in rec.ooms if t > now - window) if rec else 0,
            exit_code=facts.exit_code if facts else None,
            uptime=uptime,
            state_age=max(0.0, now - since) if since else None,
        )
