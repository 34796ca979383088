"""What the rest of the daemon may know about a Docker host, and how it is told.

`HostView` is the read-only face of a watched host: the syslog hub, the Hinemos
sync, the local API and the Prometheus endpoint read a host through it and never
through the concrete `Host`, so none of them can write the inventory (it has one
writer, `docker/inventory.py`).

`HostObserver` is the one way lifecycle and state changes leave a host. The
supervisor (`app.py`) subscribes each consumer to each host, in one place; a
consumer overrides the methods it cares about (the others do nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hinedockd.model import Container, EngineEvent, LifeFigures

if TYPE_CHECKING:
    from hinedockd.config import HostConfig
    from hinedockd.docker.dialect import Dialect
    from hinedockd.docker.engine import Engine
    from hinedockd.docker.lifecycle import Alert
    from hinedockd.metrics.series import Series

# The state told for a container that no longer exists.
REMOVED = "removed"


@dataclass
class HostStatus:
    """The host's connection and counters, as `hinedock status` shows them."""

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


@dataclass(frozen=True)
class HostSnapshot:
    """One host's line of `hinedock status --json` (the names are the API's)."""

    facility_id: str
    address: str
    stats_mode: str
    connected: bool
    since: float
    ping_ok: bool | None
    last_event_ns: int
    last_error: str
    last_error_at: float
    reconnects: int
    events: int
    samples: int
    bad_samples: int
    containers: int
    states: Mapping[str, int]  # per ContainerState value
    streams_open: int
    mem_total: int
    ncpu: int
    server_version: str
    samples_per_minute: float | None = None  # asked of the engine, over the last minute
    engine_cpu_ms_per_minute: float | None = None  # what those cost it (an estimate)


class HostView(Protocol):
    """A watched host, read-only."""

    @property
    def host(self) -> HostConfig: ...

    @property
    def status(self) -> HostStatus: ...

    @property
    def containers(self) -> Mapping[str, Container]: ...

    @property
    def dialect(self) -> Dialect:
        """What this engine gives and how (found at each connect; Docker's before)."""
        ...

    @property
    def engine(self) -> Engine:
        """For on-demand calls (ping, top, disk usage, jobs); never the streams."""
        ...

    def series(self, cid: str) -> Series | None: ...

    def life_figures(self, c: Container, window: float, now: float) -> LifeFigures:
        """Restarts, OOM kills, exit code, uptime (docker/lifecycle.py)."""
        ...

    def health_command(self, cid: str) -> str | None:
        """The command the engine runs for the container's health check, as its exec
        events spell it (from the last inspect); None: none known."""
        ...

    def streams_open(self) -> int: ...

    def snapshot(self) -> HostSnapshot: ...

    async def disk_usage(self) -> Mapping[str, int]: ...


class HostObserver(Protocol):
    """Told by a host, in this order for one change: `container_changed`, then
    `state_reported`. Called synchronously from the host's stream callbacks: an
    observer must not block (queue the work; see `SyslogHub`, `HostSync`). An
    observer does not fail: an exception here is a bug, which ends the host and the
    daemon (supervisor.py) rather than leave the others told and it not."""

    def engine_event(self, host: HostView, event: EngineEvent) -> None:
        """Every engine event, once (replays after a reconnect are dropped)."""
        return None

    def container_changed(self, host: HostView, old: Container | None,
                          new: Container | None) -> None:
        """The inventory's entry for a container changed (None: absent)."""
        return None

    def state_reported(self, host: HostView, cid: str, name: str, state: str) -> None:
        """A container's state differs from the one last told (it survives daemon
        restarts): a `ContainerState` value, or `REMOVED`."""
        return None

    def connected(self, host: HostView) -> None:
        """The events stream is (re)connected and the inventory re-listed."""
        return None

    def container_alert(self, host: HostView, alert: Alert) -> None:
        """A container became unhealthy (or healthy again), was killed for memory, or
        is restarting in a loop (docker/lifecycle.py)."""
        return None
