"""One host's stats side: samples into series, and the two ways to get them.

- `StatsStreams` (`stats = "stream"`): one `/containers/{id}/stats` stream per
  running or paused container, reopened on error, and by a watchdog when silent
  for `stats_silence_seconds` (a stream has no read timeout of its own).
- `StatsPoller` (`stats = "poll"`): one-shot samples of every live container every
  `poll_interval_seconds`, a bounded number at a time.

Both hand raw samples to `Samples`, which parses them and keeps one bounded
`Series` per container (metrics/series.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import structlog

from hinedockd.backoff import Backoff
from hinedockd.docker.dialect import DOCKER
from hinedockd.docker.engine import Engine, EngineError
from hinedockd.docker.jsonstream import JsonLinesProtocol
from hinedockd.docker.view import HostStatus
from hinedockd.metrics.sample import SampleError, parse_sample
from hinedockd.metrics.series import Series
from hinedockd.rounds import RoundClock

Log = structlog.typing.FilteringBoundLogger
# Silence is judged against the stream's own pace (Docker sends a sample a second,
# Podman one every 5 s): a stream is reopened after the larger of
# `stats_silence_seconds` and this many of its intervals (an interval counts up to
# MAX_INTERVAL, so that one long gap does not make the watchdog blind).
SILENT_INTERVALS = 3
MAX_INTERVAL = 30.0


class Samples:
    """Parsed samples, one series per container that `known` still lists."""

    def __init__(self, retention_seconds: int, status: HostStatus,
                 known: Callable[[str], bool], log: Log) -> None:
        self.retention, self.status, self._known, self.log = retention_seconds, status, known, log
        self.series: dict[str, Series] = {}
        self.dialect = DOCKER  # the engine's, set by the host at each connect
        self._bad_logged = 0.0

    def on_raw(self, cid: str, raw: bytes) -> None:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            self._bad(cid, f"not JSON: {e}")
            return
        self.on_doc(cid, doc)

    def on_doc(self, cid: str, doc: Any) -> None:
        try:
            sample = parse_sample(doc)
        except SampleError as e:
            self._bad(cid, str(e))
            return
        if sample is None or not self._known(cid):
            return
        if self.dialect.network_swapped:
            sample = sample._replace(rx_bytes=sample.tx_bytes, tx_bytes=sample.rx_bytes)
        series = self.series.get(cid)
        if series is None:
            series = self.series[cid] = Series(self.retention)
        series.push(sample)
        self.status.samples += 1

    def forget(self, cid: str) -> None:
        self.series.pop(cid, None)

    def _bad(self, cid: str, error: str) -> None:
        self.status.bad_samples += 1
        now = time.monotonic()
        if now - self._bad_logged > 10:  # one line per 10 s, the counter says the rest
            self._bad_logged = now
            self.log.warning("stats sample skipped", container=cid[:12], error=error,
                             bad_samples=self.status.bad_samples)


class StatsPump:
    """One container's stats stream, reopened on error until cancelled."""

    def __init__(self, engine: Engine, samples: Samples, cid: str, log: Log) -> None:
        self.engine, self.samples, self.cid, self.log = engine, samples, cid, log
        self.stream: JsonLinesProtocol | None = None
        self.last = time.monotonic()  # the last sample, for the silence watchdog
        self.interval = 0.0  # between the last two samples: the engine's own pace
        self.task: asyncio.Task[None] | None = None

    def on_line(self, raw: bytes) -> None:
        now = time.monotonic()
        self.interval, self.last = min(now - self.last, MAX_INTERVAL), now
        self.samples.on_raw(self.cid, raw)

    async def run(self) -> None:
        backoff = Backoff(0.5, 10.0)
        path = f"containers/{self.cid}/stats"
        while True:
            opened = time.monotonic()
            try:
                self.stream = await self.engine.open_lines(path, {"stream": "1"}, self.on_line)
                self.last = time.monotonic()
                await self.engine.wait_lines(self.stream, path)
            except EngineError as e:
                if e.status == 404:
                    return  # the container is gone; the events stream will say so
                self.log.info("stats stream broken, reopening", container=self.cid[:12],
                              error=str(e))
            finally:
                self.stream = None
            if time.monotonic() - opened > 30:
                backoff.reset()
            await asyncio.sleep(backoff.next())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.stream is not None:
            self.stream.close()


class StatsStreams:
    """A pump per live container (`follow`), and the silence watchdog. The pumps
    are tasks of this object's task group: they end with it."""

    def __init__(self, engine: Engine, samples: Samples, silence_seconds: float,
                 log: Log) -> None:
        self.engine, self.samples, self.silence, self.log = engine, samples, silence_seconds, log
        self.pumps: dict[str, StatsPump] = {}
        self._group: asyncio.TaskGroup | None = None

    def follow(self, cid: str, live: bool) -> None:
        """Open a stream for a container that became live, close one that is not."""
        if live and cid not in self.pumps:
            pump = self.pumps[cid] = StatsPump(self.engine, self.samples, cid, self.log)
            self._start(pump)
        elif not live and cid in self.pumps:
            self.pumps.pop(cid).stop()

    def _start(self, pump: StatsPump) -> None:
        if self._group is not None:  # else: `run` starts it
            pump.task = self._group.create_task(pump.run(), name=f"stats:{pump.cid[:12]}")

    def open_count(self) -> int:
        return sum(1 for p in self.pumps.values() if p.stream is not None)

    async def run(self, every: float = 1.0) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                for pump in self.pumps.values():
                    self._start(pump)
                while True:
                    await asyncio.sleep(every)
                    self._reopen_silent()
        finally:
            self._group = None
            for pump in self.pumps.values():
                pump.stop()

    def _reopen_silent(self) -> None:
        now = time.monotonic()
        for pump in list(self.pumps.values()):
            allowed = max(self.silence, SILENT_INTERVALS * pump.interval)
            if pump.stream is not None and now - pump.last > allowed:
                self.log.info("stats stream silent, reopening", container=pump.cid[:12],
                              silent_seconds=round(now - pump.last, 1))
                pump.stream.close()


# The engine's CPU (dockerd + containerd + the shims) per sample, measured on Docker
# 20.10, cgroup v1, 2 cores, 100 containers: a one-shot answer 3.9 ms (median of three,
# bench/sample_cost.py, bench/README.md §8), a held stream's sample 2.6 ms (its engine CPU
# over samples, bench/engine_cost.py, §7): the status view's estimate of what the
# daemon's sampling costs each engine.
ENGINE_CPU_MS_PER_SAMPLE = {"stream": 2.6, "poll": 3.9}
# A poll round is over this long before each whole multiple of the interval, so that a
# push round or a monitor run on the minute finds a sample a second or so old, not an
# interval old, and the engine quiet: Docker answers a round's one-shot requests in a
# burst at its collector's tick, and a client started during one waited 76-165 ms
# instead of 27-45 (101 containers, 64 at once, 2 cores, 2026-12-03).
ROUND_LEAD_SECONDS = 1.0
# A container that starts is sampled at once and again this much later: it answers
# with a rate within seconds instead of after two rounds.
FIRST_GAP_SECONDS = 5.0


def round_lead(took: float, interval: float) -> float:
    """How long before the multiple a round starts, so that one that takes as long as
    the last (`took` seconds) is over ROUND_LEAD_SECONDS before it; at most half the
    interval. Pure."""
    return min(ROUND_LEAD_SECONDS + max(0.0, took), interval / 2)


class StatsPoller:
    """One-shot samples (`one-shot=true`: no second-sample wait on the engine) of
    every live container in rounds on the clock (`next_round`), each started so that
    it is over a second before the multiple if it takes as long as the last
    (`round_lead`), `concurrency` at a time; a container that starts is sampled at
    once and FIRST_GAP_SECONDS later.

    Why poll, and this often: the engine's work per sample is the cost (about 4 ms of
    dockerd + containerd + shim CPU a sample, streamed or asked, and twice that for the
    `stream=false` answer other monitors ask for: bench/sample_cost.py),
    and every answer but memory is an average over a window whose ends need a sample
    near them, not every second between: each end is within one interval of the one
    asked for (`Series.delta` takes the nearest sample)."""

    def __init__(self, engine: Engine, samples: Samples, interval: float, concurrency: int,
                 live: Callable[[], Iterable[str]], log: Log, offset: float = 0.0) -> None:
        """`offset`: this host's rounds start this much earlier than a lone host's, so
        that a fleet's rounds do not fall on one second (docker/fleet.py)."""
        self.engine, self.samples, self.log = engine, samples, log
        self.interval, self.concurrency, self._live = interval, concurrency, live
        self.offset = offset
        self._gate = asyncio.Semaphore(concurrency)
        self._first: asyncio.Queue[str] = asyncio.Queue()

    def started(self, cid: str) -> None:
        """A container is live now (started, unpaused, or found at a connect)."""
        self._first.put_nowait(cid)

    async def _one(self, cid: str) -> None:
        async with self._gate:
            try:
                raw = await self.engine.get_once(f"containers/{cid}/stats",
                                                 {"stream": "false", "one-shot": "true"})
            except EngineError as e:
                if e.status != 404:
                    self.log.info("stats poll failed", container=cid[:12], error=str(e))
                return
            self.samples.on_raw(cid, raw)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._rounds())
            group.create_task(self._first_samples(group))

    async def _rounds(self) -> None:
        clock, lead = RoundClock(self.interval), ROUND_LEAD_SECONDS
        while True:
            await clock.wait(lead + self.offset)
            started = time.time()
            await asyncio.gather(*(self._one(cid) for cid in self._live()))
            lead = round_lead(time.time() - started, self.interval)

    async def _first_samples(self, group: asyncio.TaskGroup) -> None:
        while True:
            cid = await self._first.get()
            group.create_task(self._twice(cid))

    async def _twice(self, cid: str) -> None:
        await self._one(cid)
        await asyncio.sleep(FIRST_GAP_SECONDS)
        if cid in self._live():
            await self._one(cid)


class SampleRate:
    """Samples per minute over the last minute or so, from the running total marked
    every few seconds (the status view's cost column). Pure."""

    def __init__(self) -> None:
        self.marks: deque[tuple[float, int]] = deque(maxlen=16)

    def mark(self, now: float, total: int) -> None:
        self.marks.append((now, total))

    def per_minute(self) -> float | None:
        if len(self.marks) < 2:
            return None
        newest_t, newest = self.marks[-1]
        # The oldest mark within a minute of the newest, or else the one before it.
        old_t, old = next((m for m in self.marks if newest_t - m[0] <= 60), self.marks[-2])
        if old_t >= newest_t:
            old_t, old = self.marks[-2]
        span = newest_t - old_t
        return (newest - old) * 60 / span if span > 0 else None
