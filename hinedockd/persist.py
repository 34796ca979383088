"""What must survive a daemon restart, per host: the events cursor (last timeNano
seen) and the last state reported for each container (`host-<id>.json`), and the
followed containers' log cursors (`logs-<id>.json`, messages/containerlogs.py). Each
file is replaced atomically (write, fsync, rename), so a crash leaves either the old
file or the new one, never half of one. `Persister` decides when a checkpoint may be
saved: only once the syslog messages it accounts for have left."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

log = structlog.get_logger("hinedockd.persist")


class Saveable(Protocol):
    """A checkpoint: what is written to its file."""

    def to_json(self) -> str: ...


@dataclass
class HostState:
    cursor_ns: int = 0
    states: dict[str, str] = field(default_factory=dict)  # container ID -> state

    def to_json(self) -> str:
        return json.dumps({"cursor_ns": self.cursor_ns, "states": self.states},
                          separators=(",", ":"))


def state_file(state_dir: str, facility_id: str) -> Path:
    return Path(state_dir) / f"host-{facility_id}.json"


def load(state_dir: str, facility_id: str) -> HostState:
    path = state_file(state_dir, facility_id)
    text = read_aside(path)
    if text is None:
        return HostState()
    try:
        data = json.loads(text)
        cursor = data["cursor_ns"]
        states = data["states"]
        if not isinstance(cursor, int) or not isinstance(states, dict):
            raise ValueError("unexpected shape")
        return HostState(cursor, {str(k): str(v) for k, v in states.items()})
    except (ValueError, KeyError, TypeError) as e:
        set_aside(path, str(e))
        return HostState()


def logs_file(state_dir: str, facility_id: str) -> Path:
    return Path(state_dir) / f"logs-{facility_id}.json"


def save(state_dir: str, facility_id: str, state: HostState) -> None:
    write_atomic(state_file(state_dir, facility_id), state.to_json())


def read_aside(path: Path) -> str | None:
    """A state file's text; None when there is none. One that cannot be read is set
    aside (`.damaged`, for a look) and reads as none: it costs a replay, not the daemon."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        set_aside(path, str(e))
        return None


def set_aside(path: Path, error: str) -> None:
    log.error("state file unreadable, starting without it", path=str(path), error=error)
    try:
        os.replace(path, path.with_suffix(".damaged"))
    except OSError as e:
        log.error("cannot set the damaged state file aside", path=str(path), error=str(e))


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
    pending: list[tuple[Saveable, tuple[int, ...]]] = field(default_factory=list)

    def add(self, state: Saveable, marks: tuple[int, ...]) -> None:
        self.pending.append((state, marks))
        if len(self.pending) > self.keep:
            # Thin out the middle: saving an older state costs replays, never messages.
            del self.pending[len(self.pending) // 2]

    def take_settled(self, sent: tuple[int, ...]) -> Saveable | None:
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
    """A host whose cursor and told states are saved (docker/host.py); a host's log
    cursors (messages/containerlogs.py)."""

    @property
    def checkpoint_due(self) -> bool: ...

    def take_checkpoint(self) -> Saveable: ...

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

    def __init__(self, files: Mapping[Path, Checkpointed], outbox: Outbox) -> None:
        self.files, self.outbox = files, outbox
        self.checkpoints = {path: Checkpoints() for path in files}

    def _save(self, path: Path, saved: Saveable) -> None:
        try:
            write_atomic(path, saved.to_json())
        except OSError as e:
            self.files[path].checkpoint_lost()
            log.error("cannot save state", path=str(path), error=str(e))

    def _settled(self, take: bool = True) -> Sequence[tuple[Path, Saveable]]:
        """Checkpoints that may be saved now; with `take`, first a new one per changed file."""
        sent, out = self.outbox.sent(), []
        for path, owner in self.files.items():
            points = self.checkpoints[path]
            if take and owner.checkpoint_due:
                points.add(owner.take_checkpoint(), self.outbox.marks())
            saved = points.take_settled(sent)
            if saved is not None:
                out.append((path, saved))
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
            for path, saved in self._settled(take):
                await asyncio.to_thread(self._save, path, saved)

    def save_now(self) -> None:
        """At a clean stop, after the hub has drained what it could."""
        for path, saved in self._settled():
            self._save(path, saved)
