"""What must survive a daemon restart, per host: the events cursor (last timeNano
seen) and the last state reported for each container. One JSON file per host in
`state_dir`, replaced atomically (write, fsync, rename), so a crash leaves either
the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger("hinedockd.state")


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
