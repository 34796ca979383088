"""At most so many calls a second to the manager, whatever asks: one daemon's 50 hosts
syncing at once, or all of them reconnecting after a maintenance window.

Measured (bench/fleet.py, issue 31): unpaced, a start with 1,000 containers on 10
hosts made 2,163 repository calls within one second; a Hinemos manager answers each
from its database, in a transaction, and its own web container serves the operators'
clients too. The pace is the generic cell rate algorithm: each call takes the next
slot 1/rate after the previous one, so calls leave in the order they asked, evenly,
and a quiet daemon's first call waits for nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Pacer:
    """`rate` calls a second at most, `burst` of them back to back."""

    def __init__(self, rate: float, burst: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.step, self.burst, self.clock = 1.0 / rate, burst, clock
        self._slot = 0.0  # when the next call's slot starts (the theoretical arrival)

    def reserve(self, now: float) -> float:
        """Take the next slot; how long to wait for it. Pure but for the slot kept."""
        slot = max(self._slot, now)
        self._slot = slot + self.step
        return max(0.0, slot - now - (self.burst - 1) * self.step)

    async def wait(self) -> None:
        delay = self.reserve(self.clock())
        if delay > 0:
            await asyncio.sleep(delay)
