"""Pushing to the manager's custom trap monitoring: every interval, each running
container's figures as `num` items on its own node; each state change as a `string`
item at once. One POST per node (the body names one FacilityID).

Why push: Hinemos pulling runs the client once per monitored node and interval (1,000
container nodes and four monitors at one minute: 4,000 processes a minute on the
manager server). A push is one request per node per interval from this process
(bench/customtrap_push.py measures it).

What is kept when the manager is away: the `string` items (a bounded queue, oldest
dropped and counted past `queue_size`), sent in order once it answers again; the
`num` items of a round that could not be sent are not (the next round carries the
figures of its own interval, at once). A 400 is the manager refusing the body: logged,
counted, not sent again.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import structlog

from hinedockd.backoff import Backoff
from hinedockd.config import CustomTrapConfig, HinemosConfig
from hinedockd.docker.view import HostObserver, HostView
from hinedockd.hinemos.customtrap import TrapItem, body, figure_items, string_item, trap_date
from hinedockd.hinemos.desired import container_facility_id
from hinedockd.metrics.figures import container_figures
from hinedockd.model import STATS_STATES, Container, ContainerState

log = structlog.get_logger("hinedockd.customtrap")
BATCH = 100  # string items of one node in one body


@dataclass(frozen=True)
class PushSnapshot:
    """`hinedock status`: what the sender did (names are the API's)."""

    url: str
    rounds: int
    bodies_sent: int
    items_sent: int
    rejected: int  # bodies the manager answered 400 (or closed on)
    failed: int  # bodies that did not reach it (down, timeout)
    queued: int  # string items waiting
    dropped: int  # string items lost to the queue's bound
    last_error: str
    last_ok: float


class CustomTrapSender(HostObserver):
    def __init__(self, hinemos: HinemosConfig, trap: CustomTrapConfig,
                 hosts: Sequence[HostView]) -> None:
        self.hinemos, self.trap, self.hosts = hinemos, trap, hosts
        self.strings: deque[tuple[str, TrapItem]] = deque()
        self._wake = asyncio.Event()
        self.rounds = self.bodies_sent = self.items_sent = 0
        self.rejected = self.failed = self.dropped = 0
        self.last_error, self.last_ok = "", 0.0

    # ---- from the hosts ----------------------------------------------------------

    def state_reported(self, host: HostView, cid: str, name: str, state: str) -> None:
        """A container's state, the moment it is told (`removed` too): the node's ID
        comes from the same template as the node itself."""
        if not self.trap.events:
            return
        c = host.containers.get(cid) or Container(cid, name, ContainerState.EXITED)
        item = string_item(trap_date(time.time(), self.trap.timezone), "state", state)
        if item is not None:
            self._queue(self.node_id(host, c), item)

    def _queue(self, facility_id: str, item: TrapItem) -> None:
        if len(self.strings) >= self.trap.queue_size:
            self.strings.popleft()
            self.dropped += 1
        self.strings.append((facility_id, item))
        self._wake.set()

    def node_id(self, host: HostView, c: Container) -> str:
        return container_facility_id(self.hinemos.container_facility_id,
                                     host.host.facility_id, c)

    # ---- running -----------------------------------------------------------------

    async def run(self) -> None:
        ctx = ssl.create_default_context(cafile=self.trap.tls_ca) if self.trap.tls_ca else None
        timeout = aiohttp.ClientTimeout(total=self.trap.timeout_seconds)
        async with aiohttp.ClientSession(
                timeout=timeout, connector=aiohttp.TCPConnector(ssl=ctx if ctx else True,
                                                                limit=self.trap.concurrency)
        ) as session, asyncio.TaskGroup() as group:
            group.create_task(self._numbers(session), name="customtrap:num")
            group.create_task(self._strings(session), name="customtrap:string")

    async def _numbers(self, session: aiohttp.ClientSession) -> None:
        """A round at every interval, aligned to the clock's seconds; each container's
        figures over that interval."""
        every = self.trap.interval_seconds
        while True:
            moment = (time.time() // every + 1) * every
            # Dated at the round's moment: a timer may fire a hair early.
            await asyncio.sleep(moment - time.time())
            bodies = self.round(time.time(), moment)
            self.rounds += 1
            # At most `concurrency` at once: the session's connector limit.
            await asyncio.gather(*(self._post(session, f, i) for f, i in bodies))

    def round(self, now: float, moment: float | None = None) -> list[tuple[str, list[TrapItem]]]:
        """Pure over the hosts' views: (node, items) for every running container of
        every connected host, dated at the round's `moment` (one DATE per round)."""
        date = trap_date(now if moment is None else moment, self.trap.timezone)
        window = float(self.trap.interval_seconds)
        out = []
        for view in self.hosts:
            if not view.status.connected:  # stale figures are not sent as current
                continue
            for c in view.containers.values():
                if c.state not in STATS_STATES:
                    continue
                figures = container_figures(c, view.series(c.id), window=window, now=now,
                                            host_memory=view.status.mem_total,
                                            scale="host").figures
                items = figure_items(figures, view.life_figures(c, window, now),
                                     self.trap.keys, date)
                if items:
                    out.append((self.node_id(view, c), items))
        return out

    async def _strings(self, session: aiohttp.ClientSession) -> None:
        """In order; what could not be sent stays at the front and is tried again with
        backoff (1 s → 30 s)."""
        backoff = Backoff()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.strings:
                facility_id = self.strings[0][0]
                batch = []
                for fid, item in list(self.strings)[:BATCH]:
                    if fid != facility_id:
                        break
                    batch.append(item)
                if await self._post(session, facility_id, batch) == "failed":
                    await asyncio.sleep(backoff.next())
                    continue
                backoff.reset()
                for _ in batch:
                    if self.strings:
                        self.strings.popleft()

    async def _post(self, session: aiohttp.ClientSession, facility_id: str,
                    items: list[TrapItem]) -> str:
        """"sent", "rejected" (the manager refused the body: do not send it again) or
        "failed" (it did not get there)."""
        try:
            async with session.post(self.trap.url, data=body(facility_id, items),
                                    headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
                status = resp.status
        except aiohttp.ServerDisconnectedError:
            # The manager hangs up on a body it cannot read (CustomTrapMonitorService).
            return self._refused(facility_id, "the manager closed the connection without "
                                              "an answer (it could not read the body)")
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            self.failed += 1
            self._error(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
            return "failed"
        if status == 200:
            self.bodies_sent += 1
            self.items_sent += len(items)
            self.last_ok = time.time()
            return "sent"
        if status == 400:
            return self._refused(facility_id, "400 Bad Request")
        self.failed += 1
        self._error(f"HTTP {status}")
        return "failed"

    def _refused(self, facility_id: str, why: str) -> str:
        self.rejected += 1
        log.warning("custom trap refused", url=self.trap.url, node=facility_id, why=why)
        self.last_error = why
        return "rejected"

    def _error(self, text: str) -> None:
        if text != self.last_error:
            log.info("custom trap not sent", url=self.trap.url, error=text)
        self.last_error = text

    def snapshot(self) -> PushSnapshot:
        return PushSnapshot(url=self.trap.url, rounds=self.rounds,
                            bodies_sent=self.bodies_sent, items_sent=self.items_sent,
                            rejected=self.rejected, failed=self.failed,
                            queued=len(self.strings), dropped=self.dropped,
                            last_error=self.last_error, last_ok=self.last_ok)
