"""What must survive a daemon restart, per host: the events cursor (last timeNano
seen) and the last state reported for each container. One JSON file per host in
`state_dir`, replaced atomically (write, fsync, rename), so a crash leaves either
the old file or the new one, never half of one. `Persister` decides when a host's
checkpoint may be saved: only once the syslog messages it accounts for have left."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

log = structlog.get_logger("hinedockd.persist")


@dataclass
class HostState:
    cursor_ns: int = 0
    states: dict[str, str] = field(default_factory=dict)  # container ID -> state


def state_file(state_dir: str, facility_id: str) -> Path:
    return Path(state_dir) / f"host-{facility_id}.json"


def load(state_dir: str, facility_id: str) -> HostState:
    path = state_file(state_dir, facility_id)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cursor = data["cursor_ns"]
        states = data["states"]
        if not isinstance(cursor, int) or not isinstance(states, dict):
            raise ValueError("unexpected shape")
        return HostState(cursor, {str(k): str(v) for k, v in states.items()})
    except FileNotFoundError:
        return HostState()
    except (OSError, ValueError, KeyError, TypeError) as e:
        # A damaged file costs a full re-list, not the daemon: keep it aside for a look.
        log.error("state file unreadable, starting without it", path=str(path), error=str(e))
        with_suffix = path.with_suffix(".damaged")
        os.replace(path, with_suffix)
        return HostState()


def save(state_dir: str, facility_id: str, state: HostState) -> None:
    write_atomic(state_file(state_dir, facility_id),
                 json.dumps({"cursor_ns": state.cursor_ns, "states": state.states},
                            separators=(",", ":")))


def write_atomic(path: Path, data: str) -> None:
    """Write, fsync, rename: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@dataclass
class Checkpoints:
    """States waiting for their messages to leave. A state is saved only once every
    syslog message submitted before it was taken has been handed to the OS, so that a
    crash replays (from the saved cursor) what was still queued instead of losing it.
    `marks` are the sinks' accepted counts when the state was taken."""

    keep: int = 32
    pending: list[tuple[HostState, tuple[int, ...]]] = field(default_factory=list)

    def add(self, state: HostState, marks: tuple[int, ...]) -> None:
        self.pending.append((state, marks))
        if len(self.pending) > self.keep:
            # Thin out the middle: saving an older state costs replays, never messages.
            del self.pending[len(self.pending) // 2]

    def take_settled(self, sent: tuple[int, ...]) -> HostState | None:
        """The newest state whose messages have all been sent (`sent` per sink); it
        and everything older leave the list."""
        ready = [i for i, (_, marks) in enumerate(self.pending)
                 if all(s >= m for s, m in zip(sent, marks, strict=True))]
        if not ready:
            return None
        state = self.pending[ready[-1]][0]
        del self.pending[:ready[-1] + 1]
        return state


class Checkpointed(Protocol):
    """A host whose cursor and told states are saved (docker/host.py)."""

    @property
    def checkpoint_due(self) -> bool: ...

    def take_checkpoint(self) -> HostState: ...

    def checkpoint_lost(self) -> None: ...


class Outbox(Protocol):
    """Messages handed in and handed on, per syslog target (messages/hub.py)."""

    def marks(self) -> tuple[int, ...]: ...

    def sent(self) -> tuple[int, ...]: ...


class Persister:
    """Saves each host's cursor and reported states when they change, at most every
    second, and only once the syslog messages they account for have left (see
    `Checkpoints`): after a crash, what was queued is replayed from the engine
    (`since=`), never lost; what was sent in the last second may be sent again."""

    def __init__(self, hosts: dict[str, Checkpointed], state_dir: str, outbox: Outbox) -> None:
        self.hosts, self.state_dir, self.outbox = hosts, state_dir, outbox
        self.checkpoints = {facility_id: Checkpoints() for facility_id in hosts}

    def _save(self, facility_id: str, saved: HostState) -> None:
        try:
            save(self.state_dir, facility_id, saved)
        except OSError as e:
            self.hosts[facility_id].checkpoint_lost()
            log.error("cannot save state", host=facility_id, error=str(e))

    def _settled(self, take: bool = True) -> Sequence[tuple[str, HostState]]:
        """Checkpoints that may be saved now; with `take`, first a new one per changed host."""
        sent, out = self.outbox.sent(), []
        for facility_id, host in self.hosts.items():
            points = self.checkpoints[facility_id]
            if take and host.checkpoint_due:
                points.add(host.take_checkpoint(), self.outbox.marks())
            saved = points.take_settled(sent)
            if saved is not None:
                out.append((facility_id, saved))
        return out

    async def run(self, every: float = 1.0, poll: float = 0.05) -> None:
        """A checkpoint every `every` seconds; while one waits for its messages, a look
        every `poll` seconds, so that it is saved as soon as they have left."""
        loop = asyncio.get_running_loop()
        next_take = loop.time() + every
        while True:
            waiting = any(p.pending for p in self.checkpoints.values())
            await asyncio.sleep(poll if waiting else max(0.0, next_take - loop.time()))
            take = loop.time() >= next_take
            if take:
                next_take = loop.time() + every
            for facility_id, saved in self._settled(take):
                await asyncio.to_thread(self._save, facility_id, saved)

    def save_now(self) -> None:
        """At a clean stop, after the hub has drained what it could."""
        for facility_id, saved in self._settled():
            self._save(facility_id, saved)
