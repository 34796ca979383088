"""A container's own output on its way to syslog: which containers, where a stream
resumes, lines joined into records, the rate limit, the severity. Pure: time is
passed in, nothing here does I/O (messages/containerlogs.py runs it).

Where a stream resumes: Podman 4.3 and 5 stamp their lines with whole seconds, so
the time of the last line taken does not say which line it was; a stream's cursor is
that time and how many of its lines with exactly that time were taken, and each
stream has its own (see LogPosition). A resumed stream asks the engine for what came
a second before its position (`since` is inclusive on Docker and may round on
others); what it sends up to each stream's cursor is skipped, and if its first line
is already past the position, the engine no longer keeps the last line that was
taken (a log file rotated away meanwhile): some lines may be missing, and that is
said once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import re2

from hinedockd.config import LOGS_LABEL, LogRule, LogsConfig
from hinedockd.docker.logframes import STDERR, STDOUT, LogLine
from hinedockd.model import Container
from hinedockd.processes import compile_pattern

RESUME_BEFORE_NS = 10**9  # a resumed stream asks for this much before its cursor
JOIN = "\\n"  # between the lines of one record: a backslash and an n, as rsyslog shows LF

_LABEL_STREAMS = {"true": frozenset({STDOUT, STDERR}), "yes": frozenset({STDOUT, STDERR}),
                  "1": frozenset({STDOUT, STDERR}), "both": frozenset({STDOUT, STDERR}),
                  "stdout": frozenset({STDOUT}), "stderr": frozenset({STDERR}),
                  "false": frozenset(), "no": frozenset(), "0": frozenset(),
                  "none": frozenset()}
_RULE_STREAMS = {"both": frozenset({STDOUT, STDERR}), "stdout": frozenset({STDOUT}),
                 "stderr": frozenset({STDERR}), "none": frozenset()}


def label_streams(value: str) -> frozenset[int] | None:
    """The `hinedock.logs` label's value -> the streams it selects; None if not
    understood (then the label selects nothing)."""
    return _LABEL_STREAMS.get(value.strip().lower())


def _rule_matches(rule: LogRule, c: Container, facility_id: str) -> bool:
    def labels_match() -> bool:
        for glob in rule.labels:
            key, _, value = glob.partition("=")
            if not any(fnmatchcase(k, key) and fnmatchcase(v, value)
                       for k, v in c.labels.items()):
                return False
        return True

    return ((not rule.hosts or facility_id in rule.hosts)
            and any(fnmatchcase(c.name, g) for g in rule.names)
            and any(fnmatchcase(c.image, g) for g in rule.images)
            and labels_match())


def selected_streams(cfg: LogsConfig, c: Container, facility_id: str) -> frozenset[int]:
    """Which of the container's streams are followed: its own label first (when the
    config lets it choose), else the first rule that matches, else none."""
    if cfg.label and LOGS_LABEL in c.labels:
        return label_streams(c.labels[LOGS_LABEL]) or frozenset()
    for rule in cfg.rules:
        if _rule_matches(rule, c, facility_id):
            return _RULE_STREAMS[rule.streams]
    return frozenset()


@dataclass(frozen=True)
class LogCursor:
    """One stream's last line taken: its time and how many lines of the stream with
    exactly that time were taken (a stream's own lines never go back in time). A count
    of 0 says where a stream starts: no line before that time is taken."""

    ts_ns: int = 0
    n: int = 0

    def after(self, ts_ns: int) -> LogCursor:
        """The cursor once a line of its stream with this time is taken."""
        if ts_ns > self.ts_ns:
            return LogCursor(ts_ns, 1)
        if ts_ns == self.ts_ns:
            return LogCursor(ts_ns, self.n + 1)
        return self


@dataclass(frozen=True)
class LogPosition:
    """Where a container's log resumes. Each stream has its own cursor, because the
    engine's stdout and stderr copiers stamp lines apart: recorded, Docker 26 answers a
    stderr line after the stdout lines ahead of it in its file although stamped 4 ms
    before them, so one cursor for both streams would skip it. `start_ns` is a time
    every line before which was taken: the last line read, or the first line of a
    record still open (a resumed stream asks the engine from a second before it)."""

    start_ns: int
    streams: Mapping[int, LogCursor]


class Resume:
    """One connection's filter: skips what a position says was taken before, and
    tells, once, when the engine no longer keeps the line at the position's start.

    That line is the last one read, or the first of a record still open; every line
    ahead of it in the engine's answer was taken, and is skipped. So if the first line
    let through comes before any line stamped at or before the start, the engine no
    longer has the start's line: it rotated that part of the log away, and lines after
    it may be lost too (a race of the copiers around that very line cannot be told)."""

    def __init__(self, position: LogPosition | None) -> None:
        self._position = position
        self._cursors = dict(position.streams) if position is not None else {}
        self._same = {stream: 0 for stream in self._cursors}  # lines at the cursor's time
        self._start_seen = False
        self.gap_before: int | None = None  # set once: the first time past a lost stretch

    def since_ns(self) -> int | None:
        """What to ask the engine for; None: no position, the caller decides."""
        if self._position is None:
            return None
        return max(0, self._position.start_ns - RESUME_BEFORE_NS)

    def admit(self, stream: int, ts_ns: int) -> bool:
        if self._position is None:
            return True
        if ts_ns <= self._position.start_ns:
            self._start_seen = True
        if not self._past_cursor(stream, ts_ns):
            return False
        if not self._start_seen:
            self._start_seen = True  # said once
            self.gap_before = ts_ns
        return True

    def _past_cursor(self, stream: int, ts_ns: int) -> bool:
        cursor = self._cursors.get(stream)
        if cursor is None:
            return True
        if ts_ns < cursor.ts_ns:
            return False
        if ts_ns == cursor.ts_ns:
            self._same[stream] += 1
            if self._same[stream] <= cursor.n:
                return False
        del self._cursors[stream]  # past the cursor: the stream's lines from here are new
        return True


@dataclass
class Record:
    """Lines that leave as one message (a stack trace joined to its first line)."""

    stream: int
    ts_ns: int
    lines: list[str]
    end: LogCursor  # the cursor once it has left (or been dropped)
    nbytes: int = 0

    def text(self) -> str:
        return JOIN.join(self.lines)


class Joiner:
    """Lines into records: with a continuation pattern, a line that matches it (and is
    of the same stream) joins the open record, up to `max_lines` lines and `max_bytes`;
    without one, each line is a record."""

    def __init__(self, continuation: re2._Regexp[str] | None, max_lines: int,
                 max_bytes: int) -> None:
        self.continuation, self.max_lines, self.max_bytes = continuation, max_lines, max_bytes
        self.open: Record | None = None

    def add(self, line: LogLine, end: LogCursor) -> list[Record]:
        """The records this line closes (and, without a pattern, its own)."""
        out: list[Record] = []
        rec = self.open
        if (rec is not None and line.stream == rec.stream and self.continuation is not None
                and len(rec.lines) < self.max_lines and rec.nbytes < self.max_bytes
                and self.continuation.search(line.text)):
            rec.lines.append(line.text)
            rec.nbytes += len(line.text) + len(JOIN)
            rec.end = end
            return out
        if rec is not None:
            out.append(rec)
        new = Record(line.stream, line.ts_ns, [line.text], end, len(line.text))
        if self.continuation is None:
            self.open = None
            out.append(new)
        else:
            self.open = new
        return out

    def flush(self) -> list[Record]:
        rec, self.open = self.open, None
        return [] if rec is None else [rec]


@dataclass
class TokenBucket:
    """`rate` a second, at most `burst` at once."""

    rate: float
    burst: int
    tokens: float = math.inf
    at: float = 0.0

    def take(self, now: float, n: int = 1) -> bool:
        if self.tokens == math.inf:
            self.tokens = float(self.burst)
        else:
            self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


class Severities:
    """A record's severity: the first pattern found in it, else its stream's."""

    def __init__(self, cfg: LogsConfig) -> None:
        self.patterns = [(compile_pattern(sp.pattern, "pattern"), sp.severity)
                         for sp in cfg.severity_patterns]
        self.by_stream = {STDOUT: cfg.stdout_severity, STDERR: cfg.stderr_severity}

    def of(self, rec: Record) -> str:
        text = rec.text()
        for pattern, severity in self.patterns:
            if pattern.search(text):
                return severity
        return self.by_stream[rec.stream]


@dataclass
class Counts:
    """One container's figures, as `hinedock status` shows them."""

    lines: int = 0  # lines read from the engine, new ones
    sent: int = 0  # records handed to the syslog targets
    dropped: int = 0  # lines over the rate limit, in all
    unreported: int = 0  # of those, not yet announced


@dataclass
class Outcome:
    """What one batch of lines gives: records to send, and lost lines to announce."""

    send: list[Record] = field(default_factory=list)
    gap_before: int | None = None


class ContainerLog:
    """One container's lines from the engine to records: resume filter, joining, rate
    limit, cursors. `position()` is where a restarted daemon resumes: a stream's cursor
    moves past a record once the record has been handed on or dropped, never past an
    open one."""

    def __init__(self, cfg: LogsConfig, continuation: re2._Regexp[str] | None,
                 max_bytes: int, position: LogPosition | None) -> None:
        self._committed = dict(position.streams) if position is not None else {}
        self._read = dict(self._committed)
        self._last_ns = position.start_ns if position is not None else None  # last line read
        self._resume = Resume(position)
        self.joiner = Joiner(continuation, cfg.max_record_lines, max_bytes)
        self.bucket = TokenBucket(cfg.lines_per_second, cfg.burst)
        self.counts = Counts()
        self.dirty = False

    def starting_at(self, since_ns: int, streams: frozenset[int]) -> None:
        """A stream without a position asks the engine from `since_ns`: a resume after
        a restart must not take a stream's lines from before it either."""
        for stream in streams:
            self._read.setdefault(stream, LogCursor(since_ns, 0))
            self._committed.setdefault(stream, LogCursor(since_ns, 0))

    def position(self) -> LogPosition | None:
        """Where a restarted daemon resumes; None before the first line."""
        if self._last_ns is None:
            return None
        open_record = self.joiner.open
        start = self._last_ns if open_record is None else min(open_record.ts_ns, self._last_ns)
        return LogPosition(start, dict(self._committed))

    def reconnecting(self) -> None:
        """A new connection resumes after what was read (an open record included)."""
        self._resume = Resume(None if self._last_ns is None
                              else LogPosition(self._last_ns, dict(self._read)))

    def since_ns(self) -> int | None:
        return self._resume.since_ns()

    def take(self, lines: list[LogLine], now: float) -> Outcome:
        out = Outcome()
        for line in lines:
            if not self._resume.admit(line.stream, line.ts_ns):
                continue
            if self._resume.gap_before is not None and out.gap_before is None:
                out.gap_before = self._resume.gap_before
                self._resume.gap_before = None
            self.counts.lines += 1
            self._last_ns = line.ts_ns
            end = self._read[line.stream] = self._read.get(line.stream, LogCursor()).after(
                line.ts_ns)
            self._limit(self.joiner.add(line, end), now, out)
        return out

    def flush(self, now: float) -> Outcome:
        """The open record, as it is (its join wait is over, or the stream ended)."""
        out = Outcome()
        self._limit(self.joiner.flush(), now, out)
        return out

    def _limit(self, records: list[Record], now: float, out: Outcome) -> None:
        for rec in records:
            if self.bucket.take(now):
                out.send.append(rec)
                self.counts.sent += 1
            else:
                self.counts.dropped += len(rec.lines)
                self.counts.unreported += len(rec.lines)
            self._committed[rec.stream], self.dirty = rec.end, True

    def take_report(self) -> int:
        """Lines dropped since the last report (0: nothing to say)."""
        n, self.counts.unreported = self.counts.unreported, 0
        return n


_STREAM_KEYS = {STDOUT: "stdout", STDERR: "stderr"}


def _cursor_from_json(value: object) -> LogCursor:
    if (not isinstance(value, list) or len(value) != 2
            or not all(type(v) is int and v >= 0 for v in value)):
        raise ValueError("a cursor is [time, count]")
    return LogCursor(value[0], value[1])


def positions_to_json(positions: Mapping[str, LogPosition]) -> dict[str, dict[str, object]]:
    return {cid: {"start": p.start_ns} | {_STREAM_KEYS[s]: [c.ts_ns, c.n]
                                          for s, c in sorted(p.streams.items())}
            for cid, p in positions.items()}


def positions_from_json(data: object) -> dict[str, LogPosition]:
    """The saved positions; ValueError for anything else. The form before one cursor per
    stream, [time, count] for both, reads as both streams starting at that time: its
    lines of that very time may be sent again, once, rather than one lost."""
    if not isinstance(data, dict):
        raise ValueError("not a table of container positions")
    out = {}
    for cid, value in data.items():
        try:
            if not isinstance(cid, str):
                raise ValueError("not a container id")
            if isinstance(value, list):
                old = _cursor_from_json(value)
                start = LogCursor(old.ts_ns, 0)
                out[cid] = LogPosition(old.ts_ns, {STDOUT: start, STDERR: start})
                continue
            if not isinstance(value, dict) or type(value.get("start")) is not int \
                    or value["start"] < 0 or set(value) - {"start", *_STREAM_KEYS.values()}:
                raise ValueError("a position is {start, stdout, stderr}")
            out[cid] = LogPosition(value["start"], {
                s: _cursor_from_json(value[key]) for s, key in _STREAM_KEYS.items()
                if key in value})
        except ValueError as e:
            raise ValueError(f"bad position for {str(cid)[:64]!r}: {e}") from None
    return out
