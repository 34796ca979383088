from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from hinedockd.messages.framing import (
    MAX_MESSAGE,
    event_text,
    file_line,
    is_syslog_hostname,
    lf_framed,
    octet_counted,
    rfc3164,
    rfc5424,
    sanitize,
    state_text,
)
from tests.hinemos_syslog import parse

WHEN = time.mktime((2026, 11, 8, 9, 5, 3, 0, 0, -1))


def test_rfc3164_as_hinemos_reads_it() -> None:
    raw = rfc3164("docker_host1", "container start id=4dfd0a12b9de name=web1", when=WHEN)
    assert raw == ("<14>Nov  8 09:05:03 docker_host1 hinedockd: "
                   "container start id=4dfd0a12b9de name=web1")
    p = parse(raw)
    assert (p.hostname, p.tag, p.pri) == ("docker_host1", "hinedockd", 14)
    state = rfc3164("4dfd0a12b9de", state_text("4dfd0a12b9de", "exited"), when=WHEN,
                    facility="local0", severity="notice")
    p = parse(state)
    assert (p.hostname, p.message, p.pri) == ("4dfd0a12b9de", "4dfd0a12b9de exited", 133)


def test_rfc5424_and_file_lines() -> None:
    raw = rfc5424("docker_host1", "x y", when=1795875966.25)
    assert raw == "<14>1 2026-11-28T14:26:06.250000Z docker_host1 hinedockd - - - x y"
    assert file_line(rfc3164("h", "m", when=WHEN)) == "Nov  8 09:05:03 h hinedockd: m"


def test_tcp_framing_counts_bytes() -> None:
    assert octet_counted("<14>é") == b"6 <14>\xc3\xa9"
    assert lf_framed("<14>a") == b"<14>a\n"


def test_hostile_attributes_are_sanitised_and_capped() -> None:
    evil = {"name": "web1", "label\nx": "line1\n<13>Nov  8 09:05:03 admin su: root\r\x1b[31m",
            "big": "A" * 5000, "日本語": "ラベル"}
    text = event_text("container", "create", "a" * 64, evil)
    assert "\n" not in text and "\r" not in text and "\x1b" not in text
    assert "label_x=line1 <13>Nov" in text  # the injected "message" stays inside this one
    assert "日本語=ラベル" in text  # UTF-8 text survives
    assert "A" * 300 not in text and "..." in text
    raw = rfc3164("docker_host1", text)
    assert len(raw.encode()) < MAX_MESSAGE + 100
    assert parse(raw).hostname == "docker_host1"


def test_hostnames_hinemos_accepts() -> None:
    assert is_syslog_hostname("docker_host1") and is_syslog_hostname("4dfd0a12b9de")
    for bad in ("", "host@x", "docker.host1", "ホスト", "a b", "x:"):
        assert not is_syslog_hostname(bad), bad


@given(st.text(max_size=400))
def test_any_text_makes_one_parseable_line(text: str) -> None:
    clean = sanitize(text)
    assert all(c.isprintable() for c in clean) and len(clean) <= 256
    raw = rfc3164("docker_host1", event_text("container", text, "id", {text[:10]: text}))
    assert "\n" not in raw and "\r" not in raw
    assert parse(raw).hostname == "docker_host1"
