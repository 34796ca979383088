"""The local API's door: who is on the other end of the socket, and how many of them.

The daemon runs as root and its socket's group reads figures. Two things went wrong
when a reader attacked it (issue 29):

- rights were judged from `/proc/<pid>/status` of the PID the kernel recorded at
  connect, read when a request arrived: a reader that handed its socket to a child and
  exited had its request judged by whichever process took that PID next (a job group
  member's, and `id` ran in a container). The kernel keeps the connecting process's
  uid, gid and supplementary groups with the connection (SO_PEERCRED, SO_PEERGROUPS,
  Linux 4.13+): they are read once, when the connection is accepted, and never again.
- about 23,500 idle or trickling connections from one reader reached the process's
  descriptor limit, and root's `hinedock status` and the engine connections failed.
  Connections are now counted per uid and in all (root has its own allowance, so a
  reader never takes root's), and a connection that has not sent its request's
  headers within `request_header_seconds` is closed.

`Admission` is pure (counts in, a verdict out); `GatedHandler` is aiohttp's own
request handler with the door in front of it.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

log = structlog.get_logger("hinedockd.api")

# The uid of the caller whose request is being answered, set by the local API for the
# request's own task (each request has one): what a query keeps per caller (the `-k`
# cursors) is kept under it. -1 where the caller cannot be known (the tests' TCP).
CALLER_UID: ContextVar[int] = ContextVar("CALLER_UID", default=-1)

SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)  # Linux; not in Python 3.11's module
_CRED = struct.Struct("3i")
# The kernel's connect queue (clamped to net.core.somaxconn, 4096 since Linux 5.4): 300
# custom monitors started on the same second found the old 128 full (117 refused).
LISTEN_BACKLOG = 4096
ROOT_CONNECTIONS = 256  # root's own allowance, beside the readers' `max_connections`


@dataclass(frozen=True)
class Peer:
    """Who connected: the uid and every group (primary and supplementary) the
    connecting process had at connect()."""

    uid: int
    gids: frozenset[int]


def read_peer(sock: Any) -> Peer | None:
    """The connection's credentials as the kernel recorded them at connect(); None
    where there are none (not a unix socket: only the tests' TCP servers)."""
    if sock is None or getattr(sock, "family", None) != socket.AF_UNIX:
        return None
    _pid, uid, gid = _CRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                  _CRED.size))
    return Peer(uid, frozenset({gid, *_peer_groups(sock)}))


def _peer_groups(sock: Any) -> tuple[int, ...]:
    size = 4 * 64
    while True:
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, size)
        except OSError as e:
            if e.errno == errno.ERANGE and size < 4 * 65536:  # NGROUPS_MAX
                size *= 16
                continue
            raise
        return struct.unpack(f"{len(raw) // 4}I", raw[:len(raw) // 4 * 4])


@dataclass
class Admission:
    """Pure: connections held per uid and in all. Readers (any uid but root) may hold
    `per_user` each and `readers` together; root holds up to `root` of its own, so
    whatever readers do, root's `hinedock status` and jobs get in."""

    per_user: int
    readers: int
    root: int = ROOT_CONNECTIONS
    held: dict[int, int] = field(default_factory=dict)
    refused: dict[int, int] = field(default_factory=dict)

    def admit(self, uid: int) -> str | None:
        """None: admitted (and counted); else why not."""
        mine = self.held.get(uid, 0)
        if uid == 0:
            why = None if mine < self.root else f"root holds {mine} connections already"
        elif mine >= self.per_user:
            why = f"uid {uid} holds {mine} connections already (max_connections_per_user)"
        elif self.reader_total() >= self.readers:
            why = f"{self.readers} connections held by readers (max_connections)"
        else:
            why = None
        if why is None:
            self.held[uid] = mine + 1
        else:
            self.refused[uid] = self.refused.get(uid, 0) + 1
        return why

    def release(self, uid: int) -> None:
        left = self.held.get(uid, 0) - 1
        if left > 0:
            self.held[uid] = left
        else:
            self.held.pop(uid, None)

    def reader_total(self) -> int:
        return sum(n for uid, n in self.held.items() if uid != 0)


class Door:
    """The admission counts and the header deadline, shared by every connection; logs a
    refused uid at most once a minute (a flood must not become a flood of lines)."""

    def __init__(self, admission: Admission, header_seconds: float) -> None:
        self.admission, self.header_seconds = admission, header_seconds
        self._logged: dict[int, float] = {}

    def refused(self, uid: int, why: str) -> None:
        now = time.monotonic()
        if now - self._logged.get(uid, -60.0) >= 60.0:
            self._logged[uid] = now
            log.warning("connection refused", uid=uid, reason=why,
                        refused_so_far=self.admission.refused.get(uid, 0))


class GatedHandler(RequestHandler):
    """aiohttp's handler for one connection, behind the door: the peer read once at
    accept; refused with a 503 line when over its uid's or the readers' allowance; closed
    when the request's headers have not all come within the deadline."""

    def __init__(self, manager: Server, door: Door, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.door = door
        self.peer: Peer | None = None
        self._admitted = False
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        try:
            self.peer = read_peer(transport.get_extra_info("socket"))
        except OSError:
            self.peer = None
        uid = self.peer.uid if self.peer is not None else -1
        why = self.door.admission.admit(uid)
        if why is not None:
            self.door.refused(uid, why)
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain"
                                b"\r\nConnection: close\r\n\r\n" + why.encode() + b"\n")
            transport.close()
            return
        self._admitted = True
        super().connection_made(transport)
        self._deadline = self._loop.call_later(self.door.header_seconds, self._too_slow)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._deadline is not None and self._request_count:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self._request_count:
            self.force_close()  # aiohttp's: closes the transport too

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self.door.admission.release(self.peer.uid if self.peer is not None else -1)
        super().connection_lost(exc)
