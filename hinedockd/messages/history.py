"""A host's recent events, handed out once per `-k KEY` (MonitorDockerHostEvent.py).

The cursor of a key is the arrival number of the last event it was given, not the
engine's time: the engines do not send events in time order (Podman's file events
logger sent a `pull` stamped 100 ms before the `create`, `init` and `start` it
followed), so a time cursor handed those three out twice — once in the call that
saw them, again after the late `pull` moved the cursor back (a CI run, Podman 4.3).
An arrival number gives each event to each key exactly once, late or not.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Recorded:
    seq: int  # arrival number, from 1, per history
    time_ns: int  # the engine's time of the event
    text: str
    severity: str


class EventHistory:
    """The last `size` events of one host, in arrival order."""

    def __init__(self, size: int) -> None:
        self._events: deque[Recorded] = deque(maxlen=size)
        self._seq = 0

    def append(self, time_ns: int, text: str, severity: str) -> None:
        self._seq += 1
        self._events.append(Recorded(self._seq, time_ns, text, severity))

    def since(self, cursor: int | None, default_ns: int) -> tuple[list[Recorded], int]:
        """The events after `cursor` (an arrival number from a previous call), or, for a
        first call (None), those whose engine time is after `default_ns`; and the
        cursor for the next call. Events that left the history are simply gone."""
        if cursor is None:
            events = [e for e in self._events if e.time_ns > default_ns]
        else:
            events = [e for e in self._events if e.seq > cursor]
        return events, self._seq
