"""Exponential backoff with jitter for reconnect loops. Pure."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, first: float = 0.5, cap: float = 30.0, factor: float = 2.0) -> None:
        self.first, self.cap, self.factor = first, cap, factor
        self._next = first

    def next(self) -> float:
        """Seconds to wait now; each call doubles the following wait up to `cap`."""
        delay = self._next
        self._next = min(self.cap, self._next * self.factor)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.first
