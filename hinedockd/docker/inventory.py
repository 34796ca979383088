"""One host's containers and the states told about them: the single writer. Pure.

Fed from three places, all in `docker/host.py`: the full list (after each connect
and every `relist_seconds`), lifecycle events (which set a state at once), and a
one-container re-list after each event (which brings the other attributes; the
engine's list can lag its own events by a moment, so it never sets the state).
Every write returns what it changed, as `Change`s, for its caller to hand on (the
inventory calls nobody back): a container's entry before and after, and the state to
tell where it differs from the one last told. The last-told states survive daemon
restarts (`persist.py`), so a change while the daemon was down is told once, and a
container gone meanwhile is told `removed`.
"""

from __future__ import annotations

from collections.abc import Mapping
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


@dataclass(frozen=True, slots=True)
class Change:
    """One container after a write: its entry `old` -> `new` (None: absent; the same
    when only a state is told), and `told`, the state to tell under `name` where it
    differs from the one last told (a `ContainerState` value or `REMOVED`; None:
    nothing to tell)."""

    cid: str
    old: Container | None
    new: Container | None
    name: str
    told: str | None

    @property
    def entry_changed(self) -> bool:
        return self.old != self.new


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
    def __init__(self, reported: Mapping[str, str] | None = None) -> None:
        self.containers: dict[str, Container] = {}
        self.reported: dict[str, str] = dict(reported or {})
        self.dirty = False  # reported states changed since the last checkpoint

    def set(self, cid: str, new: Container | None) -> list[Change]:
        old = self.containers.get(cid)
        if new is None:
            self.containers.pop(cid, None)
        elif old != new:
            # An unchanged container keeps its object: a re-list every minute of 10,000
            # replaced 150,000 objects, which the garbage collector then walked.
            self.containers[cid] = new
        known = new or old
        name = known.name if known else cid[:12]
        told = self._report(cid, new.state if new else None)
        return [Change(cid, old, new, name, told)] if old != new or told else []

    def _with_known_health(self, listed: Container) -> Container:
        """The list gives the health only on Docker (in its `Status` text): where it
        says nothing, what events and inspect said stands (a health check cannot be
        taken off a container)."""
        known = self.containers.get(listed.id)
        if listed.health is None and known is not None and known.health is not None:
            return replace(listed, health=known.health)
        return listed

    def set_health(self, cid: str, health: str | None) -> list[Change]:
        """From an inspect (Podman's only source) or a `health_status` event."""
        c = self.containers.get(cid)
        if c is not None and health is not None and c.health != health:
            return self.set(cid, replace(c, health=health))
        return []

    def replace_all(self, listing: Listing) -> list[Change]:
        """A full list is the truth: containers missing from it are gone, also those
        last told before a daemon restart. One listed but unreadable keeps what is
        known of it (a state text the daemon does not know is not an absence)."""
        seen = {c.id: self._with_known_health(c) for c in listing.containers}
        present = seen.keys() | listing.unreadable.keys()
        # Gone: those held, then those only told (a second `set` of one is a no-op).
        changes = [ch for cid in [*self.containers, *self.reported] if cid not in present
                   for ch in self.set(cid, None)]
        for cid, c in seen.items():
            changes += self.set(cid, c)
        return changes

    def apply_event(self, ev: EngineEvent, action: str) -> list[Change]:
        """A container lifecycle event (a one-container re-list follows it, but for a
        removal, to learn what the event does not say)."""
        cid = ev.actor_id
        if action in REMOVAL_ACTIONS:
            return self.set(cid, None)
        old = self.containers.get(cid)
        attrs = ev.attributes
        if action == "health_status":
            # Docker: "health_status: unhealthy"; Podman: the bare action (inspect tells).
            health = health_of(ev.action.partition(":")[2])
            return [] if old is None else self.set_health(cid, health)
        state = ACTION_STATE.get(action)
        if old is None:
            labels = {k: v for k, v in attrs.items() if k not in NON_LABEL_ATTRIBUTES}
            new = Container(id=cid, name=attrs.get("name", cid[:12]),
                            state=state or ContainerState.CREATED,
                            image=attrs.get("image", ""), labels=labels)
        else:
            name = attrs.get("name", old.name) if action == "rename" else old.name
            new = replace(old, state=state or old.state, name=name)
        return self.set(cid, new)

    def refreshed(self, listed: Container) -> list[Change]:
        """A one-container re-list: its attributes, but the state the events said.
        A container that is gone meanwhile is left to its destroy event."""
        current = self.containers.get(listed.id)
        if current is None:
            return []
        return self.set(listed.id, replace(self._with_known_health(listed), state=current.state))

    def _report(self, cid: str, state: str | None) -> str | None:
        """Keeps `state` (None: gone) as the one last told; returns what to tell."""
        if state is None:
            if self.reported.pop(cid, None) is None:
                return None
            state = REMOVED
        elif self.reported.get(cid) == state:
            return None
        else:
            self.reported[cid] = state
        self.dirty = True
        return state
