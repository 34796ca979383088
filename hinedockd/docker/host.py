"""Everything the daemon knows about one Docker host, kept current from its streams.

One HostWatcher per configured host owns: the events pump (its own reconnect
loop, `since=` resume, dedupe on timeNano, full re-list after each connect), the
container inventory, one stats pump per running/paused container (or the
poller), and the metric series. Hosts fail independently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson
import structlog

from hinedockd.backoff import Backoff
from hinedockd.config import DaemonConfig, HostConfig
from hinedockd.docker.engine import Engine, EngineError
from hinedockd.docker.lines import JsonLinesProtocol
from hinedockd.metrics.sample import SampleError, parse_sample, parse_time
from hinedockd.metrics.series import Series
from hinedockd.model import (
    LIFECYCLE_ACTIONS,
    STATS_STATES,
    Container,
    EngineEvent,
    StateError,
    container_from_list,
    event_from_json,
)
from hinedockd.state import HostState

log = structlog.get_logger("hinedockd.host")

# What a lifecycle action tells us at once; a re-list of that one container follows.
ACTION_STATE = {
    "create": "created", "start": "running", "restart": "running", "unpause": "running",
    "pause": "paused", "die": "exited", "stop": "exited",
}
# Event attributes that are not labels.
NON_LABEL_ATTRIBUTES = frozenset({"name", "image", "exitCode", "signal", "execID", "oldName"})

ChangeListener = Callable[["HostWatcher", Container | None, Container | None], None]
EventListener = Callable[["HostWatcher", EngineEvent], None]
# (watcher, container ID, container name, new state or "removed")
StateListener = Callable[["HostWatcher", str, str, str], None]
REMOVED = "removed"


@dataclass
class HostStatus:
    connected: bool = False
    since: float = 0.0  # wall time of the last connect or disconnect
    last_event_ns: int = 0
    last_error: str = ""
    last_error_at: float = 0.0
    reconnects: int = 0
    events: int = 0
    samples: int = 0
    bad_samples: int = 0
    ping_ok: bool | None = None
    mem_total: int = 0
    ncpu: int = 0
    server_version: str = ""


def _engine_time_ns(text: Any) -> int:
    """The engine's clock (`/info` SystemTime), or 0 when it does not say."""
    try:
        return int(parse_time(text) * 1e9) if isinstance(text, str) else 0
    except SampleError:
        return 0


class StatsPump:
    """One container's stats stream; reopened on error and by the silence watchdog."""

    def __init__(self, watcher: HostWatcher, cid: str) -> None:
        self.watcher, self.cid = watcher, cid
        self.stream: JsonLinesProtocol | None = None
        self.last = time.monotonic()
        self.task = asyncio.create_task(self.run(), name=f"stats:{cid[:12]}")

    def on_line(self, raw: bytes) -> None:
        self.last = time.monotonic()
        self.watcher.on_stats_raw(self.cid, raw)

    async def run(self) -> None:
        w, backoff = self.watcher, Backoff(0.5, 10.0)
        path = f"containers/{self.cid}/stats"
        while True:
            opened = time.monotonic()
            try:
                self.stream = await w.engine.open_lines(path, {"stream": "1"}, self.on_line)
                self.last = time.monotonic()
                await w.engine.wait_lines(self.stream, path)
            except EngineError as e:
                if e.status == 404:
                    return  # the container is gone; the events pump will say so
                w.log.info("stats stream broken, reopening", container=self.cid[:12],
                           error=str(e))
            except Exception:
                w.log.exception("stats pump failed unexpectedly, reopening",
                                container=self.cid[:12])
            finally:
                self.stream = None
            if time.monotonic() - opened > 30:
                backoff.reset()
            await asyncio.sleep(backoff.next())

    def stop(self) -> None:
        self.task.cancel()
        if self.stream is not None:
            self.stream.close()


class HostWatcher:
    def __init__(self, host: HostConfig, daemon: DaemonConfig,
                 engine: Engine | None = None, saved: HostState | None = None) -> None:
        self.host, self.daemon = host, daemon
        self.engine = engine or Engine(host)
        self.log = log.bind(host=host.facility_id)
        self.containers: dict[str, Container] = {}
        self.series: dict[str, Series] = {}
        self.pumps: dict[str, StatsPump] = {}
        self.status = HostStatus()
        self.change_listeners: list[ChangeListener] = []
        self.event_listeners: list[EventListener] = []
        self.state_listeners: list[StateListener] = []
        self.connect_listeners: list[Callable[[HostWatcher], None]] = []
        saved = saved or HostState()
        # Resumed from disk: events since the cursor are replayed by the engine, and
        # states are reported only where they differ from what was last reported.
        self.cursor_ns = saved.cursor_ns
        self.reported: dict[str, str] = dict(saved.states)
        self.dirty = False  # cursor or reported states changed since the last save
        self._listed_ns = 0  # engine time just before the last full list
        self._at_cursor: set[tuple[int, str, str, str]] = set()
        self._events: JsonLinesProtocol | None = None
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._refresh_again: set[str] = set()
        self._size: tuple[float, dict[str, int]] | None = None
        self._size_task: asyncio.Task[dict[str, int]] | None = None
        self._bad_logged = 0.0

    # ---- running ---------------------------------------------------------------

    async def run(self) -> None:
        """Runs until cancelled; nothing here raises out of its loop."""
        loops = [self.events_pump(), self.health_loop(), self.relist_loop()]
        loops.append(self.poll_loop() if self.host.stats == "poll" else self.watchdog_loop())
        try:
            async with asyncio.TaskGroup() as tg:
                for coro in loops:
                    tg.create_task(coro)
        finally:
            for p in self.pumps.values():
                p.stop()
            for t in self._refreshing.values():
                t.cancel()
            await self.engine.close()

    def _fail(self, error: str) -> None:
        if self.status.connected:
            self.status.connected, self.status.since = False, time.time()
        self.status.last_error, self.status.last_error_at = error, time.time()

    async def events_pump(self) -> None:
        backoff = Backoff(0.5, 30.0)
        while True:
            params = {}
            if self.cursor_ns:
                params["since"] = f"{self.cursor_ns // 10**9}.{self.cursor_ns % 10**9:09d}"
            opened = time.monotonic()
            try:
                # Subscribe first, then list: nothing can fall between the two. Events
                # are held until the list is applied, so that they win over it.
                stream = await self.engine.open_lines("events", params, self.on_event_raw,
                                                      hold=True)
                self._events = stream
                try:
                    await self._on_connect()
                except BaseException:
                    stream.close()
                    raise
                stream.release()
                await self.engine.wait_lines(stream, "events")
                raise EngineError(f"{self.host.facility_id}: events stream ended")
            except EngineError as e:
                self._fail(str(e))
                self.log.warning("events stream lost, reconnecting", error=str(e))
            except Exception as e:  # a bug or an answer nobody foresaw: log it, go on
                self._fail(f"{type(e).__name__}: {e}")
                self.log.exception("events pump failed unexpectedly, reconnecting")
            finally:
                self._events = None
            if time.monotonic() - opened > 30:
                backoff.reset()
            self.status.reconnects += 1
            await asyncio.sleep(backoff.next())

    async def _on_connect(self) -> None:
        info = await self.engine.get_json("info")
        if isinstance(info, Mapping):
            self._listed_ns = _engine_time_ns(info.get("SystemTime"))
            self.status.mem_total = int(info.get("MemTotal") or 0)
            self.status.ncpu = int(info.get("NCPU") or 0)
            self.status.server_version = str(info.get("ServerVersion", ""))
        await self.relist()
        self.status.connected, self.status.since = True, time.time()
        self._notify(self.connect_listeners)
        self.log.info("events stream connected", containers=len(self.containers),
                      since_ns=self.cursor_ns or None)

    async def relist(self) -> None:
        """Full re-list: the engine replays at most 256 events, so after any gap the
        list is the truth. Containers that vanished are reported as removed."""
        items = await self.engine.get_json("containers/json", {"all": "1"})
        seen: dict[str, Container] = {}
        for item in items if isinstance(items, list) else []:
            c = self._parse_container(item)
            if c is not None:
                seen[c.id] = c
        for cid in list(self.containers):
            if cid not in seen:
                self._set(cid, None)
        for cid in list(self.reported):  # gone while the daemon was down
            if cid not in seen and cid not in self.containers:
                self._report(cid, cid[:12], None)
        for cid, c in seen.items():
            self._set(cid, c)

    def _parse_container(self, item: Any) -> Container | None:
        try:
            return container_from_list(item)
        except (StateError, KeyError, TypeError, AttributeError) as e:
            self.log.error("container entry not understood", error=str(e))
            return None

    async def relist_loop(self) -> None:
        """A safety net: states that no event names (restarting, dead, removing) and
        anything a lagging list hid from a refresh are caught by a periodic re-list."""
        while True:
            await asyncio.sleep(self.daemon.relist_seconds)
            if self.status.connected:
                try:
                    await self.relist()
                except EngineError as e:
                    self.log.info("periodic re-list failed", error=str(e))

    async def health_loop(self, every: float = 5.0) -> None:
        failures = 0
        while True:
            ok = await self.engine.ping()
            self.status.ping_ok = ok
            failures = 0 if ok else failures + 1
            # A stream can hang on a dead peer without ever closing: force a reconnect.
            if failures >= 3 and self._events is not None:
                self.log.warning("engine not answering pings; reopening the events stream")
                self._events.close()
            await asyncio.sleep(every)

    async def watchdog_loop(self, every: float = 1.0) -> None:
        silence = self.daemon.stats_silence_seconds
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            for pump in list(self.pumps.values()):
                if pump.stream is not None and now - pump.last > silence:
                    self.log.info("stats stream silent, reopening", container=pump.cid[:12],
                                  silent_seconds=round(now - pump.last, 1))
                    pump.stream.close()

    async def poll_loop(self) -> None:
        sem = asyncio.Semaphore(self.host.poll_concurrency)
        interval = self.host.poll_interval_seconds

        async def one(cid: str) -> None:
            async with sem:
                try:
                    doc = await self.engine.get_json(f"containers/{cid}/stats",
                                                     {"stream": "false", "one-shot": "true"})
                except EngineError as e:
                    if e.status != 404:
                        self.log.info("stats poll failed", container=cid[:12], error=str(e))
                    return
                self.on_stats(cid, doc)

        while True:
            started = time.monotonic()
            if self.status.connected:
                live = [cid for cid, c in self.containers.items() if c.state in STATS_STATES]
                await asyncio.gather(*(one(cid) for cid in live))
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    # ---- events ----------------------------------------------------------------

    def on_event_raw(self, raw: bytes) -> None:
        try:
            ev = event_from_json(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValueError) as e:
            self.log.error("event not understood, skipped", error=str(e),
                           raw=raw[:200].decode("utf-8", "replace"))
            return
        self.on_event(ev)

    def on_event(self, ev: EngineEvent) -> None:
        if not self._is_new(ev):
            return
        self.status.events += 1
        self.status.last_event_ns = ev.time_nano
        self.dirty = True
        self._notify(self.event_listeners, ev)
        action = ev.action.split(":", 1)[0]
        # Events older than the last full list (a replay after a reconnect) are already
        # in it: applying them again would move states backwards for a moment.
        if (ev.type == "container" and action in LIFECYCLE_ACTIONS and ev.actor_id
                and ev.time_nano >= self._listed_ns):
            self._apply_container_event(ev, action)

    def _is_new(self, ev: EngineEvent) -> bool:
        """Dedupe replays after a `since=` reconnect."""
        if ev.time_nano < self.cursor_ns:
            return False
        if ev.time_nano == self.cursor_ns:
            if ev.key in self._at_cursor:
                return False
            self._at_cursor.add(ev.key)
        else:
            self.cursor_ns, self._at_cursor = ev.time_nano, {ev.key}
        return True

    def _apply_container_event(self, ev: EngineEvent, action: str) -> None:
        cid = ev.actor_id
        if action == "destroy":
            self._set(cid, None)
            return
        old = self.containers.get(cid)
        attrs = ev.attributes
        state = ACTION_STATE.get(action)
        if old is None:
            labels = {k: v for k, v in attrs.items() if k not in NON_LABEL_ATTRIBUTES}
            new = Container(id=cid, name=attrs.get("name", cid[:12]), state=state or "created",
                            image=attrs.get("image", ""), labels=labels)
        else:
            name = attrs.get("name", old.name) if action == "rename" else old.name
            new = replace(old, state=state or old.state, name=name)
        self._set(cid, new)
        self._refresh_soon(cid)

    def _refresh_soon(self, cid: str) -> None:
        """Re-list one container (same shape as the full list), coalescing bursts."""
        if cid in self._refreshing:
            self._refresh_again.add(cid)
        else:
            self._refreshing[cid] = asyncio.create_task(self._refresh(cid))

    async def _refresh(self, cid: str) -> None:
        try:
            while True:
                self._refresh_again.discard(cid)
                filters = orjson.dumps({"id": [cid]}).decode()
                try:
                    items = await self.engine.get_json("containers/json",
                                                       {"all": "1", "filters": filters})
                except EngineError as e:
                    self.log.info("container refresh failed", container=cid[:12], error=str(e))
                    return
                found = [c for c in map(self._parse_container, items or []) if c and c.id == cid]
                current = self.containers.get(cid)
                # The engine's list can lag its own events by a moment, so the state
                # stays what the events said; the list brings the other attributes.
                # A container missing here is left to its destroy event (or the next
                # full re-list).
                if found and current is not None:
                    self._set(cid, replace(found[0], state=current.state))
                if cid not in self._refresh_again:
                    return
        finally:
            self._refreshing.pop(cid, None)

    def _set(self, cid: str, new: Container | None) -> None:
        """The single writer of the inventory; starts and stops stats pumps."""
        old = self.containers.get(cid)
        if new is None:
            self.containers.pop(cid, None)
            self.series.pop(cid, None)
        else:
            self.containers[cid] = new
        live = new is not None and new.state in STATS_STATES
        if live and self.host.stats == "stream" and cid not in self.pumps:
            self.pumps[cid] = StatsPump(self, cid)
        elif not live and cid in self.pumps:
            self.pumps.pop(cid).stop()
        if old != new:
            self._notify(self.change_listeners, old, new)
        known = new or old
        self._report(cid, known.name if known else cid[:12], new.state if new else None)

    def _report(self, cid: str, name: str, state: str | None) -> None:
        """Tell state listeners when a state differs from the one last reported (which
        survives restarts), so that a change while the daemon was down is told once."""
        if state is None:
            if self.reported.pop(cid, None) is None:
                return
            state = REMOVED
        elif self.reported.get(cid) == state:
            return
        else:
            self.reported[cid] = state
        self.dirty = True
        self._notify(self.state_listeners, cid, name, state)

    def _notify(self, listeners: list[Any], *args: Any) -> None:
        """A failing listener (syslog, Hinemos sync) is logged; the others and the
        streams go on."""
        for listener in listeners:
            try:
                listener(self, *args)
            except Exception:
                self.log.exception("listener failed", listener=getattr(listener, "__qualname__",
                                                                       repr(listener)))

    def saved_state(self) -> HostState:
        self.dirty = False
        return HostState(self.cursor_ns, dict(self.reported))

    # ---- stats -----------------------------------------------------------------

    def on_stats_raw(self, cid: str, raw: bytes) -> None:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            self._bad_sample(cid, f"not JSON: {e}")
            return
        self.on_stats(cid, doc)

    def on_stats(self, cid: str, doc: Any) -> None:
        try:
            sample = parse_sample(doc)
        except SampleError as e:
            self._bad_sample(cid, str(e))
            return
        if sample is None or cid not in self.containers:
            return
        series = self.series.get(cid)
        if series is None:
            series = self.series[cid] = Series(self.daemon.retention_seconds)
        series.push(sample)
        self.status.samples += 1

    def _bad_sample(self, cid: str, error: str) -> None:
        self.status.bad_samples += 1
        now = time.monotonic()
        if now - self._bad_logged > 10:  # one line per 10 s, the counter says the rest
            self._bad_logged = now
            self.log.warning("stats sample skipped", container=cid[:12], error=error,
                             bad_samples=self.status.bad_samples)

    # ---- on demand -------------------------------------------------------------

    async def disk_usage(self) -> dict[str, int]:
        """Images and per-state container sizes, cached: the engine pays a lot for it."""
        ttl = self.daemon.size_cache_seconds
        if self._size and time.monotonic() - self._size[0] < ttl:
            return self._size[1]
        if self._size_task is None:
            self._size_task = asyncio.create_task(self._disk_usage())
        try:
            result = await asyncio.shield(self._size_task)
        finally:
            if self._size_task.done():
                self._size_task = None
        self._size = (time.monotonic(), result)
        return result

    async def _disk_usage(self) -> dict[str, int]:
        df = await self.engine.get_json("system/df")
        if not isinstance(df, Mapping):
            raise EngineError(f"{self.host.facility_id}: /system/df answer is not an object")
        images = df.get("LayersSize")
        if not isinstance(images, int):
            images = sum(int(i.get("Size") or 0) for i in df.get("Images") or [])
        sizes = {"image": images}
        sizes.update({s: 0 for s in ("running", "restarting", "paused", "exited", "created",
                                     "dead", "removing")})
        for item in df.get("Containers") or []:
            c = self._parse_container(item)
            if c is not None:
                sizes[c.state] += int(item.get("SizeRw") or 0)
        return sizes

    async def top(self, cid: str) -> Any:
        return await self.engine.get_json(f"containers/{cid}/top")

    def snapshot(self) -> dict[str, Any]:
        s = self.status
        return {
            "facility_id": self.host.facility_id,
            "address": self.host.address,
            "stats_mode": self.host.stats,
            "connected": s.connected,
            "since": s.since,
            "ping_ok": s.ping_ok,
            "last_event_ns": s.last_event_ns,
            "last_error": s.last_error,
            "last_error_at": s.last_error_at,
            "reconnects": s.reconnects,
            "events": s.events,
            "samples": s.samples,
            "bad_samples": s.bad_samples,
            "containers": len(self.containers),
            "states": {st: sum(c.state == st for c in self.containers.values())
                       for st in ("running", "paused", "exited", "created", "restarting",
                                  "dead", "removing")},
            "streams_open": sum(1 for p in self.pumps.values() if p.stream is not None),
            "mem_total": s.mem_total,
            "ncpu": s.ncpu,
            "server_version": s.server_version,
        }
