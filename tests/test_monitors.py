"""Formatting of the report's monitors (pure) and the client's option parser. The
figures come from real series fed with known counters, as the daemon makes them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hinedockd import monitors as m
from hinedockd.answers import (
    CountsAnswer,
    HostFigures,
    HostMemoryFigures,
    MetricsAnswer,
    PingAnswer,
    ProcessCount,
    ProcessesAnswer,
    RunningTotals,
)
from hinedockd.client.args import Spec, parse
from hinedockd.client.transport import ClientError, parse_answer, request_bytes
from hinedockd.metrics.figures import ContainerFigures, container_figures
from hinedockd.metrics.sample import Sample
from hinedockd.metrics.series import Series
from hinedockd.model import Container, ContainerState
from hinedockd.output import Lines, OutputError, number
from tests.conftest import assert_hinemos_lines

HOST_MEMORY = 4 << 30
# Per second: CPU 0.2469 of a core (12.35 % of a 2-core host; 40 % and 9.38 % per
# core), 100 bytes written, 1 packet and 10 bytes received, 5 bytes sent. Memory:
# rss 8 MiB (0.20 % of the host, 50 % of a 16 MiB limit).
BASE = Sample(t=1000.0, cpu_total=0, percpu=(0, 0), online_cpus=2, rss=8 << 20,
              mem_limit=16 << 20, mem_stats={"rss": 8 << 20, "total_rss": 8 << 20, "swap": 0},
              cgroup=1, blk_read=0, blk_write=0, rx_bytes=0, tx_bytes=0, rx_packets=0,
              tx_packets=0)


def figures(name: str, cid: str, seconds: int = 60, v2: bool = False,
            absent: frozenset[str] = frozenset()) -> ContainerFigures:
    """A container's figures over 60 s from a series fed once a second (`absent`: what
    the engine does not give, metrics/sample.py)."""
    series = Series(retention=900)
    for i in range(seconds + 1):
        series.push(BASE._replace(
            t=1000.0 + i, cpu_total=246_912_000 * i,
            percpu=None if v2 else (400_000_000 * i, 93_824_000 * i),
            blk_write=100 * i, rx_bytes=10 * i, tx_bytes=5 * i, rx_packets=i, absent=absent))
    c = Container(id=cid * 64, name=name, state=ContainerState.RUNNING)
    return container_figures(c, series, window=60, now=None, host_memory=HOST_MEMORY,
                             scale="host", memory_detail=True)


def answer(*containers: ContainerFigures) -> MetricsAnswer:
    return MetricsAnswer(host="h", window_requested=60, connected=True, host_figures=None,
                         all_running=None, containers=list(containers))


DATA = answer(figures("web1", "a"), figures("web2", "b"))


def text(result: m.Result) -> str:
    out = result.lines.text()
    assert_hinemos_lines(out)
    return out


def test_report_keys_and_formats() -> None:
    assert text(m.cpu(DATA, {})) == "cpu_usage:web1,12.35\ncpu_usage:web2,12.35\n"
    assert text(m.cpu(DATA, {"core": "1"})).splitlines()[:2] == ["cpu_usage#0:web1,40.00",
                                                                 "cpu_usage#1:web1,9.38"]
    assert text(m.memory(DATA, {})) == ("host_mem_usage:aaaaaaaa,0.20\n"
                                        "host_mem_usage:bbbbbbbb,0.20\n")
    assert "host_mem_usage:aaaaaaaa,50.00" in text(m.memory(DATA, {"of": "limit"}))
    one = answer(figures("web1", "a"))
    assert text(m.memory(one, {"of": "detail"})) == "rss,8388608\ntotal_rss,8388608\nswap,0\n"
    assert "rss:bbbbbbbb,8388608" in text(m.memory(DATA, {"of": "detail"}))
    assert text(m.disk(one, {"write": "1"})) == "disk_write:aaaaaaaa,6000.00\n"
    assert text(m.disk(one, {"per_second": "1"})) == ("disk_read:aaaaaaaa,0.00\n"
                                                      "disk_write:aaaaaaaa,100.00\n")
    assert text(m.network(one, {"packets": "1", "rx": "1"})) == "nw_rxpck:aaaaaaaa,60.00\n"
    assert text(m.network(one, {})) == "nw_rxkb:aaaaaaaa,600.00\nnw_txkb:aaaaaaaa,300.00\n"
    assert text(m.network(one, {"bytes": "1", "packets": "1", "tx": "1",
                                "per_second": "1"})) == ("nw_txkb:aaaaaaaa,5.00\n"
                                                         "nw_txpck:aaaaaaaa,0.00\n")
    counts = CountsAnswer(host="h", counts={"running": 3, "dead": 1})
    assert text(m.host_count(counts, {"states": "report"})) == (
        "running,3\nrestarting,0\npaused,0\nexited,0\n")
    assert text(m.host_count(counts, {})).splitlines()[-1] == "dead,1"
    ping = PingAnswer(status=1, ping_ok=False, stream_connected=False, since=0, last_error="")
    assert text(m.host_status(ping, {})) == "Status,1\n"
    procs = ProcessesAnswer(host="h", containers=[ProcessCount("c" * 64, "x", 4)])
    assert text(m.processes(procs, {"prog": "httpd"})) == "httpd:cccccccccccc,4\n"
    assert text(m.processes(procs, {})) == ".*:cccccccccccc,4\n"


def test_the_hosts_share_outside_its_containers() -> None:
    """`--with-host`: the host's CPU (SNMP) minus its containers' (12.3456 % each),
    and its memory used minus their rss (8 MiB each) of its total; never below 0."""
    memory = HostMemoryFigures(total=4 << 30, used=1 << 30, free=3 << 30, buffers=0, cached=0)

    def with_host(cpu: float) -> MetricsAnswer:
        host = HostFigures(error=None, cpu_percent=cpu, cpu_seconds=None, memory=memory)
        totals = RunningTotals.of(f.figures for f in DATA.containers if f.figures)
        return MetricsAnswer(host="h", window_requested=60, connected=True, host_figures=host,
                             all_running=totals, containers=DATA.containers)

    assert text(m.cpu(with_host(50.0), {"with_host": "1"})) == (
        "cpu_usage:web1,12.35\ncpu_usage:web2,12.35\ncpu_usage:host,25.31\n")
    assert text(m.cpu(with_host(20.0), {"with_host": "1"})).endswith("cpu_usage:host,0.00\n")
    assert text(m.memory(with_host(50.0), {"with_host": "1"})).endswith(
        "host_mem_usage:host,24.61\n")  # (1024 - 16) MiB of 4 GiB
    away = MetricsAnswer(host="h", window_requested=60, connected=True,
                         host_figures=HostFigures("h: no SNMP answer yet", None, None, None),
                         all_running=RunningTotals(0.0, 0), containers=DATA.containers)
    with pytest.raises(m.MonitorError, match="no SNMP answer yet"):
        m.cpu(away, {"with_host": "1"})
    # An agent that has answered once: memory but no CPU rate yet, and the reverse.
    first = replace(with_host(50.0), host_figures=HostFigures(None, None, None, memory))
    with pytest.raises(m.MonitorError, match=r"^no host CPU figures over SNMP yet$"):
        m.cpu(first, {"with_host": "1"})
    assert text(m.memory(first, {"with_host": "1"})).endswith("host_mem_usage:host,24.61\n")
    no_memory = replace(with_host(50.0), host_figures=HostFigures(None, 50.0, None, None))
    with pytest.raises(m.MonitorError, match=r"^no host memory figures over SNMP yet$"):
        m.memory(no_memory, {"with_host": "1"})


def test_containers_without_figures_become_notes() -> None:
    new = figures("new", "c", seconds=0)  # one sample: no window yet
    assert new.figures is None and new.error == "no stats yet"
    r = m.cpu(answer(new, figures("web1", "a")), {})
    assert text(r) == "cpu_usage:web1,12.35\n"
    assert r.notes == ["cccccccccccc new: no stats yet"]
    with pytest.raises(m.MonitorError, match="no stats yet"):
        m.cpu(answer(new), {"name": "new"})


def test_cgroup_v2_per_core_is_an_error() -> None:
    with pytest.raises(m.MonitorError, match="cgroup v2 has no percpu_usage"):
        m.cpu(answer(figures("w", "a", v2=True)), {"core": "1"})


def test_lines_refuse_what_hinemos_rejects() -> None:
    lines = Lines()
    lines.add("a\nb", 1)
    assert lines.text() == "a?b,1\n"
    lines.add("a?b", 2)
    lines.add("cpu_usage:web,1", 3)  # a hostile engine's name: that line only
    lines.add("cpu_usage:web2", 4)
    assert lines.text() == "a?b,1\ncpu_usage:web2,4\n"
    assert [n.split(":")[0] for n in lines.skipped] == ["skipped 'a?b'", "skipped 'cpu_usage"]
    assert "comma" in lines.skipped[1]
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


def test_the_reports_long_options_are_taken() -> None:
    """The report's option tables (§4.6.2: `-f, --force`; docopt's `-h, --help`)."""
    from hinedockd.client.args import TARGET_VALUES
    from hinedockd.client.jobs import LIFECYCLE_FLAGS

    rm = Spec("JobDockerContainerRm.py", "", None, flags=LIFECYCLE_FLAGS["remove"],
              values=TARGET_VALUES)
    assert parse(rm, ["--force", "--link", "--volumes", "-n", "web"]) == parse(
        rm, ["-f", "-l", "-v", "-n", "web"]) == {"force": "1", "link": "1", "volumes": "1",
                                                  "name": "web"}
    with pytest.raises(SystemExit) as done:
        parse(rm, ["--help"])
    assert done.value.code == 0


def test_a_daemon_that_takes_the_request_and_waits_is_not_called_away(tmp_path: Path) -> None:
    """A daemon that accepted the request and waits (on a slow engine) is running: the
    client says so and names the host it asked about, instead of "is the daemon
    running?" (issue 28). A socket with nobody behind it is the other message."""
    import socket

    from hinedockd.client.transport import get

    path = str(tmp_path / "slow.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()
        with pytest.raises(ClientError) as e:
            get("/v1/lines/cpu", {"host": "docker_host1"}, path, timeout=0.3)
    assert "did not answer in time" in str(e.value)
    assert "host docker_host1's engine may be slow" in str(e.value)
    assert "is the daemon running" not in str(e.value)
    with pytest.raises(ClientError, match="is the daemon running"):
        get("/v1/lines/cpu", {}, path, timeout=0.3)


def test_the_client_outwaits_the_daemons_engine_deadline() -> None:
    """A slow engine reaches the caller as the daemon's error naming the host: the
    client's default wait is longer than the daemon's deadline for one engine call."""
    import inspect

    from hinedockd.client.transport import get
    from hinedockd.deadlines import ENGINE_QUERY_SECONDS
    from hinedockd.docker.engine import QUERY_TIMEOUT

    assert QUERY_TIMEOUT.total == ENGINE_QUERY_SECONDS
    assert inspect.signature(get).parameters["timeout"].default > ENGINE_QUERY_SECONDS


def test_a_figure_the_engine_does_not_give_has_no_line_and_says_why() -> None:
    """Issue 28: no memory controller, or the host's network: no line for that key
    (never 0) and one note (stderr) naming the host, the engine and the cause."""
    bare = figures("hostnet", "c", absent=frozenset({"memory", "network"}))
    data = MetricsAnswer(host="docker_host2", window_requested=60, connected=True,
                         host_figures=None, all_running=None, engine="podman",
                         containers=[figures("web1", "a"), bare])
    mem = m.memory(data, {})
    assert text(mem) == "host_mem_usage:aaaaaaaa,0.20\n"
    assert mem.notes == ["host docker_host2 (podman): cccccccccccc hostnet: memory is not "
                         "available (the engine gives no memory_stats: no memory controller "
                         "in the container's cgroup)"]
    net = m.network(data, {"kb": "1"})
    assert "hostnet" not in text(net) and "nw_rxkb:aaaaaaaa" in text(net)
    assert len(net.notes) == 1 and "network is not available" in net.notes[0]
    assert "docker_host2 (podman)" in net.notes[0]
    assert text(m.cpu(data, {})).count("\n") == 2  # CPU is given: both lines


def test_top_shows_what_the_engine_does_not_give_as_na() -> None:
    """`hinedock top` reads the API's JSON: memory and net are null where the engine
    gives none (a host-network container), and the row says n/a, not 0 or a crash."""
    import json

    import orjson

    from hinedockd.client.cli import top_table

    bare = figures("hostnet", "c", absent=frozenset({"memory", "network"}))
    data = json.loads(orjson.dumps(answer(figures("web1", "a"), bare)))
    rows = top_table(data).splitlines()
    assert len(rows) == 3 and "web1" in rows[1] and "n/a" not in rows[1]
    # id, name, CPU % (given), then MEM, MEM %, NET RX/s, NET TX/s not given
    assert rows[2].split()[:7] == ["cccccccccccc", "hostnet", "12.35", "n/a", "n/a", "n/a",
                                   "n/a"]
