"""What the hosts of one daemon share, so that a fleet's work is spread out instead of
landing all at once: one daemon watches tens of engines (issue 31).

- **Poll rounds are staggered.** Every host's round used to fall on the same second
  before the minute: at 50 hosts × 200 containers 10,000 samples arrived and were
  parsed within a second or two, and a report command asked then waited up to 832 ms
  behind them (bench/README.md §14). Each host's round now starts `round_offset`
  earlier than the one before it in the config, up to a quarter of the interval.
- **Lists and inspects are capped for the fleet.** When 20 engines come back in the
  same second (a maintenance window), each re-lists its containers and inspects every
  one: 20 lists and 4,000 inspects at once; and hosts started together re-list
  together every `relist_seconds`. At most `lists` hosts list at a time and `inspects`
  inspects are in flight for all hosts together; the rest wait their turn (a host's
  events stream is open and held meanwhile, so nothing is lost). Reconnects are
  jittered by each host's own backoff (backoff.py).
"""

from __future__ import annotations

import asyncio

# Between two hosts' poll rounds; together never more than STAGGER_SHARE of the
# interval, so that every host's samples are at most that old at the minute.
STAGGER_SECONDS = 1.0
STAGGER_SHARE = 0.25
# At once for all hosts: full container lists, and inspects. An inspect costs the
# daemon about 0.2 ms and an engine a few ms; 32 in flight keep a start of 10,000
# containers within seconds of its lists.
LISTS_IN_FLIGHT = 4
INSPECTS_IN_FLIGHT = 32


def round_offset(place: int, hosts: int, interval: float) -> float:
    """How much earlier than the first host's the round of the host at `place` (0-based,
    the config's order) starts: evenly over min(STAGGER_SECONDS per host, STAGGER_SHARE
    of the interval). Pure."""
    if hosts <= 1:
        return 0.0
    spread = min(STAGGER_SECONDS * (hosts - 1), STAGGER_SHARE * interval)
    return spread * (place % hosts) / (hosts - 1)


class Fleet:
    """The shared limits; one per daemon (a host made alone gets one of its own)."""

    def __init__(self, hosts: int = 1, lists: int = LISTS_IN_FLIGHT,
                 inspects: int = INSPECTS_IN_FLIGHT) -> None:
        self.hosts = hosts
        self.lists = asyncio.Semaphore(lists)
        self.inspects = asyncio.Semaphore(inspects)
