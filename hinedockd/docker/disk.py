"""Disk usage of one host (`/system/df`): images and container `SizeRw` per state.

The engine walks every layer for this answer (the report warns it is expensive),
so it is cached for `size_cache_seconds` and concurrent askers share one call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from hinedockd.docker.engine import LIST_MAX_BYTES, Engine, EngineError
from hinedockd.docker.inventory import parse_list
from hinedockd.model import ContainerState


class DiskUsageCache:
    def __init__(self, engine: Engine, ttl_seconds: float) -> None:
        self.engine, self.ttl = engine, ttl_seconds
        self._cached: tuple[float, dict[str, int]] | None = None
        self._task: asyncio.Task[dict[str, int]] | None = None

    async def get(self) -> dict[str, int]:
        """`image` and one size per container state, in bytes."""
        if self._cached and time.monotonic() - self._cached[0] < self.ttl:
            return self._cached[1]
        if self._task is None:
            self._task = asyncio.create_task(self._ask())
        try:
            result = await asyncio.shield(self._task)
        finally:
            if self._task.done():
                self._task = None
        self._cached = (time.monotonic(), result)
        return result

    async def _ask(self) -> dict[str, int]:
        df = await self.engine.get_json("system/df", limit=LIST_MAX_BYTES)
        if not isinstance(df, Mapping):
            raise EngineError(f"{self.engine.host.facility_id}: /system/df answer is not an "
                              "object")
        images = df.get("LayersSize")
        if not isinstance(images, int) or images == 0:
            # Podman (4.3) answers LayersSize 0; its sizes are in Images[].Size (shared
            # layers then count once per image).
            images = sum(int(i.get("Size") or 0) for i in df.get("Images") or [])
        sizes = {"image": images, **{s.value: 0 for s in ContainerState}}
        items = df.get("Containers") or []
        by_id = {item.get("Id"): item for item in items if isinstance(item, Mapping)}
        for c in parse_list(items).containers:
            sizes[c.state] += int(by_id[c.id].get("SizeRw") or 0)
        return sizes
