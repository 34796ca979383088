"""Rounds on the wall clock, for the stats poller and the custom trap sender: one
rule for when the next round is, and one guard against a round twice. Pure but for
`RoundClock.wait`.

Why on the clock: a push round and a monitor run on the minute then find a sample
taken just before (the poller's rounds lead the minute, docker/stats.py), and every
host's round falls at the same moment each interval. Why the guard: a timer may fire
a hair early (the wall clock behind the loop's), and the next round computed from
that moment was the same one again: CI pushed a round twice (2026-12-03)."""

from __future__ import annotations

import asyncio
import time


def next_round(now: float, interval: float, lead: float = 0.0) -> float:
    """The next round's wall time after `now`: `lead` before a whole multiple of
    `interval`."""
    at = (now + lead) // interval * interval + interval - lead
    return at if at > now else at + interval


class RoundClock:
    """Each round at `lead` (at most half the interval) before a multiple of the
    interval, and never within half an interval after the last round's moment,
    whatever the lead did meanwhile or the timer's precision."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last = float("-inf")  # the last round's moment

    def next(self, now: float, lead: float = 0.0) -> float:
        half = self.interval / 2
        self.last = next_round(max(now, self.last + half), self.interval, min(lead, half))
        return self.last

    async def wait(self, lead: float = 0.0) -> float:
        """Sleep until the next round; its moment (the time it was due)."""
        moment = self.next(time.time(), lead)
        await asyncio.sleep(max(0.0, moment - time.time()))
        return moment
