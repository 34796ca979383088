"""Custom trap monitoring (カスタムトラップ監視, Hinemos 6.0+): what one push says. Pure.

Instead of Hinemos starting a process per monitored node and interval, the daemon
POSTs each node's figures to the manager's `monitor.customtrap.url`. The body, as the
manager reads it (hinemos/hinemos: HinemosManager/src_customtrap/com/clustercontrol/
customtrap/service/CustomTrapMonitorService.java, bean/CustomTraps.java):

    {"FacilityID": "<node>", "DATA": [{"DATE": "yyyy-MM-dd HH:mm:ss", "TYPE": "num",
                                       "KEY": "cpu_usage", "MSG": "12.50"}, …]}

- read line by line up to the first empty line, the lines joined: a body is one line;
- an item without KEY or MSG, of another TYPE, or a `num` whose MSG is not a decimal is
  dropped without a word, and an unreadable DATE fails the whole body (400): every item
  here has all four, a plain decimal for `num`, the manager's own date format;
- DATE is read in the manager's time zone (`[hinemos.customtrap] timezone`), to the
  second; the KEY is what a monitor's key pattern matches (`cpu_usage`, whole match).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import orjson

from hinedockd.messages.framing import sanitize
from hinedockd.metrics.figures import REPORT_FIGURES, Measured, report_value
from hinedockd.model import LIFE_FIGURES, LifeFigures
from hinedockd.output import number

MSG_MAX = 1024  # a string item's text (a state, an event line), sanitised and capped


@dataclass(frozen=True)
class TrapItem:
    date: str
    type: Literal["num", "string"]
    key: str
    msg: str


def trap_date(when: float, zone: str | None) -> str:
    """`yyyy-MM-dd HH:mm:ss` in the manager's zone (None: this machine's)."""
    if zone is None:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))
    return datetime.fromtimestamp(when, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def body(facility_id: str, items: Iterable[TrapItem]) -> bytes:
    """One line of JSON (orjson escapes every control character in a string), so the
    manager's line reader takes it whole."""
    return orjson.dumps({"FacilityID": facility_id, "DATA": [
        {"DATE": i.date, "TYPE": i.type, "KEY": i.key, "MSG": i.msg} for i in items]})


def _num(date: str, key: str, value: float, decimals: int = 2) -> TrapItem:
    text = str(value) if isinstance(value, int) else number(value, decimals)
    return TrapItem(date, "num", key, text)


def figure_items(figures: Measured | None, life: LifeFigures | None, keys: Iterable[str],
                 date: str) -> list[TrapItem]:
    """The `num` items of one container: the figures over the push interval (the same
    ones `hinedock cpu|mem|disk|net` answer for that window) and its lifecycle. A
    figure the container does not have (just started, no health check, not inspected
    yet, packets on Podman, per core on cgroup v2) is left out, never sent as 0."""
    out: list[TrapItem] = []
    for key in keys:
        if key == "cpu_usage#*":
            cores = figures.cpu.per_core if figures is not None else None
            out += [_num(date, f"cpu_usage#{i}", v) for i, v in enumerate(cores or ())]
            continue
        value = (report_value(figures, key) if figures is not None and key in REPORT_FIGURES
                 else None)
        if value is None and life is not None and key in LIFE_FIGURES:
            told = LIFE_FIGURES[key].value(life)
            value = None if isinstance(told, str) else told  # a reason is no figure
        if value is not None:
            out.append(_num(date, key, value))
    return out


@dataclass(frozen=True)
class HostReading:
    """What a host node's items are made of: the engine answering, its containers per
    state, and the SNMP figures outside the containers (None: no SNMP, or no answer)."""

    connected: bool
    counts: Mapping[str, int]
    cpu_outside: float | None = None  # % of the host, as `hinedock cpu --with-host`
    mem_outside: float | None = None  # % of the host's memory, as `hinedock mem --with-host`


def host_items(r: HostReading, keys: Iterable[str], date: str) -> list[TrapItem]:
    """A host node's `num` items. `engine_status` is sent when the engine does not
    answer too (0): that is what a monitor of it is for; the rest only when it does."""
    out: list[TrapItem] = []
    for key in keys:
        if key == "engine_status":
            out.append(_num(date, key, int(r.connected)))
        elif not r.connected:
            continue
        elif key == "cpu_usage":
            if r.cpu_outside is not None:
                out.append(_num(date, key, r.cpu_outside))
        elif key == "host_mem_usage":
            if r.mem_outside is not None:
                out.append(_num(date, key, r.mem_outside))
        elif key in r.counts:
            out.append(_num(date, key, r.counts[key]))
    return out


def count_items(counts: Iterable[tuple[str, int | None]], date: str) -> list[TrapItem]:
    """Process counts (KEY, count); a count that could not be read is left out."""
    return [_num(date, key, n) for key, n in counts if n is not None]


def string_item(date: str, key: str, text: str) -> TrapItem | None:
    """A `string` item (a state, an event); None when nothing printable is left (the
    manager drops an empty MSG)."""
    msg = sanitize(text, MSG_MAX).strip()
    return TrapItem(date, "string", key, msg) if msg else None
