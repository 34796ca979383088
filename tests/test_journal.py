"""The journal's native protocol, against a datagram socket standing in for journald
(which does not run here)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from hinedockd.logs import configure, journal_entry, journal_field


def decode(entry: bytes) -> dict[str, str]:
    fields, i = {}, 0
    while i < len(entry):
        nl = entry.index(b"\n", i)
        line = entry[i:nl]
        if b"=" in line:
            name, _, value = line.partition(b"=")
            fields[name.decode()] = value.decode()
            i = nl + 1
        else:
            (size,) = struct.unpack("<Q", entry[nl + 1:nl + 9])
            fields[line.decode()] = entry[nl + 9:nl + 9 + size].decode()
            assert entry[nl + 9 + size:nl + 10 + size] == b"\n"
            i = nl + 10 + size
    return fields


def test_entry_fields() -> None:
    entry = journal_entry({"event": "docker event", "level": "warning", "host": "docker_host1",
                           "attributes": {"name": "web1"}, "note": "two\nlines",
                           "_private": 1, "9lives": 2})
    f = decode(entry)
    assert f["MESSAGE"] == "docker event" and f["PRIORITY"] == "4"
    assert f["SYSLOG_IDENTIFIER"] == "hinedockd" and f["HOST"] == "docker_host1"
    assert f["ATTRIBUTES"] == '{"name":"web1"}' and f["NOTE"] == "two\nlines"
    assert f["PRIVATE"] == "1" and f["F9LIVES"] == "2"
    assert journal_field("a-b.c") == "A_B_C"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(tmp_path / "journal.sock"))
    s.settimeout(2)
    yield s
    s.close()
    structlog.reset_defaults()


def test_structlog_writes_to_the_journal(journal: socket.socket, tmp_path: Path) -> None:
    configure(target="journal", journal_path=str(tmp_path / "journal.sock"))
    structlog.get_logger("t").error("events stream lost", host="h1", error="refused")
    f = decode(journal.recv(65536))
    assert (f["MESSAGE"], f["PRIORITY"], f["HOST"], f["ERROR"]) == (
        "events stream lost", "3", "h1", "refused")
