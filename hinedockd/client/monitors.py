"""The monitors of the report (§3.1, §3.3-3.7) as functions: daemon answer -> lines.

Both `hinedock` and the report-compatible commands call these, so the keys and
formats are defined once. Stdlib only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hinedockd.client.output import Lines
from hinedockd.client.transport import ClientError, get, quote

REPORT_STATES = ("running", "restarting", "paused", "exited")
ALL_STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
# `hinedock states`: a number per state so that a numeric monitor can alert on it.
STATE_CODES = {s: i for i, s in enumerate(("running", "paused", "restarting", "created",
                                           "exited", "dead", "removing"))}


@dataclass(frozen=True)
class Target:
    """Which host and containers a command is about (the report's -i -p -c -n)."""

    host: str = "127.0.0.1"
    port: int | None = None
    ids: str | None = None
    names: str | None = None
    socket: str | None = None

    def get(self, what: str, **params: str | None) -> Any:
        if self.ids and self.names:
            raise ClientError("give -c (container ID) or -n (container name), not both")
        params.update(port=None if self.port is None else str(self.port), id=self.ids,
                      name=self.names)
        return get(f"/v1/hosts/{quote(self.host)}/{what}", params, self.socket)


@dataclass
class Result:
    lines: Lines
    notes: list[str]


def _figures(t: Target, window: float | None, key: str | None, scale: str | None = None,
             detail: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    data = t.get("metrics", window=None if window is None else str(window), key=key,
                 scale=scale, detail="1" if detail else None)
    ok, notes = [], []
    for c in data["containers"]:
        if c.get("window"):
            ok.append(c)
        else:
            notes.append(f"{c['id'][:12]} {c['name']}: {c.get('error', 'no data')}")
    if not data.get("connected"):
        notes.append(f"{data['host']}: not connected to the engine; figures may be stale")
    if (t.ids or t.names) and not ok:
        raise ClientError("; ".join(notes) or "no running container selected")
    return ok, notes


def host_status(t: Target) -> Result:
    lines = Lines()
    lines.add("Status", int(t.get("ping")["status"]))
    return Result(lines, [])


def host_count(t: Target, states: Iterable[str] = ALL_STATES) -> Result:
    counts = t.get("counts")["counts"]
    lines = Lines()
    for s in states:
        lines.add(s, int(counts.get(s, 0)))
    return Result(lines, [])


def host_size(t: Target, states: Iterable[str] = ALL_STATES) -> Result:
    sizes = t.get("size")["sizes"]
    lines = Lines()
    lines.add("image", int(sizes["image"]))
    for s in states:
        lines.add(s, int(sizes.get(s, 0)))
    return Result(lines, [])


def cpu(t: Target, *, core: bool = False, window: float | None = None, key: str | None = None,
        scale: str | None = None) -> Result:
    figs, notes = _figures(t, window, key, scale)
    lines = Lines()
    for c in figs:
        if not core:
            lines.add(f"cpu_usage:{c['name']}", c["cpu"]["percent"])
        elif c["cpu"]["per_core"] is None:
            raise ClientError(f"{c['name']}: {c['cpu']['per_core_error']}")
        else:
            for i, v in enumerate(c["cpu"]["per_core"]):
                lines.add(f"cpu_usage#{i}:{c['name']}", v)
    return Result(lines, notes)


def memory(t: Target, *, of: str = "host") -> Result:
    """of = "host" (% of host memory), "limit" (% of the container's limit) or
    "detail" (every memory_stats.stats key; bare keys for one container as in the
    report, `key:<id8>` when several are selected so keys stay unique)."""
    figs, notes = _figures(t, None, None, detail=of == "detail")
    lines = Lines()
    for c in figs:
        m = c["memory"]
        if of == "detail":
            suffix = "" if len(figs) == 1 else f":{c['id'][:8]}"
            for k, v in m["detail"].items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    lines.add(f"{k}{suffix}", v if isinstance(v, int) else float(v))
        else:
            lines.add(f"host_mem_usage:{c['id'][:8]}",
                      m["host_percent"] if of == "host" else m["limit_percent"])
    return Result(lines, notes)


def disk(t: Target, *, read: bool = True, write: bool = True, per_second: bool = False,
         window: float | None = None, key: str | None = None) -> Result:
    figs, notes = _figures(t, window, key)
    lines = Lines()
    unit = "_per_second" if per_second else "_bytes"
    for c in figs:
        for op, wanted in (("read", read), ("write", write)):
            if wanted:
                lines.add(f"disk_{op}:{c['id'][:8]}", c["disk"][f"{op}{unit}"])
    return Result(lines, notes)


def network(t: Target, *, kb: bool = True, pck: bool = False, rx: bool = True,
            tx: bool = True, per_second: bool = False, window: float | None = None,
            key: str | None = None) -> Result:
    figs, notes = _figures(t, window, key)
    lines = Lines()
    suffix = "_per_second" if per_second else ""
    for c in figs:
        for label, field, wanted in (("kb", "bytes", kb), ("pck", "packets", pck)):
            for d, on in (("rx", rx), ("tx", tx)):
                if wanted and on:
                    lines.add(f"nw_{d}{label}:{c['id'][:8]}", c["net"][f"{d}_{field}{suffix}"])
    return Result(lines, notes)


def processes(t: Target, *, prog: str | None = None, args: str | None = None) -> Result:
    data = t.get("processes", prog=prog, args=args)
    label = " ".join(p for p in (prog, args) if p) or ".*"
    lines, notes = Lines(), []
    for c in data["containers"]:
        if "error" in c:
            notes.append(f"{c['id'][:12]} {c['name']}: {c['error']}")
        else:
            lines.add(f"{label}:{c['id'][:12]}", int(c["count"]))
    if (t.ids or t.names) and not lines.lines:
        raise ClientError("; ".join(notes) or "no running container selected")
    return Result(lines, notes)


def states(t: Target) -> Result:
    lines = Lines()
    for c in t.get("containers")["containers"]:
        lines.add(f"state:{c['id'][:12]}", STATE_CODES.get(c["state"], len(STATE_CODES)))
    return Result(lines, [])
