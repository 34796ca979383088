"""Pushing to the manager's custom trap monitoring: every interval, each running
container's figures as `num` items on its own node and each host's on the host's
node; each state change (and, with `events`, each engine event) as a `string` item at
once. One POST per node (the body names one FacilityID).

Why push: Hinemos pulling runs the client once per monitored node and interval (1,000
container nodes and four monitors at one minute: 4,000 processes a minute on the
manager server). A push is one request per node per interval from this process
(bench/customtrap_push.py measures both).

Only nodes that exist are sent: those the repository sync has made or found (the
dry-run repository's count too), so nothing lands in the manager's `UNREGISTERED`.
A container's `string` items wait for its node a while (its sync comes within a
second); once its node is deleted nothing more is sent to it.

What is kept when the manager is away: the `string` items (a bounded queue, oldest
dropped and counted past `queue_size`), sent in order once it answers again; of the
`num` items only each node's newest round (a new round replaces what was not sent).
A 400 is the manager refusing the body: logged with its first line, counted, not sent
again.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import aiohttp
import structlog

from hinedockd import readings
from hinedockd.answers import PushSnapshot, RunningTotals
from hinedockd.backoff import Backoff
from hinedockd.config import CustomTrapConfig, HinemosConfig
from hinedockd.docker.engine import EngineError
from hinedockd.docker.view import HostObserver, HostView
from hinedockd.hinemos.customtrap import (
    HostReading,
    TrapItem,
    body,
    count_items,
    figure_items,
    host_items,
    string_item,
    trap_date,
)
from hinedockd.hinemos.desired import container_facility_id
from hinedockd.hinemos.pacer import Pacer
from hinedockd.messages.framing import event_text, sanitize
from hinedockd.metrics.figures import Measured
from hinedockd.model import Container, ContainerState, EngineEvent, state_counts
from hinedockd.processes import compile_pattern, count_processes
from hinedockd.rounds import RoundClock
from hinedockd.snmp import SnmpSource

log = structlog.get_logger("hinedockd.customtrap")
BATCH = 100  # string items of one node in one body
NODE_GRACE_SECONDS = 30.0  # a string item waits this long for its node to be made
# Bodies of a round leave at least this many a second, and spread over at most this
# share of the interval: 1,000 nodes at 60 s take 20 s, 10 nodes 0.2 s (the manager's
# receiver gets an even stream, not 1,000 requests at the second's edge). A round is to
# be sent within half its interval: spread over half, 10,050 bodies took 30.0-30.4 s
# to the last one's arrival (bench/fleet.py), hence a little less than half.
MIN_RATE = 50.0
SPREAD_SHARE = 0.45
TOP_CONCURRENCY = 8  # process counts: /top calls in flight per round

NodeExists = Callable[[str], bool]
Body = tuple[str, list[TrapItem]]


# A body as it is posted (its JSON) and how many items it carries. Why not the items:
# a round of 10,000 nodes is 150,000 TrapItems that wait up to half a minute to be
# sent, long enough to reach the collector's oldest generation and lengthen every full
# collection (collector.py). A plain tuple of bytes and an int is not looked at by the
# collector after its first pass (a NamedTuple would be).
Packed = tuple[bytes, int]


def pack(facility_id: str, items: list[TrapItem]) -> Packed:
    return body(facility_id, items), len(items)


async def pack_in_turns(bodies: Iterable[Body], turn: int = 500) -> list[tuple[str, Packed]]:
    """`pack` each body, `turn` at a time with the loop's other work between."""
    out = []
    for i, (fid, items) in enumerate(bodies, 1):
        out.append((fid, pack(fid, items)))
        if i % turn == 0:
            await asyncio.sleep(0)
    return out


@dataclass(eq=False)  # one item is one entry, whatever its text
class _Waiting:
    facility_id: str
    item: TrapItem
    queued_at: float
    known: bool  # the node existed when the item was made: it is that node's news


class StringQueue:
    """The `string` items, in order per node, bounded (the oldest go first, counted).
    An item waits for its node to exist up to NODE_GRACE_SECONDS."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.items: deque[_Waiting] = deque()
        self.dropped = self.unknown_node = 0

    def __len__(self) -> int:
        return len(self.items)

    def put(self, facility_id: str, item: TrapItem, now: float, known: bool) -> None:
        if len(self.items) >= self.bound:
            self.items.popleft()
            self.dropped += 1
        self.items.append(_Waiting(facility_id, item, now, known))

    def batch(self, exists: NodeExists, now: float) -> tuple[str, list[_Waiting]] | None:
        """Up to BATCH items, in order, of the first node that can be sent to; an item
        whose node has not come to exist in time is dropped (and counted)."""
        chosen: str | None = None
        out: list[_Waiting] = []
        for w in list(self.items):
            if chosen is None:
                if w.known or exists(w.facility_id):
                    chosen = w.facility_id
                elif now - w.queued_at > NODE_GRACE_SECONDS:
                    self.items.remove(w)
                    self.unknown_node += 1
                    continue
                else:
                    continue
            if w.facility_id == chosen:
                out.append(w)
                if len(out) == BATCH:
                    break
        return (chosen, out) if chosen is not None else None

    def sent(self, batch: Iterable[_Waiting]) -> None:
        for w in batch:
            if w in self.items:  # not already pushed out by the bound
                self.items.remove(w)


class LatestRound:
    """Each node's newest `num` body not yet sent: a new round replaces the old one
    (counted as superseded), and a node left out of it (its container is gone) is
    dropped with it."""

    def __init__(self) -> None:
        self.pending: OrderedDict[str, Packed] = OrderedDict()
        self.superseded = 0

    def __len__(self) -> int:
        return len(self.pending)

    def replace(self, bodies: Iterable[tuple[str, Packed]]) -> None:
        self.superseded += len(self.pending)
        self.pending = OrderedDict(bodies)

    def take(self) -> tuple[str, Packed] | None:
        return self.pending.popitem(last=False) if self.pending else None

    def put_back(self, facility_id: str, packed: Packed) -> None:
        """Not sent: first again, unless a newer round has it already."""
        if facility_id not in self.pending:
            self.pending[facility_id] = packed
            self.pending.move_to_end(facility_id, last=False)


class TrapPoster:
    """The manager's receiver: posts one body and says what became of it: "sent",
    "rejected" (the manager refused the body: never sent again) or "failed" (it did
    not get there: try again). Counts each."""

    def __init__(self, trap: CustomTrapConfig) -> None:
        self.url = trap.url
        self.session: aiohttp.ClientSession | None = None
        self.bodies_sent = self.items_sent = self.rejected = self.failed = 0
        self.last_error, self.last_ok = "", 0.0

    async def post(self, facility_id: str, packed: Packed) -> str:
        assert self.session is not None, "the sender opens the session"
        try:
            async with self.session.post(self.url, data=packed[0],
                                         headers={"Content-Type": "application/json"}) as r:
                text = await r.text(errors="replace")
                status = r.status
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
            self.items_sent += packed[1]
            self.last_ok = time.time()
            return "sent"
        if status == 400:
            # The manager's answer is "400 Bad Request" (CustomTrapMonitorService); a
            # proxy's may say more: its first line goes to the log.
            first = sanitize(text.strip().split("\n", 1)[0], 200) if text.strip() else ""
            return self._refused(facility_id, f"HTTP 400: {first or 'Bad Request'}")
        self.failed += 1
        self._error(f"HTTP {status}")
        return "failed"

    def _refused(self, facility_id: str, why: str) -> str:
        self.rejected += 1
        log.warning("custom trap refused", url=self.url, node=facility_id, why=why)
        self.last_error = why
        return "rejected"

    def _error(self, text: str) -> None:
        if text != self.last_error:
            log.info("custom trap not sent", url=self.url, error=text)
        self.last_error = text


def trap_ssl_context(trap: CustomTrapConfig) -> ssl.SSLContext | None:
    """The context for `tls_ca`, or None for the system's defaults (also built by
    `--check-config`, so that a CA that does not load is a config error)."""
    return ssl.create_default_context(cafile=trap.tls_ca) if trap.tls_ca else None


class CustomTrapSender(HostObserver):
    """Told by the hosts (state changes, events); a round of figures each interval;
    one task sends the rounds (paced, `concurrency` at once, newest wins), one the
    strings (in order)."""

    def __init__(self, hinemos: HinemosConfig, trap: CustomTrapConfig,
                 hosts: Sequence[HostView], exists: NodeExists,
                 snmp: dict[str, SnmpSource] | None = None) -> None:
        self.hinemos, self.trap, self.hosts = hinemos, trap, hosts
        self.exists, self.snmp = exists, snmp or {}
        self.strings = StringQueue(trap.queue_size)
        self.latest = LatestRound()
        self.poster = TrapPoster(trap)
        self.processes = [(key, compile_pattern(p, key)) for key, p in trap.processes]
        self._string_wake, self._round_wake = asyncio.Event(), asyncio.Event()
        self.rounds = 0

    # ---- from the hosts ----------------------------------------------------------

    def state_reported(self, host: HostView, cid: str, name: str, state: str) -> None:
        """A container's state, the moment it is told (`removed` too): the node's ID
        comes from the same template as the node itself."""
        if self.trap.events:
            c = host.containers.get(cid) or Container(cid, name, ContainerState.EXITED)
            self._queue(self.node_id(host, c), "state", state)

    def engine_event(self, host: HostView, event: EngineEvent) -> None:
        """Every engine event, to the host's node, as its syslog line says it."""
        if self.trap.events:
            self._queue(host.host.facility_id, "event", event_text(
                event.type, event.action, event.actor_id, dict(event.attributes)))

    def _queue(self, facility_id: str, key: str, text: str) -> None:
        now = time.time()
        item = string_item(trap_date(now, self.trap.timezone), key, text)
        if item is not None:
            self.strings.put(facility_id, item, now, self.exists(facility_id))
            self._string_wake.set()

    def node_id(self, host: HostView, c: Container) -> str:
        return container_facility_id(self.hinemos.container_facility_id,
                                     host.host.facility_id, c)

    # ---- the rounds --------------------------------------------------------------

    async def run(self) -> None:
        ctx = trap_ssl_context(self.trap)
        timeout = aiohttp.ClientTimeout(total=self.trap.timeout_seconds)
        connector = aiohttp.TCPConnector(ssl=ctx if ctx else True, limit=self.trap.concurrency)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            self.poster.session = session
            async with asyncio.TaskGroup() as group:
                group.create_task(self._rounds(), name="customtrap:round")
                group.create_task(self._send_rounds(), name="customtrap:num")
                group.create_task(self._send_strings(), name="customtrap:string")

    async def _rounds(self) -> None:
        """A round at every interval, on the clock's multiples (rounds.py)."""
        clock = RoundClock(float(self.trap.interval_seconds))
        while True:
            moment = await clock.wait()
            # Dated at the round's moment: a timer may fire a hair early.
            bodies = await self.round_in_turns(time.time(), moment)
            if self.processes:
                bodies = merge(bodies, await self.process_round(moment))
            self.rounds += 1
            self.latest.replace(await pack_in_turns(bodies))
            self._round_wake.set()

    async def round_in_turns(self, now: float, moment: float) -> list[Body]:
        """(node, items) for every host node and every running container of a
        connected host whose node exists, dated at the round's `moment` (one DATE per
        round). One host at a time with the loop's other work in between: all at once,
        10,000 containers' figures held the loop for about 0.3 s and a report command
        asked then waited that long (bench/fleet.py, 50 × 200)."""
        date = trap_date(moment, self.trap.timezone)
        out: list[Body] = []
        for view in self.hosts:
            out += self.host_bodies(view, date, now)
            await asyncio.sleep(0)
        return out

    def host_bodies(self, view: HostView, date: str, now: float) -> list[Body]:
        """One host's part of a round: its running containers' bodies, then its own."""
        window = float(self.trap.interval_seconds)
        out = []
        connected = view.status.connected
        measured: list[Measured] = []
        for c in readings.running(view) if connected else ():
            figures = readings.figures(view, c, window=window, now=now).figures
            if figures is not None:
                measured.append(figures)
            fid = self.node_id(view, c)
            items = figure_items(figures, view.life_figures(c, window, now),
                                 self.trap.keys, date)
            if items and self.exists(fid):
                out.append((fid, items))
        host_id = view.host.facility_id
        items = host_items(self.host_reading(view, measured, window, now),
                           self.trap.host_keys, date)
        if items and self.exists(host_id):
            out.append((host_id, items))
        return out

    def host_reading(self, view: HostView, measured: list[Measured], window: float,
                     now: float) -> HostReading:
        counts = state_counts(view.containers.values())
        source = self.snmp.get(view.host.facility_id)
        if source is None:
            return HostReading(view.status.connected, counts)
        # As `hinedock cpu|mem --with-host`: the host's minus Σ of its containers'.
        figures, running = source.figures(window, now), RunningTotals.of(measured)
        return HostReading(view.status.connected, counts, running.cpu_outside(figures),
                           running.memory_outside(figures))

    async def process_round(self, moment: float) -> list[Body]:
        """The configured process counts of every running container whose node exists
        (one `/top` each, TOP_CONCURRENCY at once)."""
        date = trap_date(moment, self.trap.timezone)
        limit = asyncio.Semaphore(TOP_CONCURRENCY)

        async def counts(view: HostView, c: Container) -> Body:
            async with limit:
                try:
                    top = await readings.top(view, c)
                    found: list[tuple[str, int | None]] = [
                        (key, count_processes(top, prog, ANY)) for key, prog in self.processes]
                except (EngineError, ValueError):
                    found = []  # gone since, or no answer: no count rather than a false 0
            return self.node_id(view, c), count_items(found, date)

        wanted = [(v, c) for v in self.hosts if v.status.connected
                  for c in readings.running(v) if self.exists(self.node_id(v, c))]
        return [b for b in await asyncio.gather(*(counts(v, c) for v, c in wanted)) if b[1]]

    # ---- sending -----------------------------------------------------------------

    async def _send_rounds(self) -> None:
        """Each round's bodies; the manager away: what is left waits (newest wins) and
        is tried again with backoff, at most half an interval apart."""
        backoff = Backoff(1.0, min(30.0, self.trap.interval_seconds / 2))
        while True:
            if not self.latest:
                await self._round_wake.wait()
            self._round_wake.clear()
            if await self._send_pending():
                backoff.reset()
            else:
                await asyncio.sleep(backoff.next())

    async def _send_pending(self) -> bool:
        """What waits, paced (MIN_RATE, SPREAD_SHARE), `concurrency` at once; False when
        a body did not get there (it waits again, with the rest)."""
        n = max(1, len(self.latest))
        pacer = Pacer(max(n / (self.trap.interval_seconds * SPREAD_SHARE), MIN_RATE))
        down = asyncio.Event()

        async def worker() -> None:
            while not down.is_set() and (entry := self.latest.take()) is not None:
                await pacer.wait()
                if await self.poster.post(*entry) == "failed":
                    self.latest.put_back(*entry)
                    down.set()

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.trap.concurrency, n)):
                group.create_task(worker())
        return not down.is_set()

    async def _send_strings(self) -> None:
        """In order per node; what could not be sent stays and is tried again with
        backoff (1 s → 30 s); an item waiting for its node is looked at each second."""
        backoff = Backoff()
        while True:
            try:
                async with asyncio.timeout(1.0 if self.strings else None):
                    await self._string_wake.wait()
            except TimeoutError:
                pass
            self._string_wake.clear()
            while (batch := self.strings.batch(self.exists, time.time())) is not None:
                facility_id, waiting = batch
                packed = pack(facility_id, [w.item for w in waiting])
                if await self.poster.post(facility_id, packed) == "failed":
                    await asyncio.sleep(backoff.next())
                    continue
                backoff.reset()
                self.strings.sent(waiting)

    def snapshot(self) -> PushSnapshot:
        p = self.poster
        return PushSnapshot(url=self.trap.url, rounds=self.rounds,
                            bodies_sent=p.bodies_sent, items_sent=p.items_sent,
                            rejected=p.rejected, failed=p.failed,
                            queued=len(self.strings), dropped=self.strings.dropped,
                            unknown_node=self.strings.unknown_node,
                            superseded=self.latest.superseded,
                            last_error=p.last_error, last_ok=p.last_ok)


ANY = compile_pattern(".*", "args")


def merge(a: Iterable[Body], b: Iterable[Body]) -> list[Body]:
    """One body per node: the items of both, in order."""
    out: dict[str, list[TrapItem]] = {}
    for fid, items in (*a, *b):
        out.setdefault(fid, []).extend(items)
    return list(out.items())
