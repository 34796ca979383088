"""How Hinemos' system-log monitor reads a message (HINEMOS.md §4), for assertions.

RFC 3164 only: `<PRI>Mmm dd HH:mm:ss HOSTNAME TAG: MSG`. The HOSTNAME counts only
if made of ASCII letters, digits, `.`, `/`, `_`, `-`; TAG is told from HOSTNAME by
its trailing colon; the node is then looked up by the HOSTNAME's part before the
first dot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER = re.compile(r"^<(\d{1,3})>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\S+) (.*)$", re.S)
HOSTNAME = re.compile(r"^\[?[A-Za-z0-9./_-]+\]?$")


@dataclass
class Parsed:
    pri: int
    timestamp: str
    hostname: str | None  # None: Hinemos would use the sender's address
    tag: str
    message: str


def parse(raw: str) -> Parsed:
    m = HEADER.match(raw)
    assert m, f"not RFC 3164 as Hinemos reads it: {raw!r}"
    pri, stamp, word, rest = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    if word.endswith(":") or not HOSTNAME.match(word):
        return Parsed(pri, stamp, None, word.rstrip(":"), rest)
    tag, colon, msg = rest.partition(": ")
    assert colon, f"no `TAG:` in {raw!r}"
    return Parsed(pri, stamp, word.split(".")[0], tag, msg)
