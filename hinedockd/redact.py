"""Credentials out of everything a reader or a log can see. Pure.

A custom trap URL written `http://user:pass@manager:8082/` was shown to every reader of
the socket by `hinedock status`, and the REST backend's "UrlNotFound" line printed
`[hinemos] url` whole (issue 29). Any `scheme://user:password@` in a text becomes
`scheme://***@`: applied to every log entry (logs.py), to the status answer and to
`--check-config`'s summary, so no path that shows a URL or an error quoting one is
left to remember it.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlsplit

# ASCII whitespace ends a URL; any other character (a Unicode space in a password,
# U+1680 found by tests/test_gate.py) is part of the user information it redacts.
_USERINFO = re.compile(r"(?ai)\b([a-z][a-z0-9+.-]*://)[^\s/@]*@")


def redact(text: str) -> str:
    """`text` with the user information of every URL in it replaced by `***`."""
    return _USERINFO.sub(r"\1***@", text) if "@" in text else text


def redact_values(logger: Any, name: str, event_dict: MutableMapping[str, Any]
                  ) -> MutableMapping[str, Any]:
    """structlog processor: every string value of an entry, redacted."""
    for key, value in event_dict.items():
        if isinstance(value, str) and "@" in value:
            event_dict[key] = redact(value)
    return event_dict


def has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


def crosses_network_in_clear(url: str) -> bool:
    """Plain http to another machine (loopback never leaves this one)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "http" and (parts.hostname or "") not in (
        "127.0.0.1", "localhost", "::1")
