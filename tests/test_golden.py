"""The report's lines, byte for byte, on recorded inputs (issue 30: behaviour unchanged
through refactors). Each recorded stats sample (tests/data, from Docker 20.10, 26 and
Podman 4.3, 5.4) is the start of a minute whose end adds known amounts to its counters;
every monitor's variants and the custom trap's items of that minute are compared with
tests/data/golden-report.txt; `hinedock status`'s table on a set of hosts, targets, the
custom trap and followed logs (long, non-ASCII and control-character texts among them)
with tests/data/golden-status.txt. After a change meant to alter them, write them again
with GOLDEN_WRITE=1 and read the diff."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hinedockd import monitors as m
from hinedockd.answers import LifecycleAnswer, MetricsAnswer, PushSnapshot, SyncSnapshot
from hinedockd.config import TRAP_KEYS
from hinedockd.docker.view import HostSnapshot
from hinedockd.hinemos.customtrap import figure_items
from hinedockd.messages.containerlogs import FollowedSnapshot
from hinedockd.messages.senders import SinkSnapshot
from hinedockd.metrics.figures import container_figures
from hinedockd.metrics.sample import parse_sample
from hinedockd.metrics.series import Series
from hinedockd.model import Container, ContainerState, LifeFigures
from hinedockd.status import status_table
from tests.conftest import DATA, fixture_json

GOLDEN = DATA / "golden-report.txt"
GOLDEN_STATUS = DATA / "golden-status.txt"
RECORDED = ("stats-cgroupv1-engine20.10.json", "stats-cgroupv2-docker26.json",
            "stats-podman4.3.json", "stats-podman5.4.json")
VARIANTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("cpu", {}), ("cpu", {"core": "1"}), ("memory", {}), ("memory", {"of": "limit"}),
    ("disk", {}), ("disk", {"per_second": "1"}), ("disk", {"read": "1"}),
    ("network", {}), ("network", {"packets": "1"}), ("network", {"per_second": "1"}),
    ("network", {"tx": "1"}))


def minute_of(name: str) -> MetricsAnswer:
    """The recorded sample, and one a minute later: 12 s of CPU (3 s on each of the
    first cores where the engine counts per core), 1 MiB read, 3 MiB written, 600 KiB
    received in 500 packets, 60 KiB sent in 400."""
    first = parse_sample(fixture_json(name))
    assert first is not None
    cores = None if first.percpu is None else tuple(
        v + (3 * 10**9 if i < 4 else 0) for i, v in enumerate(first.percpu))
    last = first._replace(
        t=first.t + 60, cpu_total=first.cpu_total + 12 * 10**9, percpu=cores,
        blk_read=first.blk_read + (1 << 20), blk_write=first.blk_write + (3 << 20),
        rx_bytes=first.rx_bytes + 600 * 1024, tx_bytes=first.tx_bytes + 60 * 1024,
        rx_packets=first.rx_packets + 500, tx_packets=first.tx_packets + 400)
    series = Series(retention=900)
    series.push(first)
    series.push(last)
    c = Container(id="0123456789ab" * 5 + "cdef", name="web1", state=ContainerState.RUNNING)
    figures = container_figures(c, series, window=60, now=None, host_memory=64 << 20,
                                scale="host", memory_detail=False)
    return MetricsAnswer(host="docker1", window_requested=60, connected=True,
                         host_figures=None, all_running=None, containers=[figures])


LIVES = (  # inspected and running healthy; exited 137 after an OOM kill; not inspected
    {"state": "running", "health": "healthy", "restart_count": 2, "restarts": 1,
     "oom_killed": False, "oom_events": 0, "exit_code": 0, "uptime": 3600.7, "state_age": 59.2},
    {"state": "exited", "health": "unhealthy", "restart_count": 5, "restarts": 3,
     "oom_killed": True, "oom_events": 1, "exit_code": 137, "uptime": 0.0, "state_age": 12.0},
    {"state": "created", "health": None, "restart_count": None, "restarts": 0,
     "oom_killed": None, "oom_events": 0, "exit_code": None, "uptime": None, "state_age": None},
    {"state": "exited", "health": "starting", "restart_count": 0, "restarts": 0,
     "oom_killed": False, "oom_events": 0, "exit_code": -1, "uptime": 0.0, "state_age": None},
)


def lifecycle() -> list[str]:
    out = []
    lives = [LifeFigures(id=f"{i}" * 64, name=f"c{i}", **life)  # type: ignore[arg-type]
             for i, life in enumerate(LIVES)]
    answer = LifecycleAnswer(host="docker1", window=60, connected=True,
                             containers=lives)
    for monitor in ("health", "restarts", "oom", "exit_code", "uptime"):
        out.append(f"## lifecycle {monitor}")
        result = getattr(m, monitor)(answer, {})
        out += [result.lines.text().rstrip("\n")] + [f"note: {n}" for n in result.notes]
    for life in lives:
        out.append(f"## lifecycle custom trap {life.name}")
        out += [f"{i.key}={i.msg}" for i in figure_items(None, life, TRAP_KEYS, "DATE")]
    return out


def report() -> str:
    out = lifecycle()
    for name in RECORDED:
        data = minute_of(name)
        for monitor, opts in VARIANTS:
            out.append(f"## {name} {monitor} {opts}")
            try:
                result = getattr(m, monitor)(data, opts)
            except m.MonitorError as e:
                out.append(f"error: {e}")
                continue
            out += [result.lines.text().rstrip("\n")] + [f"note: {n}" for n in result.notes]
        out.append(f"## {name} custom trap")
        measured = data.containers[0].figures
        out += [f"{i.key}={i.msg}" for i in figure_items(measured, None, TRAP_KEYS, "DATE")]
    return "\n".join(out) + "\n"


def assert_golden(path: Path, text: str) -> None:
    """`text` is the file's (GOLDEN_WRITE=1: becomes it)."""
    if os.environ.get("GOLDEN_WRITE"):
        path.write_text(text)
    assert text == path.read_text()


def test_the_reports_lines_on_recorded_inputs_are_unchanged() -> None:
    assert_golden(GOLDEN, report())


def host_snapshot(fid: str, **kw: object) -> HostSnapshot:
    base: dict[str, object] = dict(
        facility_id=fid, address="10.0.0.1", stats_mode="poll", connected=True,
        since=1764900000.0, ping_ok=True, last_event_ns=1764900100_000000000, last_error="",
        last_error_at=0.0, reconnects=0, events=3, samples=10, bad_samples=0,
        containers=12345, states={"running": 10000, "paused": 12, "exited": 2333},
        streams_open=0, mem_total=1, ncpu=2, server_version="26")
    return HostSnapshot(**{**base, **kw})  # type: ignore[arg-type]


def status() -> str:
    hosts = [(host_snapshot("h1"), None),
             (host_snapshot("a-very-long-facility-id-\u00e9\u65e5", stats_mode="stream",
                            streams_open=7, connected=False, last_error="boom \x1b[31m",
                            engine_cpu_ms_per_minute=12.4, samples_per_minute=60.0),
              SyncSnapshot(3, 1764900200.0, False, "refused", 2, 1, 0.5)),
             (host_snapshot("h3", samples_per_minute=59.6),
              SyncSnapshot(1, 0.0, True, "", 0, 0))]
    sinks = [SinkSnapshot("udp://10.1.2.3:514" + "x" * 40, "rfc5424", True, 1, 22222222, 3, 0,
                          ""),
             SinkSnapshot("tcp://h:514", "rfc3164", False, 100, 1, 0, 2, "refused \u00e9")]
    push = PushSnapshot("http://manager:8080/" + "p" * 40, 3, 100, 1000, 1, 2, 3, 4, 5, 6, "",
                        1764900300.0)
    logs = [FollowedSnapshot("h1\u65e5", "abcdef123456", "n" * 30, "stdout,stderr", True, 1, 2,
                             3, 0, ""),
            FollowedSnapshot("h2", "abcdef123457", "web", "stdout", False, 10**9, 5, 0, 1,
                             "gone\x07")]
    return "".join(status_table(*args) + "====\n"  # type: ignore[arg-type]
                   for args in [(hosts, sinks, push, logs), (hosts, []), (hosts[:1], sinks)])


def test_the_status_table_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")  # the table's clocks are local time
    time.tzset()
    try:
        assert_golden(GOLDEN_STATUS, status())
    finally:
        monkeypatch.undo()
        time.tzset()
