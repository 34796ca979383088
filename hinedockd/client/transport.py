"""Talk to the daemon's local API: HTTP/1.0 over the unix socket, stdlib only.

The client runs once per monitored node per interval, so its start-up is its
cost. `socket` (which pulls in `enum`), `http.client` and `json` are not
imported: `_socket` and a few lines of HTTP do, and the daemon answers in text.
"""

from __future__ import annotations

import _socket
import os

DEFAULT_SOCKET = "/run/hinedockd/hinedockd.sock"
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class ClientError(Exception):
    """Anything that stops a client command; the message is for the operator."""


def socket_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get("HINEDOCK_SOCKET") or DEFAULT_SOCKET


def quote(text: str) -> str:
    return "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode())
                   for c in text)


def request_bytes(path: str, params: dict[str, str]) -> bytes:
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())
    target = f"{path}?{query}" if query else path
    return f"GET {target} HTTP/1.0\r\nHost: hinedockd\r\n\r\n".encode()


class Answer:
    __slots__ = ("body", "notes", "status")

    def __init__(self, status: int, notes: list[str], body: str) -> None:
        self.status, self.notes, self.body = status, notes, body


def get(path: str, params: dict[str, str], sock_path: str | None = None,
        timeout: float = 10.0) -> Answer:
    where = socket_path(sock_path)
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(where)
        s.sendall(request_bytes(path, params))
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    except OSError as e:
        raise ClientError(f"cannot reach hinedockd at {where}: {e.strerror or e} "
                          "(is the daemon running? is HINEDOCK_SOCKET right?)") from None
    finally:
        s.close()
    return parse_answer(b"".join(chunks))


def parse_answer(raw: bytes) -> Answer:
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if not sep or len(status) < 2 or not status[1].isdigit():
        raise ClientError("hinedockd sent a malformed answer")
    notes = [v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
             if k.strip().lower() == "hinedock-note"]
    return Answer(int(status[1]), notes, body.decode("utf-8", "replace"))
