"""The manager's call pace (hinemos/pacer.py): pure slots, then the backends' use of it."""

from __future__ import annotations

import bisect

from hypothesis import given
from hypothesis import strategies as st

from hinedockd.hinemos.pacer import Pacer

# Times calls ask at (seconds, never going back), and a pace.
ASKS = st.lists(st.floats(0, 3, allow_nan=False), min_size=1, max_size=300).map(sorted)


def starts(pacer: Pacer, asks: list[float]) -> list[float]:
    """When each call leaves, the callers asking in this order."""
    return [t + pacer.reserve(t) for t in asks]


@given(ASKS, st.sampled_from([1.0, 10.0, 50.0, 200.0]), st.integers(1, 20))
def test_no_second_holds_more_than_the_rate_and_the_burst(asks: list[float], rate: float,
                                                          burst: int) -> None:
    out = starts(Pacer(rate, burst), asks)
    assert out == sorted(out)  # in the order they asked
    assert all(s >= t for s, t in zip(out, asks, strict=True))
    for i, s in enumerate(out):  # any window of one second from a start
        within = bisect.bisect_left(out, s + 1.0 - 1e-9) - i
        assert within <= rate + burst - 1 + 1e-6


@given(ASKS, st.sampled_from([10.0, 50.0]))
def test_a_call_waits_only_for_the_calls_ahead_of_it(asks: list[float], rate: float) -> None:
    """Paced one by one: each leaves when it asks or one step after the previous one,
    whichever is later; never later than that."""
    out = starts(Pacer(rate), asks)
    for i, (s, t) in enumerate(zip(out, asks, strict=True)):
        expected = t if i == 0 else max(t, out[i - 1] + 1 / rate)
        assert abs(s - expected) < 1e-9


def test_a_quiet_pacer_lets_a_call_through_at_once() -> None:
    p = Pacer(50)
    assert p.reserve(100.0) == 0.0
    assert abs(p.reserve(100.0) - 0.02) < 1e-12  # the next slot
    assert p.reserve(200.0) == 0.0  # quiet since
