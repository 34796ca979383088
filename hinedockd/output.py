"""Lines a Hinemos custom monitor accepts. Pure.

The 7.x agent's parser wants `^(.+),\\s*(-?[0-9.]+)$` per line: the key, the last
comma, a plain decimal (no `+`, no exponent, no nan); a repeated key is an invalid
line; LF endings; only the first 512 bytes are kept by default. The agents of the
report's era are stricter (HINEMOS.md §3): 5.x and 6.x `^([^,]+),(-?[0-9.]+)$`, older
ones `^([^,]+),([0-9.]+)$`. Every line is made to pass all three: no comma in a key,
nothing between the comma and the value, no sign.
"""

from __future__ import annotations

import math
import re

LINE_RE = re.compile(r"^(.+),\s*(-?[0-9.]+)$")  # 7.x
AGENT_LINE_RES = (LINE_RE, re.compile(r"^([^,]+),(-?[0-9.]+)$"),  # 5.x, 6.x
                  re.compile(r"^([^,]+),([0-9.]+)$"))  # older
AGENT_BUFFER = 512


class OutputError(ValueError):
    """Output that Hinemos would reject; the message says which line."""


def number(value: float, decimals: int = 2) -> str:
    """A plain decimal: fixed point, never an exponent, never `-0.00`."""
    if not math.isfinite(value):
        raise OutputError(f"value {value!r} cannot be printed for Hinemos")
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def printable(text: str) -> str:
    """Printable characters only (non-ASCII names kept), each other one `?`: no control
    character, line break or escape sequence from a container's name reaches a key, a
    job's line or the exec stream's frames."""
    return "".join(c if c.isprintable() else "?" for c in text)


class Lines:
    """Collects `key,value` lines. A key an agent would reject (a comma, a repeat:
    names come from the engine) costs its own line only, with a note in `skipped`: one
    container named `a,b` once failed the CPU monitor of its whole host (issue 29)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.skipped: list[str] = []
        self._keys: set[str] = set()

    def add(self, key: str, value: float, decimals: int = 2) -> None:
        key = printable(key)
        text = str(value) if isinstance(value, int) else number(value, decimals)
        line = f"{key},{text}"
        if key in self._keys:
            self.skipped.append(f"skipped {key!r}: the key is in the output already")
        elif "," in key:
            self.skipped.append(f"skipped {key!r}: a comma in a key, which the 5.x and 6.x "
                                "agents reject")
        elif not all(r.match(line) for r in AGENT_LINE_RES):
            self.skipped.append(f"skipped {line!r}: a Hinemos agent would reject it")
        else:
            self._keys.add(key)
            self.lines.append(line)

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    def buffer_warning(self) -> str | None:
        size = len(self.text().encode())
        if size <= AGENT_BUFFER:
            return None
        return (f"warning: {size} bytes of output; the Hinemos agent keeps only the first "
                f"{AGENT_BUFFER} by default (monitor.custom.buffer). Use one monitor per "
                "container: -c #[NODE_NAME]")
