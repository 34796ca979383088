"""One host's containers and the states told about them: the single writer. Pure.

Fed from three places, all in `docker/host.py`: the full list (after each connect
and every `relist_seconds`), lifecycle events (which set a state at once), and a
one-container re-list after each event (which brings the other attributes; the
engine's list can lag its own events by a moment, so it never sets the state).
Every change is handed to two callbacks: `on_change(cid, old, new)` and, when the state
differs from the one last told, `on_state(cid, name, state)`. The last-told states
survive daemon restarts (`persist.py`), so a change while the daemon was down is
told once, and a container gone meanwhile is told `removed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hinedockd.docker.lifecycle import health_of
from hinedockd.docker.view import REMOVED
from hinedockd.model import (
    Container,
    ContainerState,
    EngineEvent,
    StateError,
    container_from_list,
)

# What a lifecycle action tells at once; a re-list of that one container follows.
ACTION_STATE = {
    "create": ContainerState.CREATED, "start": ContainerState.RUNNING,
    "restart": ContainerState.RUNNING, "unpause": ContainerState.RUNNING,
    "pause": ContainerState.PAUSED, "die": ContainerState.EXITED, "stop": ContainerState.EXITED,
}
# Event attributes that are not labels (Podman adds its bookkeeping to every event;
# Docker 26's `die` carries `execDuration`, Podman 5's events `network` and `error`:
# issue 28).
NON_LABEL_ATTRIBUTES = frozenset({"name", "image", "exitCode", "signal", "execID", "oldName",
                                  "containerExitCode", "podId", "execDuration", "network",
                                  "error", "health_status"})
# Actions that say a container no longer exists: Docker's `destroy`, Podman's `remove`.
REMOVAL_ACTIONS = frozenset({"destroy", "remove"})

ChangeCallback = Callable[[str, Container | None, Container | None], None]
StateCallback = Callable[[str, str, str], None]  # container ID, name, state or REMOVED


@dataclass
class Listing:
    """A `GET /containers/json` answer: the containers read, and the IDs of those
    that could not be (a state text nobody knows, such as Podman's `stopping`, or a
    malformed entry), with why. Those are still there: never read as gone."""

    containers: list[Container] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)


def parse_list(items: Any) -> Listing:
    out = Listing()
    for item in items if isinstance(items, list) else []:
        try:
            out.containers.append(container_from_list(item))
        except (StateError, KeyError, TypeError, AttributeError) as e:
            cid = item.get("Id") if isinstance(item, Mapping) else None
            out.unreadable[cid if isinstance(cid, str) and cid else ""] = str(e)
    return out


class Inventory:
    def __init__(self, on_change: ChangeCallback, on_state: StateCallback,
                 reported: Mapping[str, str] | None = None) -> None:
        self._on_change, self._on_state = on_change, on_state
        self.containers: dict[str, Container] = {}
        self.reported: dict[str, str] = dict(reported or {})
        self.dirty = False  # reported states changed since the last checkpoint

    def set(self, cid: str, new: Container | None) -> None:
        old = self.containers.get(cid)
        if new is None:
            self.containers.pop(cid, None)
        elif old != new:
            # An unchanged container keeps its object: a re-list every minute of 10,000
            # replaced 150,000 objects, which the garbage collector then walked.
            self.containers[cid] = new
        if old != new:
            self._on_change(cid, old, new)
        known = new or old
        self._report(cid, known.name if known else cid[:12], new.state if new else None)

    def _with_known_health(self, listed: Container) -> Container:
        """The list gives the health only on Docker (in its `Status` text): where it
        says nothing, what events and inspect said stands (a health check cannot be
        taken off a container)."""
        known = self.containers.get(listed.id)
        if listed.health is None and known is not None and known.health is not None:
            return replace(listed, health=known.health)
        return listed

    def set_health(self, cid: str, health: str | None) -> None:
        """From an inspect (Podman's only source) or a `health_status` event."""
        c = self.containers.get(cid)
        if c is not None and health is not None and c.health != health:
            self.set(cid, replace(c, health=health))

    def replace_all(self, listing: Listing) -> None:
        """A full list is the truth: containers missing from it are gone, also those
        last told before a daemon restart. One listed but unreadable keeps what is
        known of it (a state text the daemon does not know is not an absence)."""
        seen = {c.id: self._with_known_health(c) for c in listing.containers}
        present = seen.keys() | listing.unreadable.keys()
        for cid in list(self.containers):
            if cid not in present:
                self.set(cid, None)
        for cid in list(self.reported):
            if cid not in present and cid not in self.containers:
                self._report(cid, cid[:12], None)
        for cid, c in seen.items():
            self.set(cid, c)

    def apply_event(self, ev: EngineEvent, action: str) -> bool:
        """A container lifecycle event; True when a one-container re-list should
        follow (to learn what the event does not say)."""
        cid = ev.actor_id
        if action in REMOVAL_ACTIONS:
            self.set(cid, None)
            return False
        old = self.containers.get(cid)
        attrs = ev.attributes
        if action == "health_status":
            # Docker: "health_status: unhealthy"; Podman: the bare action (inspect tells).
            if old is not None:
                self.set_health(cid, health_of(ev.action.partition(":")[2]))
            return True
        state = ACTION_STATE.get(action)
        if old is None:
            labels = {k: v for k, v in attrs.items() if k not in NON_LABEL_ATTRIBUTES}
            new = Container(id=cid, name=attrs.get("name", cid[:12]),
                            state=state or ContainerState.CREATED,
                            image=attrs.get("image", ""), labels=labels)
        else:
            name = attrs.get("name", old.name) if action == "rename" else old.name
            new = replace(old, state=state or old.state, name=name)
        self.set(cid, new)
        return True

    def refreshed(self, listed: Container) -> None:
        """A one-container re-list: its attributes, but the state the events said.
        A container that is gone meanwhile is left to its destroy event."""
        current = self.containers.get(listed.id)
        if current is not None:
            self.set(listed.id, replace(self._with_known_health(listed), state=current.state))

    def _report(self, cid: str, name: str, state: str | None) -> None:
        if state is None:
            if self.reported.pop(cid, None) is None:
                return
            state = REMOVED
        elif self.reported.get(cid) == state:
            return
        else:
            self.reported[cid] = state
        self.dirty = True
        self._on_state(cid, name, state)
