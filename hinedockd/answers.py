"""What the local API answers, as frozen dataclasses. Pure.

`queries.py` makes them from a host's view; `monitors.py` turns them into Hinemos
lines; `api.py` serves them as JSON (orjson writes dataclasses as objects with
these field names: they are the API's, `/v1/hosts/{host}/{data}`). mypy checks
every consumer against them, so a renamed field fails the type check, not a
monitor in production.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hinedockd.docker.lifecycle import LifeFigures
from hinedockd.metrics.figures import ContainerFigures
from hinedockd.model import ContainerState


@dataclass(frozen=True)
class PingAnswer:
    status: int  # 0 OK, 1 not OK (the report's MonitorDockerHostStatus.py)
    ping_ok: bool
    stream_connected: bool
    since: float
    last_error: str


@dataclass(frozen=True)
class ContainerItem:
    id: str
    name: str
    state: ContainerState
    image: str
    command: str
    ports: Sequence[str]


@dataclass(frozen=True)
class ContainersAnswer:
    host: str
    connected: bool
    containers: Sequence[ContainerItem]
    last_error: str = ""


@dataclass(frozen=True)
class CountsAnswer:
    host: str
    counts: Mapping[str, int]  # per ContainerState value


@dataclass(frozen=True)
class SizeAnswer:
    host: str
    sizes: Mapping[str, int]  # "image" and per ContainerState value, bytes


@dataclass(frozen=True)
class HostMemoryFigures:
    total: int
    used: int  # neither free, buffers nor cache
    free: int
    buffers: int
    cached: int


@dataclass(frozen=True)
class HostFigures:
    """The host's own figures from its SNMP agent, or why there are none."""

    error: str | None
    cpu_percent: float | None
    cpu_seconds: float | None
    memory: HostMemoryFigures | None


@dataclass(frozen=True)
class RunningTotals:
    """Σ over every running container with figures (for the host's share outside them)."""

    cpu_percent: float
    rss: int


@dataclass(frozen=True)
class MetricsAnswer:
    host: str
    window_requested: float
    connected: bool
    host_figures: HostFigures | None  # asked with --with-host
    all_running: RunningTotals | None  # with host_figures
    containers: Sequence[ContainerFigures]
    engine: str = "docker"  # named where the engine gives no figure (docker/dialect.py)
    last_error: str = ""  # why the host is not connected, when it is not


@dataclass(frozen=True)
class ProcessCount:
    id: str
    name: str
    count: int | None
    error: str | None = None


@dataclass(frozen=True)
class ProcessesAnswer:
    host: str
    containers: Sequence[ProcessCount]


@dataclass(frozen=True)
class EventItem:
    time_nano: int
    text: str
    severity: str  # as the daemon sends it (messages/framing.py: event_severity)


@dataclass(frozen=True)
class EventsAnswer:
    host: str
    hostname: str  # the HOSTNAME its syslog messages carry
    events: Sequence[EventItem]


@dataclass(frozen=True)
class LifecycleAnswer:
    host: str
    window: float  # the counts (restarts, oom events) are over this many seconds
    connected: bool
    containers: Sequence[LifeFigures]
    last_error: str = ""
