"""When to reconcile: at start-up and after every events-stream (re)connect (full),
after container lifecycle events (incremental, bursts coalesced), and every
`full_sync_seconds` (full). Hinemos down or faulting: retry with backoff, keep
everything else running, converge when it returns. Never while the host's own
inventory is unknown (engine disconnected): an empty inventory must not read as
"every container is gone"."""

from __future__ import annotations

import asyncio
import time

import structlog

from hinedockd.answers import SyncSnapshot
from hinedockd.backoff import Backoff
from hinedockd.docker.view import HostObserver, HostView
from hinedockd.hinemos.backend import HinemosError, HinemosUnavailable
from hinedockd.hinemos.reconciler import Reconciler
from hinedockd.model import Container

log = structlog.get_logger("hinedockd.hinemos")
# A burst of events becomes one pass: wait until the host has been quiet this long
# (a `docker run`'s create and start come ~0.1-0.3 s apart), but no longer than MAX.
QUIET_SECONDS = 0.3
MAX_WAIT_SECONDS = 1.0


class HostSync(HostObserver):
    """One host's passes; observes that host (`container_changed`, `connected`)."""

    def __init__(self, view: HostView, reconciler: Reconciler,
                 full_sync_seconds: float) -> None:
        self.view, self.reconciler = view, reconciler
        self.full_sync_seconds = full_sync_seconds
        self.wake = asyncio.Event()
        self.full = True
        self.passes = 0
        self.last_at = 0.0
        self.last_ok: bool | None = None
        self.last_error = ""
        self.last_writes = 0
        self.last_refused = 0
        self.last_full_seconds = 0.0

    def poke(self, full: bool = False) -> None:
        self.full |= full
        self.wake.set()

    def container_changed(self, host: HostView, old: Container | None,
                          new: Container | None) -> None:
        self.poke()

    def connected(self, host: HostView) -> None:
        self.poke(full=True)

    async def run(self) -> None:
        backoff = Backoff(1.0, 30.0)
        last_full = time.monotonic()
        while True:
            wait = self.full_sync_seconds - (time.monotonic() - last_full)
            try:
                async with asyncio.timeout(max(0.0, wait)):
                    await self.wake.wait()
            except TimeoutError:
                self.full = True
            if not self.view.status.connected:
                self.wake.clear()  # the reconnect will poke, with a full pass
                continue
            await self._quiet()
            full, self.full = self.full, False
            began = time.monotonic()
            done = await self._pass(full)
            if done and full:
                last_full = time.monotonic()
                self.last_full_seconds = last_full - began
            if done and not self.last_refused:
                backoff.reset()
            else:
                # A failed pass is retried whole; a partial one only for what was
                # refused (the next pass reads those nodes again), both with backoff.
                self.full |= not done
                await asyncio.sleep(backoff.next())
                self.wake.set()

    async def _quiet(self) -> None:
        started = time.monotonic()
        while True:
            self.wake.clear()
            await asyncio.sleep(QUIET_SECONDS)
            if not self.wake.is_set() or time.monotonic() - started >= MAX_WAIT_SECONDS:
                self.wake.clear()
                return

    async def _pass(self, full: bool) -> bool:
        host = self.view.host
        self.last_at = time.time()
        self.passes += 1
        try:
            result = await self.reconciler.reconcile(host, list(self.view.containers.values()),
                                                     full)
        except (HinemosError, HinemosUnavailable) as e:
            self.last_ok, self.last_error, self.last_refused = False, str(e), 0
            log.warning("hinemos sync failed, will retry", host=host.facility_id, error=str(e))
            return False
        self.last_refused = len(result.failures)
        self.last_ok, self.last_writes = not result.failures, result.writes
        self.last_error = (f"{len(result.failures)} write(s) refused, e.g. {result.failures[0]}"
                           if result.failures else "")
        if result.writes or full:
            log.info("hinemos sync", host=host.facility_id, full=full, reads=result.reads,
                     writes=result.writes)
        return True

    def snapshot(self) -> SyncSnapshot:
        return SyncSnapshot(passes=self.passes, last_at=self.last_at, last_ok=self.last_ok,
                            last_error=self.last_error, last_writes=self.last_writes,
                            last_refused=self.last_refused,
                            last_full_seconds=self.last_full_seconds)
