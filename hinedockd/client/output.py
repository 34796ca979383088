"""Lines a Hinemos custom monitor accepts. Pure apart from `emit`.

The agent's parser wants `^(.+),\\s*(-?[0-9.]+)$` per line: the key, the last
comma, a plain decimal (no `+`, no exponent, no nan); a repeated key is an
invalid line; LF endings; only the first 512 bytes are kept by default.
"""

from __future__ import annotations

import math
import re
import sys
from typing import TextIO

from hinedockd.client.transport import ClientError

LINE_RE = re.compile(r"^(.+),\s*(-?[0-9.]+)$")
AGENT_BUFFER = 512


def number(value: float, decimals: int = 2) -> str:
    """A plain decimal: fixed point, never an exponent, never `-0.00`."""
    if not math.isfinite(value):
        raise ClientError(f"value {value!r} cannot be printed for Hinemos")
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


class Lines:
    """Collects `key,value` lines, refusing duplicates and anything the agent rejects."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._keys: set[str] = set()

    def add(self, key: str, value: float | int, decimals: int = 2) -> None:
        key = "".join(c if c.isprintable() else "?" for c in key)
        text = str(value) if isinstance(value, int) else number(value, decimals)
        line = f"{key},{text}"
        if key in self._keys:
            raise ClientError(f"duplicate key {key!r} in output")
        if not LINE_RE.match(line):
            raise ClientError(f"line {line!r} would be rejected by Hinemos")
        self._keys.add(key)
        self.lines.append(line)

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def emit(lines: Lines, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
    text = lines.text()
    size = len(text.encode())
    if size > AGENT_BUFFER:
        err.write(f"hinedock: warning: {size} bytes of output; the Hinemos agent keeps only "
                  f"the first {AGENT_BUFFER} by default (monitor.custom.buffer). Use one "
                  "monitor per container: -c #[NODE_NAME]\n")
    out.write(text)
