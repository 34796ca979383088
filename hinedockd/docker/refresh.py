"""What the engine's list and inspect say of one host's containers, kept current: the
full re-list (at each connect, and every `relist_seconds` for the states no event
names), a one-container re-list after a lifecycle event (bursts coalesced), and an
inspect after each (restart count, OOM kill, exit code, start time; Podman's health:
its `health_status` event carries no result). A fleet's hosts list and inspect in
turns (docker/fleet.py). Its tasks run in the host's task group."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
import structlog

from hinedockd.docker.engine import LIST_MAX_BYTES, Engine, EngineError
from hinedockd.docker.fleet import Fleet
from hinedockd.docker.inventory import Change, Inventory, Listing, parse_list
from hinedockd.docker.lifecycle import Alert, Lifecycle, health_alert, inspected_from_json

INSPECTS_AT_ONCE = 8  # a host's own, within the fleet's cap


class Refresher:
    def __init__(self, engine: Engine, fleet: Fleet, inventory: Inventory,
                 lifecycle: Lifecycle, apply: Callable[[list[Change]], None],
                 alert: Callable[[Alert | None], None],
                 log: structlog.typing.FilteringBoundLogger) -> None:
        """`apply`: hands on what its writes of the inventory changed; `alert`: what
        an inspect tells (both the host's)."""
        self._engine, self._fleet = engine, fleet
        self.inventory, self.lifecycle, self.log = inventory, lifecycle, log
        self._apply, self._alert = apply, alert
        self.group: asyncio.TaskGroup | None = None  # the host's, while it runs
        # A health check ran (Podman's event says so, not how it went): the result
        # comes with the inspect, and the alert with it.
        self.checked: set[str] = set()
        self._refreshing: set[str] = set()
        self._refresh_again: set[str] = set()
        self._inspecting = asyncio.Semaphore(INSPECTS_AT_ONCE)
        self._unreadable_logged: set[tuple[str, str]] = set()

    def health_checked(self, cid: str) -> None:
        """A health check ran and the engine did not say how it went (Podman): its
        result is told after the next inspect."""
        self.checked.add(cid)

    def forget(self, cid: str) -> None:
        self.checked.discard(cid)

    async def relist(self) -> None:
        """Full re-list: the engine replays at most 256 events, so after any gap the
        list is the truth."""
        async with self._fleet.lists:
            items = await self._engine.get_json("containers/json", {"all": "1"},
                                               limit=LIST_MAX_BYTES)
            listing = parse_list(items)
        self._log_unreadable(listing)
        # A container readable again (or gone) is logged afresh if it turns unreadable
        # later; the set holds only what the list still cannot read.
        self._unreadable_logged = {p for p in self._unreadable_logged
                                   if p[0] in listing.unreadable}
        self._apply(self.inventory.replace_all(listing))

    def _log_unreadable(self, listing: Listing) -> None:
        """Once per container and reason: such an entry is kept as it was."""
        for cid, why in listing.unreadable.items():
            if (cid, why) not in self._unreadable_logged:
                self._unreadable_logged.add((cid, why))
                self.log.warning("container entry not understood; kept as it was",
                                 container=cid[:12], error=why)

    async def relist_loop(self, every: float, connected: Callable[[], bool]) -> None:
        """A safety net: states that no event names (restarting, dead, removing) and
        anything a lagging list hid from a refresh are caught by a periodic re-list."""
        while True:
            await asyncio.sleep(every)
            if connected():
                try:
                    await self.relist()
                except EngineError as e:
                    self.log.info("periodic re-list failed", error=str(e))
                self.inspect_all([cid for cid in self.inventory.containers
                                  if cid not in self.lifecycle])

    def refresh_soon(self, cid: str) -> None:
        """Re-list one container (same shape as the full list), coalescing bursts."""
        if cid in self._refreshing:
            self._refresh_again.add(cid)
        elif self.group is not None:
            self._refreshing.add(cid)
            self.group.create_task(self._refresh(cid))

    async def _refresh(self, cid: str) -> None:
        filters = orjson.dumps({"id": [cid]}).decode()
        try:
            while True:
                self._refresh_again.discard(cid)
                try:
                    items = await self._engine.get_json("containers/json",
                                                        {"all": "1", "filters": filters})
                except EngineError as e:
                    self.log.info("container refresh failed", container=cid[:12], error=str(e))
                    return
                listing = parse_list(items)
                self._log_unreadable(listing)
                for c in listing.containers:
                    if c.id == cid:
                        self._apply(self.inventory.refreshed(c))
                await self._inspect(cid)
                if cid not in self._refresh_again:
                    return
        finally:
            self._refreshing.discard(cid)

    def inspect_all(self, cids: list[str]) -> None:
        if self.group is not None:
            for cid in cids:
                self.group.create_task(self._inspect(cid))

    async def _inspect(self, cid: str) -> None:
        """What the list does not say: the engine's inspect, into the lifecycle."""
        async with self._inspecting, self._fleet.inspects:
            try:
                doc = await self._engine.get_json(f"containers/{cid}/json")
                facts = inspected_from_json(doc)
            except (EngineError, ValueError) as e:  # ValueError: not an inspect document
                if getattr(e, "status", 0) != 404:  # gone meanwhile: its event tells
                    self.log.info("container inspect failed", container=cid[:12], error=str(e))
                return
        containers = self.inventory.containers
        before = containers.get(cid)
        self._apply(self.inventory.set_health(cid, facts.health))
        c = containers.get(cid)
        if c is None:
            return
        if cid in self.checked:
            self.checked.discard(cid)
            self._alert(health_alert(c, before.health if before else None, facts.health))
        self._alert(self.lifecycle.inspected(c, facts, time.time()))
