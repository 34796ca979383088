"""The inventory, the single writer of a host's containers (pure): every write returns
what it changed, and those changes alone tell the rest everything."""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from hinedockd.docker.inventory import Change, Inventory, Listing
from hinedockd.docker.view import REMOVED
from hinedockd.model import Container, ContainerState, EngineEvent

IDS = [c * 64 for c in "abc"]
ACTIONS = ["create", "start", "die", "stop", "pause", "unpause", "restart", "rename",
           "destroy", "remove", "health_status: healthy", "health_status: unhealthy",
           "health_status", "oom", "update"]
STATES = [ContainerState.RUNNING, ContainerState.EXITED, ContainerState.PAUSED,
          ContainerState.CREATED]

events = st.builds(
    lambda cid, action, name: EngineEvent("container", action, cid,
                                          {"name": name, "image": "img", "team": "a"}, 1),
    st.sampled_from(IDS), st.sampled_from(ACTIONS), st.sampled_from(["web", "db"]))
listings = st.builds(
    lambda present: Listing([Container(cid, "web", state) for cid, state in present.items()]),
    st.dictionaries(st.sampled_from(IDS), st.sampled_from(STATES)))
writes = st.lists(st.one_of(events, listings), max_size=25)


def write(inventory: Inventory, w: EngineEvent | Listing) -> list[Change]:
    if isinstance(w, Listing):
        return inventory.replace_all(w)
    return inventory.apply_event(w, w.action.split(":", 1)[0])


@given(st.dictionaries(st.sampled_from(IDS), st.sampled_from(STATES)), writes)
def test_the_changes_returned_tell_the_whole_story(saved: dict[str, str],
                                                   ws: list[EngineEvent | Listing]) -> None:
    """Replaying only the returned changes onto a copy gives the inventory's containers;
    each change starts from what the copy held; the states told, one after the other,
    never repeat and end at the state kept for the next start (or nothing, once told
    removed)."""
    inventory = Inventory(saved)
    mirror: dict[str, Container] = {}
    told: dict[str, list[str]] = {cid: [state] for cid, state in saved.items()}
    for w in ws:
        for ch in write(inventory, w):
            assert ch.entry_changed or ch.told is not None, "a change that changed nothing"
            assert mirror.get(ch.cid) == ch.old
            if ch.new is None:
                mirror.pop(ch.cid, None)
            else:
                mirror[ch.cid] = ch.new
            if ch.told is not None:
                told.setdefault(ch.cid, []).append(ch.told)
        assert mirror == inventory.containers
    for cid, states in told.items():
        assert all(a != b for a, b in itertools.pairwise(states)), states
        assert inventory.reported.get(cid, REMOVED) == states[-1]


def test_a_write_that_changes_nothing_returns_nothing() -> None:
    inventory = Inventory()
    c = Container(IDS[0], "web", ContainerState.RUNNING)
    assert [ch.told for ch in inventory.set(c.id, c)] == ["running"]
    assert inventory.set(c.id, replace(c)) == []
    assert inventory.set_health(c.id, None) == []  # no result: what is known stands
    assert inventory.refreshed(Container(IDS[1], "other", ContainerState.RUNNING)) == []
    only_entry = inventory.set(c.id, replace(c, labels={"team": "a"}))
    assert [(ch.entry_changed, ch.told) for ch in only_entry] == [(True, None)]


def test_a_container_gone_while_the_daemon_was_down_is_told_removed_once() -> None:
    inventory = Inventory({IDS[0]: "running"})
    assert [(ch.cid, ch.old, ch.new, ch.told) for ch in inventory.replace_all(Listing())] == [
        (IDS[0], None, None, REMOVED)]
    assert inventory.replace_all(Listing()) == []
