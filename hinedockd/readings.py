"""What every consumer reads off a host's containers, in one place: the API's
queries, the custom trap, Prometheus. A container's figures are made from its series
with the host's memory and the engine's dialect (packets where it gives them) the
same way for all; the engine's process table is asked with the dialect's `ps`
arguments the same way for all. (The host's share outside its containers:
`answers.RunningTotals`.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hinedockd.docker.view import HostView
from hinedockd.metrics.figures import (
    ContainerFigures,
    Totals,
    container_figures,
    container_totals,
)
from hinedockd.model import STATS_STATES, Container, CpuScale


def running(view: HostView) -> Iterator[Container]:
    """The containers that have figures to read (running or paused)."""
    return (c for c in view.containers.values() if c.state in STATS_STATES)


def figures(view: HostView, c: Container, *, window: float, now: float,
            scale: CpuScale = "host", detail: bool = False) -> ContainerFigures:
    """Its figures over the `window` seconds ending `now` (`detail`: every
    memory_stats key as the engine sent it)."""
    return container_figures(c, view.series(c.id), window=window, now=now,
                             host_memory=view.status.mem_total, scale=scale,
                             memory_detail=detail, packets=view.dialect.packets)


def totals(view: HostView, c: Container) -> Totals | None:
    """Its cumulative counters as of its latest sample."""
    return container_totals(c, view.series(c.id), host_memory=view.status.mem_total,
                            packets=view.dialect.packets)


async def top(view: HostView, c: Container) -> Any:
    """`GET /containers/{id}/top` (Podman: with the arguments that read the processes
    from the host instead of running `ps` in the container, docker/dialect.py).
    Raises EngineError."""
    ps_args = view.dialect.top_ps_args
    return await view.engine.get_json(f"containers/{c.id}/top",
                                      {"ps_args": ps_args} if ps_args else None)
