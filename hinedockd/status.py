"""`hinedock status`: the daemon's own health, as JSON and as a table. Pure but for
`process_figures`, which reads /proc."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hinedockd.answers import PushSnapshot, SyncSnapshot
from hinedockd.docker.view import HostSnapshot
from hinedockd.messages.containerlogs import FollowedSnapshot
from hinedockd.messages.senders import SinkSnapshot

API_VERSION = 1
HostLine = tuple[HostSnapshot, SyncSnapshot | None]


def header_safe(text: str) -> str:
    """Printable ASCII only (names come from containers): for an HTTP header or a
    terminal."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:1000]


def _clock(t: float) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def _stats(h: HostSnapshot) -> str:
    """How the host is sampled: streams open, or samples a minute when polled."""
    if h.stats_mode == "stream":
        return f"{h.streams_open} streams"
    rate = h.samples_per_minute
    return f"{rate:.0f}/min" if rate is not None else "poll"


def _cost(h: HostSnapshot) -> str:
    """The engine's CPU the sampling costs, estimated: ms a minute."""
    ms = h.engine_cpu_ms_per_minute
    return "-" if ms is None else f"{ms:.0f}ms/min"


def status_table(hosts: Sequence[HostLine], syslog: Sequence[SinkSnapshot],
                 push: PushSnapshot | None = None,
                 logs: Sequence[FollowedSnapshot] = ()) -> str:
    """One line per host, then one per syslog target, then the custom trap push, then
    one per container whose own log is followed."""
    rows = [f"{'HOST':<16} {'ENGINE':<14} {'SINCE':<14} {'LAST EVENT':<14} "
            f"{'RUN/PAU/EXI/ALL':<15} {'STATS':<12} {'ENGINE CPU':>10} {'HINEMOS':<16} "
            f"LAST ERROR"]
    for h, sync in hosts:
        states = h.states
        counts = (f"{states.get('running', 0)}/{states.get('paused', 0)}/"
                  f"{states.get('exited', 0)}/{h.containers}")
        hinemos = {True: "ok", False: "failing", None: "-"}[sync.last_ok if sync else None]
        if sync and sync.last_refused:
            hinemos = "partial"
        if sync and sync.last_at:
            hinemos += " " + _clock(sync.last_at)[6:]
        error = h.last_error or (sync.last_error if sync else "") or "-"
        engine = "connected" if h.connected else "disconnected"
        rows.append(f"{header_safe(h.facility_id)[:16]:<16} {engine:<14} "
                    f"{_clock(h.since):<14} {_clock(h.last_event_ns / 1e9):<14} "
                    f"{counts:<15} {_stats(h):<12} {_cost(h):>10} {hinemos:<16} "
                    f"{header_safe(error)}")
    if syslog:
        rows.append("")
        rows.append(f"{'SYSLOG TARGET':<40} {'STATE':<13} {'SENT':>8} {'QUEUED':>7} "
                    f"{'DROPPED':>8} LAST ERROR")
        for t in syslog:
            state = "connected" if t.connected else "not connected"
            rows.append(f"{t.target[:40]:<40} {state:<13} {t.sent:>8} {t.queued:>7} "
                        f"{t.dropped:>8} {header_safe(t.last_error) or '-'}")
    if push is not None:
        rows.append("")
        rows.append(f"{'CUSTOM TRAP':<40} {'LAST OK':<14} {'SENT':>8} {'FAILED':>7} "
                    f"{'QUEUED':>7} {'DROPPED':>8} {'REFUSED':>8} LAST ERROR")
        rows.append(f"{push.url[:40]:<40} {_clock(push.last_ok):<14} {push.bodies_sent:>8} "
                    f"{push.failed:>7} {push.queued:>7} "
                    f"{push.dropped + push.unknown_node:>8} {push.rejected:>8} "
                    f"{header_safe(push.last_error) or '-'}")
    if logs:
        rows.append("")
        rows.append(f"{'CONTAINER LOG':<16} {'HOST':<16} {'NAME':<20} {'STREAMS':<13} "
                    f"{'STATE':<9} {'LINES':>8} {'SENT':>8} {'DROPPED':>8} LAST ERROR")
        for f in logs:
            state = "following" if f.connected else "stopped"
            rows.append(f"{f.container:<16} {header_safe(f.host)[:16]:<16} "
                        f"{header_safe(f.name)[:20]:<20} {f.streams:<13} {state:<9} "
                        f"{f.lines:>8} {f.sent:>8} {f.dropped:>8} "
                        f"{header_safe(f.last_error) or '-'}")
    return "\n".join(rows) + "\n"


def status_document(hosts: Sequence[HostLine], syslog: Sequence[SinkSnapshot],
                    started: float, push: PushSnapshot | None = None,
                    logs: Sequence[FollowedSnapshot] = ()) -> dict[str, Any]:
    """`hinedock status --json`: each host's snapshot with its Hinemos sync inside."""
    return {"api": API_VERSION, "started": started, "pid": os.getpid(),
            "hosts": [{**dataclasses.asdict(h), "hinemos": sync} for h, sync in hosts],
            "syslog": syslog, "customtrap": push, "logs": logs,
            "process": process_figures()}


def process_figures() -> dict[str, int | None]:
    """The daemon's own footprint, to watch for leaks (tasks, descriptors, memory)."""
    rss = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    return {"tasks": len(asyncio.all_tasks()), "open_fds": fds, "rss_bytes": rss}
