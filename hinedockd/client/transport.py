"""Talk to the daemon's local API: HTTP/1.0 over the unix socket, stdlib only.

`http.client` alone costs ~20 ms to import, more than the whole request, so the
few lines of HTTP are written here.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

DEFAULT_SOCKET = "/run/hinedockd/hinedockd.sock"
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class ClientError(Exception):
    """Anything that stops a client command; the message is for the operator."""


def socket_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get("HINEDOCK_SOCKET") or DEFAULT_SOCKET


def quote(text: str) -> str:
    return "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode())
                   for c in text)


def request_bytes(path: str, params: dict[str, str | None]) -> bytes:
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items() if v is not None)
    target = f"{path}?{query}" if query else path
    return f"GET {target} HTTP/1.0\r\nHost: hinedockd\r\n\r\n".encode()


def get(path: str, params: dict[str, str | None], sock_path: str | None = None,
        timeout: float = 10.0) -> Any:
    where = socket_path(sock_path)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(where)
            s.sendall(request_bytes(path, params))
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
    except OSError as e:
        raise ClientError(f"cannot reach hinedockd at {where}: {e.strerror or e} "
                          "(is the daemon running? is HINEDOCK_SOCKET right?)") from None
    return parse_response(b"".join(chunks))


def parse_response(raw: bytes) -> Any:
    head, sep, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if not sep or len(status_line) < 2 or not status_line[1].isdigit():
        raise ClientError("hinedockd sent a malformed answer")
    try:
        data = json.loads(body)
    except ValueError:
        raise ClientError(f"hinedockd sent a non-JSON answer (HTTP {status_line[1].decode()})"
                          ) from None
    if int(status_line[1]) != 200:
        message = data.get("error") if isinstance(data, dict) else None
        raise ClientError(str(message or f"HTTP {status_line[1].decode()}"))
    return data
