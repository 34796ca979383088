"""Node IDs the daemon is about to add, written down before the add.

The daemon owns the nodes in its host scope, but a node is put there only after it
was added: a crash (or a failed pass) in between leaves a node outside the scope,
and if its container goes meanwhile nobody would ever delete it. A claim, saved
before the add and dropped once the node is in the host scope, closes that gap: the
next pass checks each claimed node and deletes it if it is ours and its container
is gone."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import structlog

from hinedockd.persist import write_atomic

log = structlog.get_logger("hinedockd.hinemos")


class Claims:
    """Claims per host, in memory, and in `path` (JSON) when one is given."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.by_host: dict[str, set[str]] = self._load()

    def _load(self) -> dict[str, set[str]]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(h): {str(i) for i in ids} for h, ids in data.items()}
        except (OSError, ValueError, AttributeError, TypeError) as e:
            # Lost claims cost at most an orphan node, never a wrong deletion.
            log.error("claims file unreadable, starting without it", path=str(self.path),
                      error=str(e))
            return {}

    def of(self, host_id: str) -> set[str]:
        return set(self.by_host.get(host_id, ()))

    async def set(self, host_id: str, ids: set[str]) -> None:
        if ids == self.by_host.get(host_id, set()):
            return
        self.by_host[host_id] = set(ids)
        if self.path is not None:
            text = json.dumps({h: sorted(i) for h, i in self.by_host.items() if i})
            await asyncio.to_thread(write_atomic, self.path, text)
