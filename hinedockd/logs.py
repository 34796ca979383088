"""structlog set-up for a systemd service.

Under systemd the daemon writes the journal's native protocol (one datagram per
entry to /run/systemd/journal/socket), so every key of a log call becomes a
journal field: `journalctl -u hinedockd HOST=docker_host1 ACTION=die` works.
Elsewhere it writes one JSON object per line on stdout (or readable text).
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from hinedockd.redact import redact_values

JOURNAL_SOCKET = "/run/systemd/journal/socket"
PRIORITIES = {"debug": 7, "info": 6, "warning": 4, "warn": 4, "error": 3, "critical": 2,
              "exception": 3}


def journal_field(name: str) -> str:
    """A valid journal field name: A-Z, 0-9, _; not starting with _ or a digit."""
    clean = "".join(c if c.isalnum() and c.isascii() else "_" for c in name.upper())
    clean = clean.lstrip("_") or "FIELD"
    return ("F" + clean if clean[0].isdigit() else clean)[:64]


def journal_entry(event_dict: MutableMapping[str, Any]) -> bytes:
    """The native protocol: `NAME=value\\n`, or for values holding a newline
    `NAME\\n<u64 little-endian length><value>\\n`."""
    fields: dict[str, str] = {
        "MESSAGE": str(event_dict.pop("event", "")),
        "PRIORITY": str(PRIORITIES.get(str(event_dict.pop("level", "info")), 6)),
        "SYSLOG_IDENTIFIER": "hinedockd",
    }
    event_dict.pop("timestamp", None)  # the journal stamps entries itself
    for key, value in event_dict.items():
        text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
        fields[journal_field(key)] = text
    out = bytearray()
    for name, value in fields.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalLogger:
    """Sends entries without ever blocking: a full journal socket drops the entry."""

    def __init__(self, path: str = JOURNAL_SOCKET) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.dropped = 0

    def msg(self, entry: bytes) -> None:
        try:
            self.sock.sendto(entry, self.path)
        except OSError:
            self.dropped += 1

    debug = info = warning = warn = error = critical = exception = msg


def _journal_renderer(logger: Any, name: str, event_dict: MutableMapping[str, Any]) -> bytes:
    return journal_entry(event_dict)


def use_journal(target: str) -> bool:
    if target == "journal":
        return True
    # systemd sets JOURNAL_STREAM when stdout goes to the journal.
    return target == "auto" and bool(os.environ.get("JOURNAL_STREAM")) \
        and os.path.exists(JOURNAL_SOCKET)


def configure(fmt: str = "json", level: int = logging.INFO, target: str = "auto",
              journal_path: str = JOURNAL_SOCKET) -> None:
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_values,  # last: the rendered traceback too
    ]
    factory: Any
    if use_journal(target):
        processors.append(_journal_renderer)
        journal = JournalLogger(journal_path)
        factory = lambda *args: journal  # noqa: E731
    else:
        processors.append(structlog.processors.JSONRenderer() if fmt == "json"
                          else structlog.dev.ConsoleRenderer(colors=False))
        factory = structlog.PrintLoggerFactory(sys.stdout)
    structlog.configure(processors=processors,
                        wrapper_class=structlog.make_filtering_bound_logger(level),
                        logger_factory=factory, cache_logger_on_first_use=True)
