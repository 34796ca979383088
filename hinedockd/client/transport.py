"""Talk to the daemon's local API: HTTP/1.0 over the unix socket, stdlib only.

The client runs once per monitored node per interval, so its start-up is its
cost. `socket` (which pulls in `enum`), `http.client` and `json` are not
imported: `_socket` and a few lines of HTTP do, and the daemon answers in text.
"""

from __future__ import annotations

import _socket
import os
import time

from hinedockd.deadlines import CLIENT_WAIT_SECONDS

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~4 ms per start
if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_SOCKET = "/run/hinedockd/hinedockd.sock"
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class ClientError(Exception):
    """Anything that stops a client command; the message is for the operator."""


def socket_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get("HINEDOCK_SOCKET") or DEFAULT_SOCKET


def quote(text: str) -> str:
    return "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode())
                   for c in text)


def request_bytes(path: str, params: dict[str, str] | list[tuple[str, str]],
                  method: str = "GET") -> bytes:
    items = params.items() if isinstance(params, dict) else params
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in items)
    target = f"{path}?{query}" if query else path
    return f"{method} {target} HTTP/1.0\r\nHost: hinedockd\r\n\r\n".encode()


class Answer:
    __slots__ = ("body", "notes", "status")

    def __init__(self, status: int, notes: list[str], body: str) -> None:
        self.status, self.notes, self.body = status, notes, body


# A full connect queue (EAGAIN on a unix socket: a manager starting hundreds of custom
# monitors on the same second) is retried this long, from 5 ms apart to 100 ms apart.
CONNECT_RETRY_SECONDS = 3.0


def connect(where: str, timeout: float) -> _socket.socket:
    """A connected socket, or ClientError saying that the daemon cannot be reached."""
    give_up = time.monotonic() + CONNECT_RETRY_SECONDS
    pause = 0.005
    while True:
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(where)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > give_up:
                raise ClientError(f"hinedockd at {where} is not taking connections "
                                  f"(its queue stayed full for {CONNECT_RETRY_SECONDS:g} s)"
                                  ) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        except OSError as e:
            s.close()
            raise ClientError(f"cannot reach hinedockd at {where}: {e.strerror or e} "
                              "(is the daemon running? is HINEDOCK_SOCKET right?)") from None


def _no_answer(where: str, e: OSError, host: str | None = None) -> ClientError:
    """The daemon took the request and did not answer: it is running; what it waits for
    (an engine, usually: the one of `host`) is the cause, not the socket (issue 28: the
    client once said "is the daemon running?" for a slow engine)."""
    if isinstance(e, TimeoutError):
        engine = f"host {host}'s engine" if host else "the engine it asks"
        return ClientError(f"hinedockd at {where} took the request but did not answer in "
                           f"time (the daemon is running; {engine} may be slow: "
                           "hinedock status)")
    return ClientError(f"connection to hinedockd at {where} lost: {e.strerror or e}")


def get(path: str, params: dict[str, str], sock_path: str | None = None,
        timeout: float = CLIENT_WAIT_SECONDS) -> Answer:
    where = socket_path(sock_path)
    s = connect(where, timeout)
    try:
        s.sendall(request_bytes(path, params))
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    except OSError as e:
        raise _no_answer(where, e, params.get("host")) from None
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


class Stream:
    """A response read as it arrives (jobs: exec output, archives), buffered over recv."""

    def __init__(self, sock: _socket.socket, where: str, deadline: float | None = None) -> None:
        self.sock, self.where, self.deadline = sock, where, deadline
        self.buf = b""
        self.status = 0
        self.headers: dict[str, str] = {}

    def _fill(self) -> bool:
        if self.deadline is not None:  # an overall limit, not a per-read one
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 16)
        except TimeoutError:
            if self.deadline is not None:
                raise
            raise _no_answer(self.where, TimeoutError()) from None
        except OSError as e:
            raise _no_answer(self.where, e) from None
        self.buf += chunk
        return bool(chunk)

    def readline(self) -> bytes:
        while b"\n" not in self.buf:
            if not self._fill():
                line, self.buf = self.buf, b""
                return line
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def read(self, n: int) -> bytes:
        while len(self.buf) < n and self._fill():
            pass
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def chunks(self) -> Iterator[bytes]:
        if self.buf:
            yield self.buf
            self.buf = b""
        while self._fill():
            yield self.buf
            self.buf = b""

    def close(self) -> None:
        self.sock.close()


def open_stream(method: str, path: str, params: list[tuple[str, str]],
                sock_path: str | None = None, timeout: float | None = None) -> Stream:
    """Send the request and read the status and headers; the body is read by the caller.
    `timeout`: an overall limit in seconds; None: none (a quiet command may run for
    hours)."""
    where = socket_path(sock_path)
    s = connect(where, 10.0 if timeout is None else min(timeout, 10.0))
    try:
        s.sendall(request_bytes(path, params, method))
    except OSError as e:
        s.close()
        raise _no_answer(where, e) from None
    stream = Stream(s, where, None if timeout is None else time.monotonic() + timeout)
    if timeout is None:
        s.settimeout(None)
    status = stream.readline().decode("latin-1").split(" ", 2)
    if len(status) < 2 or not status[1].isdigit():
        stream.close()
        raise ClientError("hinedockd sent a malformed answer")
    stream.status = int(status[1])
    while (line := stream.readline().decode("latin-1").strip()):
        key, _, value = line.partition(":")
        stream.headers[key.strip().lower()] = value.strip()
    return stream
