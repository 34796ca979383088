"""A container's own output, pure parts: the log stream cut into lines (recorded answers
of Docker 20.10 and Podman 4.3), the resume cursor, joining, rate limit, severity,
selection (docker/logframes.py, messages/containerlog.py)."""

from __future__ import annotations

import calendar
import json
from pathlib import Path

import pytest
import re2
from hypothesis import assume, given
from hypothesis import strategies as st

from hinedockd.config import ConfigError, LogRule, LogsConfig, SeverityPattern, parse_config
from hinedockd.docker.frames import FrameError
from hinedockd.docker.logframes import (
    MAX_LINE_BYTES,
    STDERR,
    STDOUT,
    LogLine,
    LogSplitter,
    parse_log_time,
)
from hinedockd.messages.containerlog import (
    ContainerLog,
    Joiner,
    LogCursor,
    LogPosition,
    Outcome,
    Severities,
    TokenBucket,
    positions_from_json,
    positions_to_json,
    selected_streams,
)
from hinedockd.model import Container, ContainerState
from hinedockd.processes import compile_pattern

DATA = Path(__file__).parent / "data"


def split(raw: bytes, tty: bool = False, cut: int | None = None) -> list[LogLine]:
    s, out = LogSplitter(tty), []
    step = cut or len(raw) or 1
    for i in range(0, len(raw), step):
        out += s.feed(raw[i:i + step])
    return out + s.end()


# ---- the stream, recorded -------------------------------------------------------------

RECORDED = ["docker20.10", "podman4.3", "docker26", "podman5"]
RECORDED_ON = {"docker20.10": (2026, 12, 4, 22, 35), "podman4.3": (2026, 12, 4, 22, 35),
               "docker26": (2026, 12, 5, 3, 26), "podman5": (2026, 12, 5, 3, 26)}


@pytest.mark.parametrize("engine", RECORDED)
def test_recorded_streams_give_each_line_once_with_its_stream(engine: str) -> None:
    lines = split((DATA / f"logs-{engine}.bin").read_bytes())
    assert [(x.stream, x.text) for x in lines if x.stream == STDOUT] == [
        (STDOUT, f"out {i}") for i in range(1, 6)]
    assert [x.text for x in lines if x.stream == STDERR] == [f"err {i}" for i in range(1, 6)]
    minute = calendar.timegm((*RECORDED_ON[engine], 0, 0, 0, 0)) * 10**9
    assert all(minute < x.ts_ns < minute + 60 * 10**9 for x in lines)
    if engine.startswith("podman"):  # Podman 4.3 and 5.4 stamp whole seconds
        assert len({x.ts_ns for x in lines}) == 1 and lines[0].ts_ns % 10**9 == 0
    else:
        assert len({x.ts_ns for x in lines}) == 10
    for stream in (STDOUT, STDERR):  # each stream's own lines come in time order
        times = [x.ts_ns for x in lines if x.stream == stream]
        assert times == sorted(times)


def test_docker_26_answers_the_two_streams_out_of_time_order() -> None:
    """Recorded: Docker 26 keeps the lines in the order its log file has them, and its
    stdout and stderr copiers stamp them apart, so across streams a later line may carry
    an earlier time (`err 2` after `out 5`, 4 ms earlier). One resume cursor for both
    streams would skip the earlier-stamped line when the stream is cut between the two;
    each stream has its own (the resume tests below cut this answer everywhere)."""
    lines = split((DATA / "logs-docker26.bin").read_bytes())
    times = [x.ts_ns for x in lines]
    assert times != sorted(times)


@pytest.mark.parametrize("engine", RECORDED)
def test_recorded_tty_streams_are_raw_lines_without_their_carriage_return(engine: str) -> None:
    lines = split((DATA / f"logs-tty-{engine}.bin").read_bytes(), tty=True)
    assert [(x.stream, x.text) for x in lines] == [(STDOUT, "tty1"), (STDOUT, "tty2")]


@pytest.mark.parametrize("engine", RECORDED)
def test_an_entry_the_engine_cut_is_joined_and_a_long_line_kept_whole(engine: str) -> None:
    """Podman 4.3 sends `printf part-a` as a frame without its newline."""
    lines = split((DATA / f"logs-cut-{engine}.bin").read_bytes())
    assert [x.text for x in lines] == ["part-apart-b", "x" * 20000, "after"]


@given(st.sampled_from([f"logs-{kind}{engine}.bin" for kind in ("", "cut-", "tty-")
                        for engine in RECORDED]), st.integers(1, 200))
def test_any_cut_of_the_bytes_gives_the_same_lines(name: str, cut: int) -> None:
    raw, tty = (DATA / name).read_bytes(), "-tty-" in f"-{name}"
    assert split(raw, tty, cut=cut) == split(raw, tty)


def test_a_hostile_frame_is_cut_into_bounded_lines() -> None:
    """A frame announcing 4 GB: lines of at most MAX_LINE_BYTES leave as it comes."""
    s = LogSplitter(tty=False)
    out = s.feed(b"\x01\0\0\0\xff\xff\xff\xff")
    for _ in range(10):
        out += s.feed(b"y" * MAX_LINE_BYTES)
        assert sum(map(len, s._entry.values())) <= MAX_LINE_BYTES  # nothing piles up
    assert len(out) >= 4 and all(len(x.text) <= MAX_LINE_BYTES for x in out)
    with pytest.raises(FrameError):
        s.end()


def test_bytes_that_are_not_utf8_and_lines_without_a_time() -> None:
    lines = split(b"2026-12-04T22:35:27Z caf\xe9\r\nno time here\n", tty=True)
    assert lines[0].text == "caf\ufffd"
    assert lines[1] == LogLine(STDOUT, lines[0].ts_ns, "no time here")  # takes the last time


@given(st.integers(0, 4 * 10**18), st.sampled_from([0, 1, 3, 6, 9]),
       st.sampled_from(["Z", "+09:00", "-05:30"]))
def test_log_times_read_as_written(ns: int, digits: int, zone: str) -> None:
    seconds, nanos = divmod(ns, 10**9)
    nanos = nanos // 10**(9 - digits) * 10**(9 - digits) if digits else 0
    offset = 0 if zone == "Z" else (1 if zone[0] == "+" else -1) * (
        int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    if not 0 <= seconds + offset < 253402300800:
        return
    import time as _t
    local = _t.gmtime(seconds + offset)
    text = _t.strftime("%Y-%m-%dT%H:%M:%S", local)
    if digits:
        text += "." + f"{nanos:09d}"[:digits]
    text += zone
    assert parse_log_time(text.encode()) == seconds * 10**9 + nanos


@pytest.mark.parametrize("word", [b"2026-13-04T22:35:27Z", b"2026-12-04 22:35:27Z", b"hello",
                                  b"2026-12-04T22:35:27.1234567890Z", b"2026-12-04T22:35:27"])
def test_what_is_not_a_log_time(word: bytes) -> None:
    assert parse_log_time(word) is None


# ---- resuming -----------------------------------------------------------------------------

# A container's log as the engine keeps it, in its file's order: a true time that never
# goes back, and each stream's stamp up to 0.9 s behind it (the copiers' race: Docker 26
# was recorded 4 ms apart), a stream's own stamps never going back; whole seconds like
# Podman's, or not.
@st.composite
def engine_logs(draw: st.DrawFn) -> list[LogLine]:
    steps = draw(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([STDOUT, STDERR]),
                                    st.integers(0, 9)), min_size=1, max_size=50))
    whole = draw(st.booleans())
    t, last, out = 10**18, {STDOUT: 0, STDERR: 0}, []
    for i, (step, stream, lag) in enumerate(steps):
        t += step * 10**8
        ts = max(last[stream], t - lag * 10**8)
        last[stream] = ts
        out.append(LogLine(stream, ts // 10**9 * 10**9 if whole else ts, f"{stream}-{i}"))
    return out


ALL = LogsConfig(lines_per_second=10**9, burst=10**9)  # nothing dropped
STACK = compile_pattern(r"^\s", "continuation")


def records_of(out: Outcome) -> list[str]:
    return [text for rec in out.send for text in rec.lines]


def engine_since(lines: list[LogLine], since: int | None) -> list[LogLine]:
    """What the engine answers from `since` (inclusive)."""
    return [x for x in lines if since is None or x.ts_ns >= since]


def restart_after(lines: list[LogLine], cut: int, continuation: re2._Regexp[str] | None
                  ) -> list[str]:
    """Every line sent by a daemon that read `cut` lines and stopped (its open record
    lost with it) and a daemon started from the position the first one saved."""
    first = ContainerLog(ALL, continuation, 2048, None)
    sent = records_of(first.take(lines[:cut], now=0.0))
    position = first.position()
    if position is not None:
        position = positions_from_json(json.loads(json.dumps(positions_to_json(
            {"c": position}))))["c"]  # through the state file
    second = ContainerLog(ALL, continuation, 2048, position)
    out = second.take(engine_since(lines, second.since_ns()), now=1.0)
    assert out.gap_before is None
    return sent + records_of(out) + records_of(second.flush(now=2.0))


def texts(lines: list[LogLine]) -> list[str]:
    return [x.text for x in lines]


@pytest.mark.parametrize("continuation", [None, r" [2-5]$"])
def test_the_recorded_docker_26_answer_cut_anywhere_resumes_each_line_once(
        continuation: str | None) -> None:
    """The answer whose stderr lines are stamped before the stdout lines ahead of them:
    a daemon stopped after any of its lines, and one joining `out 2`-`out 5` to `out 1`
    (a record open at the stop), sends each line once."""
    lines = split((DATA / "logs-docker26.bin").read_bytes())
    pattern = compile_pattern(continuation, "c") if continuation else None
    for cut in range(len(lines) + 1):
        assert sorted(restart_after(lines, cut, pattern)) == sorted(texts(lines)), cut


@given(engine_logs(), st.data(), st.booleans())
def test_a_restarted_daemon_takes_each_line_exactly_once(
        lines: list[LogLine], data: st.DataObject, join: bool) -> None:
    cut = data.draw(st.integers(0, len(lines)))
    assert sorted(restart_after(lines, cut, STACK if join else None)) == sorted(texts(lines))


@given(engine_logs(), st.data())
def test_a_reconnect_takes_each_line_exactly_once(lines: list[LogLine], data: st.DataObject
                                                  ) -> None:
    cut = data.draw(st.integers(0, len(lines)))
    clog = ContainerLog(ALL, None, 2048, None)
    sent = records_of(clog.take(lines[:cut], now=0.0))
    clog.reconnecting()
    sent += records_of(clog.take(engine_since(lines, clog.since_ns()), now=1.0))
    assert sorted(sent) == sorted(texts(lines))


@given(engine_logs(), st.data())
def test_lines_the_engine_no_longer_keeps_are_a_gap_said_once(lines: list[LogLine],
                                                              data: st.DataObject) -> None:
    cut = data.draw(st.integers(1, len(lines)))
    first = ContainerLog(ALL, None, 2048, None)
    first.take(lines[:cut], now=0.0)
    position = first.position()
    assert position is not None and position.start_ns == lines[cut - 1].ts_ns
    # Rotated away: the log up to a line after the last one read, not within one
    # stream's lines of one time (whole seconds: counting cannot tell which went).
    r = data.draw(st.integers(cut, len(lines)))
    kept = lines[r:]
    assume(not {(x.stream, x.ts_ns) for x in lines[:r]} & {(x.stream, x.ts_ns) for x in kept})
    second = ContainerLog(ALL, None, 2048, position)
    out = second.take(engine_since(kept, second.since_ns()), now=1.0)
    assert records_of(out) == texts(kept)
    # Said when the first line is past the start (the start's line is gone, and maybe
    # more); not when it is stamped at or before it, which only the copiers' race
    # around the start's very line gives when lines were lost.
    start = position.start_ns
    assert out.gap_before == (kept[0].ts_ns if kept and kept[0].ts_ns > start else None)
    assert second.take(kept, now=1.0).gap_before is None  # said once


def test_a_cursor_counts_its_streams_lines_of_one_time() -> None:
    c = LogCursor().after(10).after(10)
    assert c == LogCursor(10, 2) and c.after(9) == c and c.after(11) == LogCursor(11, 1)


def test_a_stream_started_from_a_time_takes_nothing_before_it_after_a_restart() -> None:
    """Followed from its start (10 s): a restart resumes a second before the first
    line read, and the other stream's lines of that second, before its start, stay out."""
    clog = ContainerLog(ALL, None, 2048, None)
    clog.starting_at(10 * 10**9, frozenset({STDOUT, STDERR}))
    clog.take([line("started", 10 * 10**9 + 5)], now=0.0)
    again = ContainerLog(ALL, None, 2048, clog.position())
    assert again.since_ns() == 9 * 10**9 + 5
    out = again.take([line("before start", 9 * 10**9 + 6, STDERR), line("started", 10**10 + 5),
                      line("new", 10**10 + 6, STDERR)], now=0.0)
    assert records_of(out) == ["new"]


def test_positions_round_trip_and_a_bad_one_is_refused() -> None:
    positions = {"a" * 64: LogPosition(1_700_000_000_000_000_000, {
        STDOUT: LogCursor(1_700_000_000_000_000_000, 3), STDERR: LogCursor(5, 0)}),
        "b" * 64: LogPosition(7, {})}
    assert positions_from_json(positions_to_json(positions)) == positions
    for bad in ([1], {"x": [1]}, {"x": [1, -2]}, {"x": "1,2"}, {"x": {"stdout": [1, 1]}},
                {"x": {"start": 1, "stdin": [1, 1]}}, {"x": {"start": True}},
                {"x": {"start": 1, "stderr": [1, 1.5]}}):
        with pytest.raises(ValueError):
            positions_from_json(bad)


def test_a_cursor_saved_before_one_per_stream_repeats_rather_than_loses() -> None:
    """The earlier form, [time, count] for both streams: Podman's lines of that second
    are sent again (3 were taken, of both streams: which is not known)."""
    second = 10**18
    position = positions_from_json({"c": [second, 3]})["c"]
    clog = ContainerLog(ALL, None, 2048, position)
    answer = [line("o1", second), line("e1", second, STDERR), line("o2", second),
              line("e2", second, STDERR), line("o3", second + 10**9)]
    assert records_of(clog.take(answer, now=0.0)) == texts(answer)


# ---- records ------------------------------------------------------------------------------

def line(text: str, ts: int = 1, stream: int = STDOUT) -> LogLine:
    return LogLine(stream, ts, text)


def test_a_stack_trace_is_one_record_up_to_its_bounds() -> None:
    j = Joiner(compile_pattern(r"^\s", "c"), max_lines=3, max_bytes=1000)
    out = []
    for i, text in enumerate(["Exception: boom", "\tat a", "\tat b", "\tat c", "next"]):
        out += j.add(line(text), LogCursor(1, i + 1))
    out += j.flush()
    assert [r.lines for r in out] == [["Exception: boom", "\tat a", "\tat b"], ["\tat c"],
                                      ["next"]]
    assert out[0].text() == "Exception: boom\\n\tat a\\n\tat b"
    assert [r.end.n for r in out] == [3, 4, 5]


def test_another_stream_breaks_a_record_and_no_pattern_joins_nothing() -> None:
    j = Joiner(compile_pattern(r"^\s", "c"), 10, 1000)
    out = j.add(line("first"), LogCursor(1, 1)) + j.add(line(" cont", stream=STDERR),
                                                        LogCursor(1, 2))
    assert [r.lines for r in out + j.flush()] == [["first"], [" cont"]]
    plain = Joiner(None, 10, 1000)
    assert [r.lines for r in plain.add(line(" x"), LogCursor(1, 1))] == [[" x"]]
    assert plain.open is None


def test_the_bucket_gives_a_burst_then_its_rate() -> None:
    b = TokenBucket(rate=10, burst=5)
    assert [b.take(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert b.take(0.1) and not b.take(0.1)
    # the burst refilled (5), then a second's tokens less the one taken at 1.0
    assert sum(b.take(1.0 + i / 1000) for i in range(1000)) == 5 + 9


def test_the_cursor_never_passes_an_open_record_and_drops_are_counted() -> None:
    cfg = LogsConfig(lines_per_second=1, burst=2, max_record_lines=10)
    clog = ContainerLog(cfg, compile_pattern(r"^\s", "c"), 2048, None)
    out = clog.take([line("a", 1), line("b", 2), line(" b2", 3)], now=0.0)
    assert [r.lines for r in out.send] == [["a"]]
    assert clog.position() == LogPosition(2, {STDOUT: LogCursor(1, 1)})  # b is open
    out = clog.take([line("c", 4), line("d", 5)], now=0.0)  # the bucket is empty now
    assert [r.lines for r in out.send] == [["b", " b2"]]
    assert clog.position() == LogPosition(5, {STDOUT: LogCursor(4, 1)})  # c dropped, d open
    assert clog.counts.dropped == 1 and clog.take_report() == 1 and clog.take_report() == 0
    assert clog.flush(now=10.0).send[0].lines == ["d"]
    assert clog.position() == LogPosition(5, {STDOUT: LogCursor(5, 1)})


def test_a_reconnect_resumes_after_what_was_read() -> None:
    clog = ContainerLog(LogsConfig(), None, 2048, LogPosition(5, {STDOUT: LogCursor(5, 1)}))
    assert clog.since_ns() == 0  # 5 ns - a second, never below 0
    clog.take([line("old", 5), line("new", 6)], now=0.0)
    clog.reconnecting()
    out = clog.take([line("old", 5), line("new", 6), line("newer", 7)], now=0.0)
    assert [r.lines for r in out.send] == [["newer"]]


def test_severity_by_pattern_first_then_by_stream() -> None:
    sev = Severities(LogsConfig(severity_patterns=(SeverityPattern("ERROR|FATAL", "err"),
                                                   SeverityPattern("WARN", "warning")),
                                stdout_severity="info", stderr_severity="notice"))
    j = Joiner(None, 1, 100)

    def of(text: str, stream: int = STDOUT) -> str:
        return sev.of(j.add(line(text, stream=stream), LogCursor())[0])

    assert (of("an ERROR here"), of("WARN x"), of("fine"), of("fine", STDERR)) == (
        "err", "warning", "info", "notice")


# ---- which containers -----------------------------------------------------------------------

def box(name: str = "web1", image: str = "nginx:1", **labels: str) -> Container:
    return Container("a" * 64, name, ContainerState.RUNNING, image=image, labels=labels)


def test_the_label_selects_and_a_rule_decides_for_the_others() -> None:
    cfg = LogsConfig(rules=(LogRule(names=("db*",), streams="none"),
                            LogRule(images=("nginx*",), labels=("tier=front*",),
                                    hosts=("h1",), streams="stderr")))
    on = {"hinedock.logs": "true"}
    assert selected_streams(cfg, box(**on), "h1") == {STDOUT, STDERR}
    assert selected_streams(cfg, box(**{"hinedock.logs": "stdout"}), "h1") == {STDOUT}
    assert selected_streams(cfg, box(**{"hinedock.logs": "false"}), "h1") == set()
    assert selected_streams(cfg, box(**{"hinedock.logs": "maybe"}), "h1") == set()
    assert selected_streams(cfg, box(tier="frontend"), "h1") == {STDERR}
    assert selected_streams(cfg, box(tier="frontend"), "h2") == set()  # another host
    assert selected_streams(cfg, box(tier="back"), "h1") == set()
    assert selected_streams(cfg, box("db1", tier="frontend"), "h1") == set()  # first rule
    assert selected_streams(LogsConfig(label=False), box(**on), "h1") == set()
    assert selected_streams(LogsConfig(), box(), "h1") == set()  # nothing unless selected


BASE = """
[[hosts]]
facility_id = "h1"
url = "unix:///var/run/docker.sock"
address = "127.0.0.1"
"""


@pytest.mark.parametrize(("extra", "named"), [
    ("[logs]\ncontinuation = '(a)\\1'\n", "logs.continuation: bad regular expression"),
    ("[logs]\nstderr_severity = 'loud'\n", "logs.stderr_severity: must be one of"),
    ("[logs]\nburst = 0\n", "logs.burst: must be between"),
    ("[logs]\nfollow = true\n", "logs.follow: unknown key"),
    ("[[logs.rules]]\nhosts = ['h9']\n", "logs.rules[0].hosts: no [[hosts]]"),
    ("[[logs.rules]]\nlabels = ['tier']\n", "logs.rules[0].labels: each must be KEY=VALUE"),
    ("[[logs.rules]]\nstreams = 'all'\n", "logs.rules[0].streams: must be one of"),
    ("[[logs.severity_patterns]]\npattern = '(?=x)'\n",
     "logs.severity_patterns[0].pattern: bad regular expression"),
    ("[[syslog]]\ntarget = 'udp://h:514'\nmax_message_bytes = 100\n",
     "syslog[0].max_message_bytes: must be between"),
])
def test_a_wrong_logs_setting_names_its_key(extra: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        parse_config(BASE + extra)
