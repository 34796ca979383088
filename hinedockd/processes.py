"""Count a container's processes from `GET /containers/{id}/top`. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def compile_pattern(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(f"{what}: bad regular expression {pattern!r}: {e}") from None


def count_processes(top: Mapping[str, Any], prog: re.Pattern[str],
                    args: re.Pattern[str]) -> int:
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
        program, _, arguments = str(proc[col]).partition(" ")
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
