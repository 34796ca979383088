"""Runs the daemon's long-lived components and notices at once when one ends.

A component is a coroutine that runs until it is cancelled. Expected failures (an
engine gone, a manager down, a syslog receiver away) are handled inside its own
loops, with backoff. One that raises anything else, or returns, has died of a bug:
it is logged at once, with its name and traceback, and `wait` returns, so that
the daemon stops in order and exits 1 and systemd restarts it
(`Restart=on-failure`). Without this, a dead Hinemos sync or syslog hub would
leave a daemon that looks healthy and pings the watchdog while doing nothing.

Why not one `asyncio.TaskGroup`: a group cancels every task at once when one
fails, and the daemon's stop has an order (no new messages, then the queued ones
leave, then the cursors are saved past them). The done-callback here notices a
death as promptly, and leaves the order to `stop`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger("hinedockd")


class Supervisor:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[str] = set()
        self._died: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def start(self, name: str, component: Coroutine[Any, Any, None]) -> None:
        if name in self._tasks:
            raise ValueError(f"two components named {name!r}")
        task = asyncio.create_task(component, name=name)
        self._tasks[name] = task
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        name = task.get_name()
        if name in self._stopping:
            if not task.cancelled() and task.exception() is not None:
                log.error("component failed while stopping", component=name,
                          exc_info=task.exception())
            return
        if task.cancelled():
            log.critical("component cancelled unexpectedly; stopping", component=name)
        elif (error := task.exception()) is not None:
            log.critical("component died; stopping", component=name, exc_info=error)
        else:
            log.critical("component ended unexpectedly; stopping", component=name)
        if not self._died.done():
            self._died.set_result(name)

    async def wait(self, stop: asyncio.Event) -> str | None:
        """Until `stop` is set (None) or a component dies (its name, the first one)."""
        stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        died: asyncio.Future[Any] = self._died
        try:
            await asyncio.wait({stopped, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        return self._died.result() if self._died.done() else None

    async def stop(self, *prefixes: str) -> None:
        """Cancel the components whose names start with one of `prefixes` (all of
        them when none is given), and wait until they are gone."""
        names = [n for n in self._tasks if not prefixes or n.startswith(prefixes)]
        self._stopping.update(names)
        tasks = [self._tasks.pop(n) for n in names]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
