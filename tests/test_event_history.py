"""The events handed out per `-k KEY`: each once, late or not (messages/history.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hinedockd.messages.history import EventHistory


def test_a_late_event_does_not_hand_out_the_ones_before_it_again() -> None:
    # Podman 4.3's order in a CI run: create, init, start, then a pull stamped earlier.
    h = EventHistory(100)
    for t, text in ((665, "create"), (747, "init"), (754, "start")):
        h.append(t, text, "info")
    first, cursor = h.since(None, 0)
    h.append(653, "pull", "info")
    second, cursor = h.since(cursor, 0)
    third, _ = h.since(cursor, 0)
    assert [e.text for e in first] == ["create", "init", "start"]
    assert [e.text for e in second] == ["pull"]
    assert third == []


def test_the_first_call_gets_the_default_window_by_engine_time() -> None:
    h = EventHistory(100)
    h.append(10, "old", "info")
    h.append(30, "new", "info")
    events, _ = h.since(None, 20)
    assert [e.text for e in events] == ["new"]


def test_events_that_left_the_history_are_gone_not_repeated() -> None:
    h = EventHistory(3)
    _, cursor = h.since(None, 0)
    for i in range(5):
        h.append(i, str(i), "info")
    events, cursor = h.since(cursor, 0)
    assert [e.text for e in events] == ["2", "3", "4"]
    assert h.since(cursor, 0)[0] == []


@given(st.lists(st.one_of(st.integers(0, 10**6), st.none()), max_size=60))
def test_every_event_after_the_first_call_is_handed_out_exactly_once(
        script: list[int | None]) -> None:
    """`script`: an event with that engine time, or None for a call with the key."""
    h = EventHistory(1000)
    _, cursor = h.since(None, 0)
    appended: list[str] = []
    given_out: list[str] = []
    for step, t in enumerate(script):
        if t is None:
            events, cursor = h.since(cursor, 0)
            given_out += [e.text for e in events]
        else:
            appended.append(f"e{step}")
            h.append(t, f"e{step}", "info")
    events, cursor = h.since(cursor, 0)
    given_out += [e.text for e in events]
    assert given_out == appended
