"""Plain domain objects: containers, their states, engine events. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

# How CPU percent is scaled (README): "host", percent of the whole host (0-100); "core",
# percent of one core, as `docker stats` (0-100 x cores).
CpuScale = Literal["host", "core"]


class ContainerState(StrEnum):
    """The engine's `State` (SPEC §2), in the order the report's monitors list them."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


def state_counts(containers: Iterable[Container]) -> dict[str, int]:
    """Containers per state, every state present (0 where none): the report's host
    count, the status view and a host node's push all count this way."""
    counts = {s.value: 0 for s in ContainerState}
    for c in containers:
        counts[c.state] += 1
    return counts


# A Hinemos facility ID (HINEMOS.md §1.5: the manager's RepositoryValidator).
FACILITY_ID_RE = re.compile(r"^[A-Za-z0-9_.@-]+$")
FACILITY_ID_MAX = 512

# States in which the engine serves a live stats stream worth reading.
STATS_STATES = frozenset({ContainerState.RUNNING, ContainerState.PAUSED})
# Container actions that change what we know about a container (SPEC §3 triggers).
LIFECYCLE_ACTIONS = frozenset({
    "create", "start", "die", "stop", "kill", "pause", "unpause", "restart",
    "rename", "destroy", "oom", "update",
    "remove",  # Podman's destroy
    "health_status",  # the node's DOCKER_HEALTH
})


class StateError(ValueError):
    """An engine answer whose state cannot be understood."""


_STATUS_RULES = (
    (re.compile(r"^Exited"), ContainerState.EXITED),
    (re.compile(r"^Restarting"), ContainerState.RESTARTING),
    (re.compile(r"^Up .*\(Paused\)$"), ContainerState.PAUSED),
    (re.compile(r"^Up"), ContainerState.RUNNING),
    (re.compile(r"^Created"), ContainerState.CREATED),
    (re.compile(r"^Dead"), ContainerState.DEAD),
    (re.compile(r"^Removal In Progress"), ContainerState.REMOVING),
)


def state_from_status(status: str) -> ContainerState:
    """Old engines only give the human `Status` text (SPEC §2)."""
    if not status.strip():
        return ContainerState.EXITED
    for rule, state in _STATUS_RULES:
        if rule.search(status):
            return state
    raise StateError(f"unknown container status text {status!r}")


def container_state(state: Any, status: Any) -> ContainerState:
    """`State` wins; the `Status` text is the fallback for engines without it."""
    if isinstance(state, str) and state:
        try:
            return ContainerState(state.lower())
        except ValueError:
            raise StateError(f"unknown container state {state!r}") from None
    return state_from_status(status if isinstance(status, str) else "")


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    state: ContainerState
    image: str = ""
    command: str = ""
    ports: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    # healthy / unhealthy / starting; None: no health check, or not known yet
    health: str | None = None

    @property
    def short_id(self) -> str:
        return self.id[:12]


def _labels(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v) for k, v in raw.items()}


def _port_text(ip: Any, public: Any, private: Any, proto: Any) -> str:
    host = f"{ip}:" if ip and ip not in ("0.0.0.0", "::") else ""
    return f"{host}{public}->{private}/{proto}"


# Docker writes the health into the list's `Status` text: "Up 5 minutes (healthy)",
# "(unhealthy)", "Up 1 second (health: starting)"; Podman 4.3 does not (its health
# comes from inspect: docker/lifecycle.py).
_HEALTH_IN_STATUS = re.compile(r"\((healthy|unhealthy|health: starting)\)\s*$")


def health_in_status(status: Any) -> str | None:
    m = _HEALTH_IN_STATUS.search(status) if isinstance(status, str) else None
    return None if m is None else m.group(1).removeprefix("health: ")


def container_from_list(item: Mapping[str, Any]) -> Container:
    """An element of `GET /containers/json?all=1`."""
    names = item.get("Names") or []
    name = str(names[0]).lstrip("/") if names else str(item.get("Id", ""))[:12]
    ports = tuple(sorted({
        _port_text(p.get("IP"), p["PublicPort"], p.get("PrivatePort"), p.get("Type", "tcp"))
        for p in item.get("Ports") or [] if isinstance(p, Mapping) and p.get("PublicPort")
    }))
    return Container(
        id=str(item["Id"]),
        name=name,
        state=container_state(item.get("State"), item.get("Status")),
        image=str(item.get("Image", "")),
        command=str(item.get("Command", "")),
        ports=ports,
        labels=_labels(item.get("Labels")),
        health=health_in_status(item.get("Status")),
    )


@dataclass(frozen=True)
class EngineEvent:
    """One `/events` message; only the fields that survive API 1.52."""

    type: str
    action: str
    actor_id: str
    attributes: Mapping[str, str]
    time_nano: int

    @property
    def key(self) -> tuple[int, str, str, str]:
        return (self.time_nano, self.type, self.action, self.actor_id)


def event_from_json(doc: Any) -> EngineEvent:
    if not isinstance(doc, Mapping):
        raise ValueError(f"event is not an object: {type(doc).__name__}")
    actor = doc.get("Actor")
    if not isinstance(actor, Mapping):
        raise ValueError("event has no Actor")
    tn = doc.get("timeNano")
    if not isinstance(tn, int) or isinstance(tn, bool):
        t = doc.get("time")
        if not isinstance(t, int) or isinstance(t, bool):
            raise ValueError("event has neither timeNano nor time")
        tn = t * 1_000_000_000
    typ, action = doc.get("Type"), doc.get("Action")
    if not isinstance(typ, str) or not isinstance(action, str):
        raise ValueError("event has no Type/Action")
    # Actions like "exec_start: sh -c ..." or "health_status: healthy" carry text after ':'.
    return EngineEvent(
        type=typ,
        action=action,
        actor_id=str(actor.get("ID", "")),
        attributes=_labels(actor.get("Attributes")),
        time_nano=tn,
    )


def matches(c: Container, ids: str | None, names: str | None) -> bool:
    """The report's `-c` / `-n` selection: exact, or prefix with a trailing `*`."""
    if ids:
        # An ID names a container by its full ID or its 12-char short ID (the node name).
        return _match(c.id, ids) or (not ids.endswith("*") and c.short_id == ids)
    if names:
        return _match(c.name, names)
    return True


def _match(value: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern



# ---- a container's lifecycle figures, and the report's rule for each ------------------

HEALTH_CODES = {"healthy": 0, "unhealthy": 1, "starting": 2}
NOT_INSPECTED = "not inspected yet (the daemon reads it within seconds of a change)"


@dataclass(frozen=True)
class LifeFigures:
    """One container's answer for `hinedock health|restarts|oom|exit|uptime`; the
    engine's facts are None until its first inspect."""

    id: str
    name: str
    state: str
    health: str | None
    restart_count: int | None
    restarts: int  # restarts seen within the window
    oom_killed: bool | None
    oom_events: int  # `oom` events within the window
    exit_code: int | None
    uptime: float | None  # seconds since StartedAt while running or paused, else 0
    state_age: float | None  # seconds since the last state change


@dataclass(frozen=True)
class LifeFigure:
    """One lifecycle key (the report's `KEY:<name>` less the name; a custom trap
    item's KEY when `pushed`): its value, or why there is none (str), or None when it
    is left out without a word. The monitors print the value or the reason; the
    custom trap sends the value or nothing. Window counts (`restarts`, `oom_events`)
    and `state_age` are not pushed: the trap's own interval is their window."""

    value: Callable[[LifeFigures], float | str | None]
    pushed: bool = True


def _health(f: LifeFigures) -> float | str:
    if not f.health:
        return "no health check"
    if f.state not in STATS_STATES:
        return f"not running ({f.state})"  # the check does not run
    return HEALTH_CODES[f.health]


def _exit_code(f: LifeFigures) -> float | str:
    if f.exit_code is None:
        return NOT_INSPECTED
    if f.exit_code < 0:  # older agents take no sign (README: the agents' patterns)
        return f"exit code {f.exit_code} cannot be printed for Hinemos"
    return f.exit_code


LIFE_FIGURES: Mapping[str, LifeFigure] = {
    "health": LifeFigure(_health),
    "restart_count": LifeFigure(
        lambda f: NOT_INSPECTED if f.restart_count is None else f.restart_count),
    "restarts": LifeFigure(lambda f: f.restarts, pushed=False),
    "oom_killed": LifeFigure(
        lambda f: NOT_INSPECTED if f.oom_killed is None else int(f.oom_killed)),
    "oom_events": LifeFigure(lambda f: f.oom_events, pushed=False),
    "exit_code": LifeFigure(_exit_code),
    "uptime": LifeFigure(lambda f: NOT_INSPECTED if f.uptime is None else int(f.uptime)),
    "state_age": LifeFigure(
        lambda f: None if f.state_age is None else int(f.state_age), pushed=False),
}
