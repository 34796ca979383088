"""The round clock (rounds.py) the stats poller and the custom trap sender share."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from hinedockd.rounds import RoundClock, next_round


@given(st.sampled_from([10.0, 30.0, 60.0, 300.0]),
       st.lists(st.tuples(st.floats(-0.05, 0.0), st.floats(0, 400)), min_size=2, max_size=12))
def test_never_two_rounds_within_half_an_interval(
        interval: float, wakes: list[tuple[float, float]]) -> None:
    """Each wake comes at the moment it was due, or a hair before it (an early timer),
    with any lead: the moments only go forward, at least half an interval apart, each
    `lead` (capped at half the interval) before a multiple."""
    clock = RoundClock(interval)
    now, moments = 1_796_000_000.0, []
    for early, lead in wakes:
        moment = clock.next(now, lead)
        capped = min(lead, interval / 2)
        assert abs((moment + capped) / interval - round((moment + capped) / interval)) < 1e-6
        moments.append(moment)
        now = moment + early  # the timer fires at the moment, or a little before it
    assert all(b - a >= interval / 2 - 1e-6 for a, b in itertools.pairwise(moments))


def test_an_early_timer_does_not_give_the_same_round_twice() -> None:
    """The CI case: the wall clock a hair behind the loop's when the timer fired."""
    clock = RoundClock(60.0)
    first = clock.next(1_796_000_010.0)
    assert first == 1_796_000_040.0 == next_round(1_796_000_010.0, 60.0)
    assert clock.next(first - 0.001) == first + 60.0
