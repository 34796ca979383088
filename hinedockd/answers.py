"""What the local API answers, as frozen dataclasses. Pure.

`queries.py` makes them from a host's view; `monitors.py` turns them into Hinemos
lines; `api.py` serves them as JSON (orjson writes dataclasses as objects with
these field names: they are the API's, `/v1/hosts/{host}/{data}`). mypy checks
every consumer against them, so a renamed field fails the type check, not a
monitor in production.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hinedockd.metrics.figures import ContainerFigures, Measured
from hinedockd.model import ContainerState, LifeFigures


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
    """Σ over every running container with figures, and the one home of the host's
    share outside them (`hinedock cpu|mem --with-host`, the custom trap's host node)."""

    cpu_percent: float
    rss: int

    @classmethod
    def of(cls, measured: Iterable[Measured]) -> RunningTotals:
        cpu, rss = 0.0, 0
        for m in measured:
            cpu += m.cpu.percent
            rss += m.memory.rss if m.memory is not None else 0
        return cls(cpu, rss)

    def cpu_outside(self, host: HostFigures) -> float | None:
        """The host's CPU not used by its containers: the host's percent (host scale)
        minus theirs; None without SNMP figures."""
        if host.error or host.cpu_percent is None:
            return None
        return max(0.0, host.cpu_percent - self.cpu_percent)

    def memory_outside(self, host: HostFigures) -> float | None:
        """The host's memory used (not free, buffers or cache) outside its containers'
        rss, percent of its total; None without SNMP figures."""
        mem = None if host.error else host.memory
        if mem is None or not mem.total:
            return None
        return 100.0 * max(0, mem.used - self.rss) / mem.total


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


@dataclass(frozen=True)
class SyncSnapshot:
    """A host's Hinemos column of `hinedock status` (the names are the API's)."""

    passes: int
    last_at: float
    last_ok: bool | None  # False also when some writes were refused (partial)
    last_error: str
    last_writes: int
    last_refused: int  # writes the manager refused in the last pass; the rest went on
    last_full_seconds: float = 0.0  # how long the last completed full pass took (0: none yet)


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
    unknown_node: int  # string items whose node never came to exist
    superseded: int  # num bodies replaced by a newer round before they could leave
    last_error: str
    last_ok: float
