"""Count a container's processes from `GET /containers/{id}/top`. Pure.

The patterns come from whoever may read the socket, and run on the daemon's event
loop: Python's `re` backtracks, and `(?:.*){24}Z` against `httpd -f -p 8080` froze
every host, every answer and SIGTERM for minutes (issue 29). They run in RE2 (Google's
engine, linear in the subject's length whatever the pattern: 30 µs for that pattern
against 4 KB), with the pattern and each command line capped; RE2 refuses what cannot
be run in linear time (backreferences, lookaround), and that refusal is the caller's
clear error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import re2

PATTERN_MAX_CHARS = 256
COMMAND_MAX_CHARS = 4096  # a longer command line is matched on its first 4,096 characters
PROGRAM_MAX_BYTES = 1 << 20  # RE2's memory for one compiled pattern


def compile_pattern(pattern: str, what: str) -> re2._Regexp[str]:
    """A caller's pattern, or ValueError saying why it is refused."""
    if len(pattern) > PATTERN_MAX_CHARS:
        raise ValueError(f"{what}: bad regular expression: longer than {PATTERN_MAX_CHARS} "
                         f"characters ({len(pattern)})")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = PROGRAM_MAX_BYTES
    try:
        return re2.compile(pattern, options)
    except re2.error as e:
        why = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) \
            else str(e)
        raise ValueError(f"{what}: bad regular expression {pattern!r}: {why} (RE2 syntax: "
                         "no backreferences or lookaround)") from None


def count_processes(top: Mapping[str, Any], prog: re2._Regexp[str], args: re2._Regexp[str]) -> int:
    """Processes whose program (full path or base name) fully matches `prog` and whose
    arguments (the rest of the command line) fully match `args`, as Hinemos' own
    process monitor matches."""
    titles, rows = _columns(top)
    col = next((i for i, t in enumerate(titles) if t in ("CMD", "COMMAND")), None)
    if col is None:
        raise ValueError(f"top answer has no CMD column (titles: {titles})")
    count = 0
    for proc in rows:
        if len(proc) <= col:
            continue
        program, _, arguments = str(proc[col])[:COMMAND_MAX_CHARS].partition(" ")
        base = program.rsplit("/", 1)[-1]
        if ((prog.fullmatch(program) or prog.fullmatch(base))
                and args.fullmatch(arguments.strip())):
            count += 1
    return count


def _columns(top: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Titles and rows, one value per column. Docker splits `ps`'s output, and so does
    Podman for the `ps_args` the daemon asks it with (docker/dialect.py). Where Podman
    runs `ps` itself (4.3's compat default, tests/data/top-podman4.3.json) it sends it
    unsplit, one title "PID   USER     COMMAND" and one string per process: split each
    on white space into as many fields as there are titles, the command keeping its
    own spaces."""
    titles = [str(t) for t in top.get("Titles") or []]
    rows = [[str(v) for v in p] for p in top.get("Processes") or [] if isinstance(p, list)]
    if len(titles) == 1 and len(titles[0].split()) > 1:
        titles = titles[0].split()
        rows = [row[0].split(None, len(titles) - 1) for row in rows if row]
    return titles, rows
