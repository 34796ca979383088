"""Formatting of the report's monitors (pure) and the client's option parser."""

from __future__ import annotations

from typing import Any

import pytest

from hinedockd import monitors as m
from hinedockd.client.args import Spec, parse
from hinedockd.client.transport import ClientError, parse_answer, request_bytes
from hinedockd.output import Lines, OutputError, number
from tests.conftest import assert_hinemos_lines


def fig(name: str, cid: str, **over: Any) -> dict[str, Any]:
    f: dict[str, Any] = {
        "id": cid * 64, "name": name, "state": "running",
        "window": {"start": 0, "end": 60, "seconds": 60},
        "cpu": {"percent": 12.3456, "per_core": [20.0, 4.69], "per_core_error": None},
        "memory": {"host_percent": 0.24, "limit_percent": 50.0,
                   "detail": {"rss": 8556544, "total_rss": 8556544, "swap": 0}},
        "disk": {"read_bytes": 0.0, "write_bytes": 6000.0, "read_per_second": 0.0,
                 "write_per_second": 100.0},
        "net": {k: 1.0 for k in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets",
                                 "rx_bytes_per_second", "tx_bytes_per_second",
                                 "rx_packets_per_second", "tx_packets_per_second")},
    }
    f.update(over)
    return f


DATA: dict[str, Any] = {"host": "h", "connected": True,
                        "containers": [fig("web1", "a"), fig("web2", "b")]}


def text(result: m.Result) -> str:
    out = result.lines.text()
    assert_hinemos_lines(out)
    return out


def test_report_keys_and_formats() -> None:
    assert text(m.cpu(DATA, {})) == "cpu_usage:web1,12.35\ncpu_usage:web2,12.35\n"
    assert text(m.cpu(DATA, {"core": "1"})).splitlines()[:2] == ["cpu_usage#0:web1,20.00",
                                                                 "cpu_usage#1:web1,4.69"]
    assert text(m.memory(DATA, {})) == ("host_mem_usage:aaaaaaaa,0.24\n"
                                        "host_mem_usage:bbbbbbbb,0.24\n")
    assert "host_mem_usage:aaaaaaaa,50.00" in text(m.memory(DATA, {"of": "limit"}))
    one = {**DATA, "containers": [fig("web1", "a")]}
    assert text(m.memory(one, {"of": "detail"})) == "rss,8556544\ntotal_rss,8556544\nswap,0\n"
    assert "rss:bbbbbbbb,8556544" in text(m.memory(DATA, {"of": "detail"}))
    assert text(m.disk(one, {"write": "1"})) == "disk_write:aaaaaaaa,6000.00\n"
    assert text(m.disk(one, {"per_second": "1"})) == ("disk_read:aaaaaaaa,0.00\n"
                                                      "disk_write:aaaaaaaa,100.00\n")
    assert text(m.network(one, {"packets": "1", "rx": "1"})) == "nw_rxpck:aaaaaaaa,1.00\n"
    assert len(text(m.network(one, {})).splitlines()) == 2
    counts = {"counts": {"running": 3, "dead": 1}}
    assert text(m.host_count(counts, {"states": "report"})) == (
        "running,3\nrestarting,0\npaused,0\nexited,0\n")
    assert text(m.host_status({"status": 1}, {})) == "Status,1\n"
    procs = {"containers": [{"id": "c" * 64, "name": "x", "count": 4}]}
    assert text(m.processes(procs, {"prog": "httpd"})) == "httpd:cccccccccccc,4\n"
    assert text(m.processes(procs, {})) == ".*:cccccccccccc,4\n"


def test_containers_without_figures_become_notes() -> None:
    data = {**DATA, "containers": [fig("new", "c", window=None, error="no stats yet"),
                                   fig("web1", "a")]}
    r = m.cpu(data, {})
    assert text(r) == "cpu_usage:web1,12.35\n"
    assert r.notes == ["cccccccccccc new: no stats yet"]
    with pytest.raises(m.MonitorError, match="no stats yet"):
        m.cpu({**data, "containers": data["containers"][:1]}, {"name": "new"})


def test_cgroup_v2_per_core_is_an_error() -> None:
    v2 = fig("w", "a", cpu={"percent": 1.0, "per_core": None, "per_core_error": "not here"})
    with pytest.raises(m.MonitorError, match="not here"):
        m.cpu({**DATA, "containers": [v2]}, {"core": "1"})


def test_lines_refuse_what_hinemos_rejects() -> None:
    lines = Lines()
    lines.add("a\nb", 1)
    assert lines.text() == "a?b,1\n"
    with pytest.raises(OutputError, match="duplicate"):
        lines.add("a?b", 2)
    with pytest.raises(OutputError, match="cannot be printed"):
        lines.add("c", float("nan"))
    assert number(-0.001) == "0.00" and number(1e-7) == "0.00" and number(1e20).count("e") == 0
    big = Lines()
    for i in range(40):
        big.add(f"cpu_usage:container_{i}", 1.0)
    assert "512" in (big.buffer_warning() or "")


SPEC = Spec("prog", "about", "cpu", flags={"--core": ("core", "1"), "--all": ("core", "0")},
            values={"-i": "host", "-prog": "prog", "--window": "window"})


def test_option_parser() -> None:
    assert parse(SPEC, ["-i", "h1", "--core", "-prog", "x y", "--window=60"]) == {
        "host": "h1", "core": "1", "prog": "x y", "window": "60"}
    for argv, message in [(["--core", "--all"], "cannot be used together"),
                          (["-i"], "needs a value"), (["--nope"], "unrecognised")]:
        with pytest.raises(ClientError, match=message):
            parse(SPEC, argv)


def test_http_framing() -> None:
    assert request_bytes("/v1/lines/cpu", {"name": "web*", "k": "a b"}) == (
        b"GET /v1/lines/cpu?name=web%2A&k=a%20b HTTP/1.0\r\nHost: hinedockd\r\n\r\n")
    a = parse_answer(b"HTTP/1.1 200 OK\r\nHinedock-Note: one\r\nhinedock-note: two\r\n\r\nx,1\n")
    assert (a.status, a.notes, a.body) == (200, ["one", "two"], "x,1\n")
    with pytest.raises(ClientError, match="malformed"):
        parse_answer(b"garbage")
