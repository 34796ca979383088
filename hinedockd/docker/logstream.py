"""One container's own output, followed: `GET /containers/{id}/logs?follow=1&timestamps=1`.

The engine ends the stream when the container stops (Docker and Podman, after the
last lines); a stream that breaks while the container runs is reopened with backoff
from where it was (`since`, given by the caller). Each connect starts with the
container's inspect: whether it has a TTY (the stream is then raw bytes, not frames)
and whether it still runs. The lines go to the caller as they are cut
(docker/logframes.py); what to do with them is messages/containerlogs.py's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from hinedockd.backoff import Backoff
from hinedockd.docker.engine import Engine, EngineError
from hinedockd.docker.frames import FrameError
from hinedockd.docker.logframes import STDERR, STDOUT, LogLine, LogSplitter, parse_log_time

# A driver that keeps nothing to read (`none`, `syslog`, `fluentd`... on Docker without
# its dual logging) is told once; the stream is not retried until the container starts
# again.
UNREADABLE_STATUSES = frozenset({400, 501})


@dataclass(frozen=True)
class Inspected:
    tty: bool
    running: bool
    log_driver: str
    started_ns: int | None  # State.StartedAt, the engine's clock


def _table(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, Mapping) else {}


def inspected(doc: Any) -> Inspected:
    """The facts the stream needs from a container's inspect."""
    if not isinstance(doc, Mapping):
        raise ValueError("inspect answer is not an object")
    config, state, host = (_table(doc, k) for k in ("Config", "State", "HostConfig"))
    log_config = host.get("LogConfig")
    driver = log_config.get("Type") if isinstance(log_config, Mapping) else ""
    started = state.get("StartedAt")
    return Inspected(tty=bool(config.get("Tty")), running=bool(state.get("Running")),
                     log_driver=driver if isinstance(driver, str) else "",
                     started_ns=parse_log_time(started.encode())
                     if isinstance(started, str) else None)


class LogsUnreadable(Exception):
    """The engine keeps no log to read for this container (its driver)."""


class LogStream:
    """Follows one container until it stops, is removed, or the caller cancels.
    `since(inspected)` says where each connection starts: nanoseconds of the
    engine's clock, 0 for the beginning, None for new lines only."""

    def __init__(self, engine: Engine, cid: str, streams: frozenset[int],
                 since: Callable[[Inspected], int | None],
                 on_lines: Callable[[list[LogLine]], None], on_connect: Callable[[], None],
                 log: structlog.typing.FilteringBoundLogger) -> None:
        self.engine, self.cid, self.streams = engine, cid, streams
        self._since, self._on_lines, self._on_connect = since, on_lines, on_connect
        self.log = log.bind(container=cid[:12])
        self.connected = False
        self.reconnects = 0
        self.last_error = ""

    def params(self, since: int | None) -> dict[str, str]:
        p = {"follow": "1", "timestamps": "1",
             "stdout": "1" if STDOUT in self.streams else "0",
             "stderr": "1" if STDERR in self.streams else "0"}
        if since is None:
            p["tail"] = "0"
        elif since > 0:
            p["since"] = f"{since // 10**9}.{since % 10**9:09d}"
        return p

    async def run(self) -> None:
        """Until the container no longer runs (after its last lines) or is gone.
        LogsUnreadable when its driver keeps nothing to read."""
        backoff = Backoff(0.5, 30.0)
        path = f"containers/{self.cid}/logs"
        while True:
            opened = time.monotonic()
            try:
                facts = inspected(await self.engine.get_json(f"containers/{self.cid}/json"))
                if not facts.running:
                    return
                self._on_connect()
                splitter = LogSplitter(facts.tty)

                def on_data(data: bytes, splitter: LogSplitter = splitter) -> None:
                    lines = splitter.feed(data)
                    if lines:
                        self._on_lines(lines)

                proto = await self.engine.open_lines(path, self.params(self._since(facts)), on_data,
                                                     raw=True)
                self.connected = True
                try:
                    await self.engine.wait_lines(proto, path)
                finally:
                    self.connected = False
                    self._on_lines(splitter.end())
            except EngineError as e:
                if e.status == 404:
                    return  # removed: its events tell
                if e.status in UNREADABLE_STATUSES:
                    raise LogsUnreadable(str(e)) from e
                self.last_error = str(e)
                self.log.info("log stream lost, reconnecting", error=str(e))
            except (FrameError, ValueError) as e:
                self.last_error = str(e)
                self.log.warning("log stream not understood, reconnecting", error=str(e))
            if time.monotonic() - opened > 30:
                backoff.reset()
            self.reconnects += 1
            await asyncio.sleep(backoff.next())
