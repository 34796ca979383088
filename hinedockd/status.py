"""`hinedock status`: the daemon's own health, as JSON and as a table. Pure but for
`process_figures`, which reads /proc."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Iterable, Sequence
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


# Each table's columns: a title and its format (`.16`: cut to 16); the last one, the
# error, takes the rest of the line.
HOST_COLUMNS = (("HOST", "<16.16"), ("ENGINE", "<14"), ("SINCE", "<14"), ("LAST EVENT", "<14"),
                ("RUN/PAU/EXI/ALL", "<15"), ("STATS", "<12"), ("ENGINE CPU", ">10"),
                ("HINEMOS", "<16"), ("LAST ERROR", ""))
SYSLOG_COLUMNS = (("SYSLOG TARGET", "<40.40"), ("STATE", "<13"), ("SENT", ">8"),
                  ("QUEUED", ">7"), ("DROPPED", ">8"), ("LAST ERROR", ""))
PUSH_COLUMNS = (("CUSTOM TRAP", "<40.40"), ("LAST OK", "<14"), ("SENT", ">8"),
                ("FAILED", ">7"), ("QUEUED", ">7"), ("DROPPED", ">8"), ("REFUSED", ">8"),
                ("LAST ERROR", ""))
LOG_COLUMNS = (("CONTAINER LOG", "<16"), ("HOST", "<16.16"), ("NAME", "<20.20"),
               ("STREAMS", "<13"), ("STATE", "<9"), ("LINES", ">8"), ("SENT", ">8"),
               ("DROPPED", ">8"), ("LAST ERROR", ""))


def _table(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[object]]) -> list[str]:
    """A title line and a line per row, each cell in its column's format."""
    def line(cells: Sequence[object]) -> str:
        return " ".join(format(c, f) for c, (_, f) in zip(cells, columns, strict=True))

    return [line([title for title, _ in columns]), *(line(r) for r in rows)]


def _hinemos(sync: SyncSnapshot | None) -> str:
    """The Hinemos column: how the last pass went, and when."""
    text = {True: "ok", False: "failing", None: "-"}[sync.last_ok if sync else None]
    if sync and sync.last_refused:
        text = "partial"
    if sync and sync.last_at:
        text += " " + _clock(sync.last_at)[6:]
    return text


def _error(text: str) -> str:
    """A last-error cell: printable, "-" when there is none."""
    return header_safe(text) or "-"


def _host_row(h: HostSnapshot, sync: SyncSnapshot | None) -> list[object]:
    states = h.states
    counts = (f"{states.get('running', 0)}/{states.get('paused', 0)}/"
              f"{states.get('exited', 0)}/{h.containers}")
    return [header_safe(h.facility_id), "connected" if h.connected else "disconnected",
            _clock(h.since), _clock(h.last_event_ns / 1e9), counts, _stats(h), _cost(h),
            _hinemos(sync), _error(h.last_error or (sync.last_error if sync else ""))]


def status_table(hosts: Sequence[HostLine], syslog: Sequence[SinkSnapshot],
                 push: PushSnapshot | None = None,
                 logs: Sequence[FollowedSnapshot] = ()) -> str:
    """One line per host, then one per syslog target, then the custom trap push, then
    one per container whose own log is followed."""
    rows = _table(HOST_COLUMNS, (_host_row(h, sync) for h, sync in hosts))
    if syslog:
        rows += ["", *_table(SYSLOG_COLUMNS, (
            [t.target, "connected" if t.connected else "not connected", t.sent, t.queued,
             t.dropped, _error(t.last_error)] for t in syslog))]
    if push is not None:
        rows += ["", *_table(PUSH_COLUMNS, [[
            push.url, _clock(push.last_ok), push.bodies_sent, push.failed, push.queued,
            push.dropped + push.unknown_node, push.rejected,
            _error(push.last_error)]])]
    if logs:
        rows += ["", *_table(LOG_COLUMNS, (
            [f.container, header_safe(f.host), header_safe(f.name), f.streams,
             "following" if f.connected else "stopped", f.lines, f.sent, f.dropped,
             _error(f.last_error)] for f in logs))]
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
