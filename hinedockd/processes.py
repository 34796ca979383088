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
    titles = top.get("Titles") or []
    col = next((i for i, t in enumerate(titles) if t in ("CMD", "COMMAND")), None)
    if col is None:
        raise ValueError(f"top answer has no CMD column (titles: {titles})")
    count = 0
    for proc in top.get("Processes") or []:
        if len(proc) <= col:
            continue
        program, _, arguments = str(proc[col]).partition(" ")
        base = program.rsplit("/", 1)[-1]
        if ((prog.fullmatch(program) or prog.fullmatch(base))
                and args.fullmatch(arguments.strip())):
            count += 1
    return count
