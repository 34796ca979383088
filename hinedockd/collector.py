"""Garbage collection for a daemon that holds a fleet's state for months.

CPython's full (oldest-generation) collection walks every tracked object. At 50 hosts
× 200 containers the daemon holds 200,000-450,000 of them (inventories, series, the
Hinemos node copies), and a full collection held the event loop 70-190 ms every 10 to
40 s, freeing nothing (measured with gc.callbacks, bench/fleet.py, 2026-12-05): a report
command asked then waited that long. Almost nothing the daemon keeps is cyclic garbage;
its cycles are short-lived (exceptions, finished tasks) and the young generations
collect them.

So every FREEZE_SECONDS the young generations are collected and what survives is moved
out of the collector's sight (`gc.freeze`): later collections walk only what was made
since. Frozen every 5 minutes, the full collections still took 60-115 ms: a custom trap
round's 150,000 items lived long enough to be counted (they are packed into bytes now,
hinemos/pusher.py), and five minutes of survivors are many; hence every minute. Once a
day everything is thawed and collected whole (one pause of the old length), so that a
cycle among frozen objects that became garbage is not kept longer than that: every full
collection seen in steady state freed nothing.
"""

from __future__ import annotations

import asyncio
import gc
import time

FREEZE_SECONDS = 60.0
FULL_SECONDS = 86_400.0


def settle(full: bool) -> None:
    """Collect (everything if `full`, else the young generations), then freeze the rest."""
    if full:
        gc.unfreeze()
        gc.collect()
    else:
        gc.collect(1)
    gc.freeze()


async def keep_frozen(every: float = FREEZE_SECONDS, full_every: float = FULL_SECONDS) -> None:
    """Runs until cancelled (then thaws, so that a stop collects as usual)."""
    last_full = time.monotonic()
    try:
        while True:
            await asyncio.sleep(every)
            full = time.monotonic() - last_full >= full_every
            settle(full)
            if full:
                last_full = time.monotonic()
    finally:
        gc.unfreeze()
