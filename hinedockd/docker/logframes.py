"""A container's log stream, cut into timestamped lines. Pure.

`GET /containers/{id}/logs?follow=1&timestamps=1` answers (recorded in tests/data/logs-*):
- without a TTY, Docker's multiplexed frames (docker/frames.py), one log entry a frame
  on Docker 20.10 and Podman 4.3: `<time> <text>\\n`, or without the newline for an entry
  the engine cut (Docker keeps a line of more than 16 KiB as several entries, each with
  its own time) and for a `printf` without one: such an entry continues in the next one
  of its stream, whose time is dropped;
- with a TTY, the terminal's raw bytes, stdout only: `<time> <text>\\r\\n`.

The time is RFC 3339: Docker's has nanoseconds (`2026-12-04T22:35:17.836274861Z`);
Podman 4.3's whole seconds (`2026-12-04T22:35:27Z`), so that many lines share one time
(messages/containerlog.py tells them apart by their order). Text from a container is
untrusted: a line is cut at MAX_LINE_BYTES however long the engine's entry is, and
bytes that are not UTF-8 are replaced (the syslog framing removes control characters).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

from hinedockd.docker.frames import ExecFrames

MAX_LINE_BYTES = 64 * 1024  # a longer line leaves in pieces of this size
STDOUT, STDERR = 1, 2
STREAM_NAMES = {STDOUT: "stdout", STDERR: "stderr"}
_TIME = re.compile(rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
                   rb"(Z|[+-]\d\d:\d\d)\Z")
_seconds: dict[bytes, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch seconds (lines share them)


@dataclass(frozen=True, slots=True)
class LogLine:
    stream: int  # STDOUT or STDERR
    ts_ns: int  # the engine's time of the line, nanoseconds since the epoch
    text: str  # without its time and line end


def parse_log_time(word: bytes) -> int | None:
    """`2026-12-04T22:35:17.836274861Z` (or `…Z` without a fraction, or an offset
    `+09:00`) -> nanoseconds since the epoch; None for anything else."""
    m = _TIME.match(word)
    if m is None:
        return None
    head = word[:19]
    seconds = _seconds.get(head)
    if seconds is None:
        year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
        if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60
                and second < 61):
            return None
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
        if len(_seconds) > 4096:
            _seconds.clear()
        _seconds[head] = seconds
    fraction, zone = m.group(7), m.group(8)
    nanos = int(fraction.ljust(9, b"0")) if fraction else 0
    if zone != b"Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[:1] == b"+" else -offset
    return seconds * 10**9 + nanos


class LogSplitter:
    """Feed the stream's bytes as they come; get whole lines in their order."""

    def __init__(self, tty: bool) -> None:
        self._frames = None if tty else ExecFrames()
        self._entry = {STDOUT: bytearray(), STDERR: bytearray()}  # the entry being read
        self._open: dict[int, tuple[int, bytearray]] = {}  # an entry with no line end yet
        self._ts = 0  # the last time seen: a line without one takes it

    def feed(self, data: bytes) -> list[LogLine]:
        out: list[LogLine] = []
        if self._frames is None:
            buf = self._entry[STDOUT]
            buf += data
            start = 0
            while (end := buf.find(b"\n", start)) >= 0:
                self._line(STDOUT, bytes(buf[start:end]), out)
                start = end + 1
            del buf[:start]
            if len(buf) > MAX_LINE_BYTES:
                self._line(STDOUT, bytes(buf), out)
                buf.clear()
            return out
        for stream, piece, ends in self._frames.feed_marked(data):
            buf = self._entry[stream]
            buf += piece
            if ends:
                self._entry_done(stream, bytes(buf), out)
                buf.clear()
            elif len(buf) > MAX_LINE_BYTES:  # an entry longer than any line: cut it
                self._entry_done(stream, bytes(buf) + b"\n", out)
                buf.clear()
        return out

    def end(self) -> list[LogLine]:
        """At the end of the stream: what was left without a line end. A multiplexed
        stream cut inside a frame raises FrameError (after the lines are taken)."""
        out: list[LogLine] = []
        for stream, buf in self._entry.items():
            if buf:
                if self._frames is None:
                    self._line(stream, bytes(buf), out)
                else:
                    self._entry_done(stream, bytes(buf) + b"\n", out)
                buf.clear()
        for stream in list(self._open):
            ts, text = self._open.pop(stream)
            out.append(LogLine(stream, ts, _text(bytes(text))))
        if self._frames is not None:
            self._frames.end()
        return out

    def _split_time(self, raw: bytes) -> tuple[int, bytes]:
        word, space, rest = raw.partition(b" ")
        ts = parse_log_time(word) if space else None
        if ts is None:
            return self._ts, raw
        self._ts = ts
        return ts, rest

    def _line(self, stream: int, raw: bytes, out: list[LogLine]) -> None:
        ts, text = self._split_time(raw.removesuffix(b"\r"))
        out.append(LogLine(stream, ts, _text(text)))

    def _entry_done(self, stream: int, raw: bytes, out: list[LogLine]) -> None:
        """One frame: `<time> <text>` with or without its line end."""
        ts, text = self._split_time(raw)
        pending = self._open.pop(stream, None)
        if pending is not None:  # the rest of an entry the engine cut: its time is dropped
            ts, joined = pending
            joined += text
            text = bytes(joined)
        parts = text.split(b"\n")
        last = parts.pop()
        for part in parts:
            out.append(LogLine(stream, ts, _text(part.removesuffix(b"\r"))))
        if last:
            while len(last) > MAX_LINE_BYTES:
                out.append(LogLine(stream, ts, _text(last[:MAX_LINE_BYTES])))
                last = last[MAX_LINE_BYTES:]
            self._open[stream] = (ts, bytearray(last))


def _text(raw: bytes) -> str:
    return raw[:MAX_LINE_BYTES].decode("utf-8", "replace")
