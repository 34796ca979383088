"""Syslog messages as pure functions: sanitising, RFC 3164, RFC 5424, RFC 6587 framing.

Hinemos' system-log monitor parses RFC 3164 only (HINEMOS.md §4): `<PRI>Mmm dd
hh:mm:ss HOSTNAME TAG: MSG`, where HOSTNAME counts only if made of ASCII letters,
digits, `.`, `/`, `_`, `-`, and is shortened at its first dot before it is
matched against node names. Text that comes from containers (names, labels,
attributes, commands) is untrusted: no control character or line break reaches
a message, and every field is length-capped.

Stdlib only and light: the report-compatible client commands import it too.
"""

from __future__ import annotations

import time

FACILITIES = {"kern": 0, "user": 1, "daemon": 3, "auth": 4, "syslog": 5, "local0": 16,
              "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21,
              "local6": 22, "local7": 23}
SEVERITIES = {"err": 3, "warning": 4, "notice": 5, "info": 6}
TAG = "hinedockd"
MAX_FIELD = 256  # characters of one attribute value
MAX_MESSAGE = 2048  # bytes of MSG; a UDP datagram stays well under common limits
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HOST_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/-")


def sanitize(text: str, limit: int = MAX_FIELD) -> str:
    """One line of printable text: control characters (C0, DEL, C1, line and paragraph
    separators) become spaces; capped at `limit` characters with a marker."""
    clean = "".join(c if c.isprintable() else " " for c in text)
    return clean if len(clean) <= limit else clean[:limit - 3] + "..."


def is_syslog_hostname(name: str) -> bool:
    """Whether Hinemos would take `name` as the HOSTNAME and map it to a node name
    (no dot: Hinemos would keep only the part before it)."""
    return bool(name) and set(name) <= _HOST_CHARS and "." not in name and name[-1] != ":"


def _word(text: str) -> str:
    """A header field: one printable word."""
    return sanitize(text, 255).replace(" ", "_") or "-"


def _cap_bytes(text: str, limit: int = MAX_MESSAGE) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit - 3].decode("utf-8", "ignore") + "..."


def event_text(etype: str, action: str, actor_id: str, attributes: dict[str, str]) -> str:
    """`container start id=4dfd0a12b9de name=web1 image=busybox …` (attributes sorted)."""
    head = f"{sanitize(etype, 32)} {sanitize(action, 128)}"
    if actor_id:
        short = actor_id[:12] if len(actor_id) == 64 else actor_id
        head += f" id={sanitize(short, 128)}"
    parts = [f"{sanitize(k, 64).replace(' ', '_').replace('=', '_')}={sanitize(v)}"
             for k, v in sorted(attributes.items())]
    return _cap_bytes(" ".join([head, *parts]))


# One severity table for every path an engine event takes to syslog (the daemon's own
# messages and the report's MonitorDockerHostEvent.py -s): a system-log monitor that
# matches on priority sees the same event the same way from both.
WARNING_ACTIONS = frozenset({"die", "oom", "kill"})


# A container's state (`<id12> <state>`), whether told on a change, by the periodic
# report or by the report's MonitorDockerContainerStatus.py -s.
STATE_SEVERITY = "notice"


def event_severity(action: str) -> str:
    """`warning` for `die`, `kill`, `oom`; `info` for the rest."""
    return "warning" if action in WARNING_ACTIONS else "info"


def state_text(short_id: str, state: str) -> str:
    """The report's container-state message: `<id12> <state>`."""
    return f"{sanitize(short_id, 64)} {sanitize(state, 32)}"


def alert_text(short_id: str, kind: str, name: str,
               details: tuple[tuple[str, str | int], ...] = ()) -> str:
    """A container alert of the daemon's own: `<id12> <kind> name=<name> key=value…`
    (`4dfd0a12b9de oom_killed name=web1 exit_code=137`), so that one system-log monitor
    pattern matches each kind (README: `.* unhealthy .*`, `.* oom_killed .*`...)."""
    parts = [f"{sanitize(short_id, 64)} {sanitize(kind, 32)} name={sanitize(name, 256)}",
             *(f"{k}={sanitize(str(v), 64)}" for k, v in details)]
    return " ".join(parts)


def pri(facility: str, severity: str) -> int:
    return FACILITIES[facility] * 8 + SEVERITIES[severity]


def format_time(ns: int) -> str:
    """An engine time (nanoseconds) as RFC 3339 UTC: `2026-12-04T22:35:17.836274861Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def rfc3164(hostname: str, text: str, *, when: float | None = None, facility: str = "user",
            severity: str = "info", tag: str = TAG, limit: int = MAX_MESSAGE) -> str:
    """`<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG`, local time, day padded with a space;
    MSG cut at `limit` bytes with "..."."""
    t = time.localtime(time.time() if when is None else when)
    stamp = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    return (f"<{pri(facility, severity)}>{stamp} {_word(hostname)} {_word(tag)}: "
            f"{_cap_bytes(sanitize(text, 10**6), limit)}")


def rfc5424(hostname: str, text: str, *, when: float | None = None, facility: str = "user",
            severity: str = "info", tag: str = TAG, msgid: str = "-",
            limit: int = MAX_MESSAGE) -> str:
    """`<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG` (UTC, microseconds)."""
    now = time.time() if when is None else when
    t = time.gmtime(now)
    micros = int((now - int(now)) * 1e6)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{micros:06d}Z"
    return (f"<{pri(facility, severity)}>1 {stamp} {_word(hostname)} {_word(tag)} - "
            f"{_word(msgid)} - "
            f"{_cap_bytes(sanitize(text, 10**6), limit)}")


def file_line(message: str) -> str:
    """A framed message as a log-file line (the report's `-f LOGFILE`): without PRI."""
    return message.split(">", 1)[1] if message.startswith("<") else message


def octet_counted(message: str) -> bytes:
    """RFC 6587 §3.4.1: `LEN SP MSG`, LEN in bytes."""
    data = message.encode()
    return str(len(data)).encode() + b" " + data


def lf_framed(message: str) -> bytes:
    """RFC 6587 §3.4.2 (non-transparent framing): MSG LF; MSG holds no LF by construction."""
    return message.encode() + b"\n"
