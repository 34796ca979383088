"""Syslog senders: UDP, TCP (RFC 6587 octet counting or LF framing), and a file sink.

Each target has its own bounded queue and task: a slow or dead receiver fills its
own queue (the overflow is counted as dropped) and never blocks the event loop or
the other targets. TCP reconnects with backoff and resends the message that was
being written when the connection broke.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

import structlog

from hinedockd.backoff import Backoff
from hinedockd.config import SyslogTarget
from hinedockd.messages.framing import file_line, lf_framed, octet_counted

log = structlog.get_logger("hinedockd.syslog")
WRITE_TIMEOUT = 5.0



@dataclass(frozen=True)
class SinkSnapshot:
    """One syslog target's line of `hinedock status` (the names are the API's)."""

    target: str
    format: str
    connected: bool
    queued: int
    sent: int
    dropped: int
    errors: int
    last_error: str

class Sink:
    def __init__(self, target: SyslogTarget) -> None:
        self.target = target
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=target.queue_size)
        self.accepted = 0  # queued; messages leave in this order, so sent >= n says
        self.sent = 0      # that the first n accepted have all left
        self.dropped = 0
        self.errors = 0
        self.connected = False
        self.last_error = ""
        self.log = log.bind(target=target.target)

    def submit(self, message: str, bulk: bool = False) -> bool:
        """Queue a message; False if it was dropped. A `bulk` one (a container's own
        line) may fill only half the queue: a chatty container never leaves the events
        and state changes without room."""
        if bulk and self.queue.qsize() >= max(1, self.queue.maxsize // 2):
            self._drop()
            return False
        try:
            self.queue.put_nowait(message)
            self.accepted += 1
            return True
        except asyncio.QueueFull:
            self._drop()
            return False

    def _drop(self) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            self.log.warning("syslog queue full, dropping", dropped=self.dropped)

    def _failed(self, error: BaseException | str) -> None:
        self.errors += 1
        self.connected = False
        self.last_error = str(error) or type(error).__name__

    async def run(self) -> None:
        raise NotImplementedError

    def snapshot(self) -> SinkSnapshot:
        return SinkSnapshot(target=self.target.target, format=self.target.format,
                            connected=self.connected, queued=self.queue.qsize(),
                            sent=self.sent, dropped=self.dropped, errors=self.errors,
                            last_error=self.last_error)


def _host_port(target: str) -> tuple[str, int]:
    host, _, port = target.split("://", 1)[1].rpartition(":")
    return host.strip("[]"), int(port)


class _UdpErrors(asyncio.DatagramProtocol):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: the receiver is down; UDP has no other way to say so.
        self.sink._failed(exc)


class UdpSink(Sink):
    async def run(self) -> None:
        host, port = _host_port(self.target.target)
        loop = asyncio.get_running_loop()
        backoff = Backoff(1.0, 30.0)
        while True:
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _UdpErrors(self), remote_addr=(host, port))
                break
            except OSError as e:  # name resolution, no route
                self._failed(e)
                await asyncio.sleep(backoff.next())
        try:
            while True:
                message = await self.queue.get()
                self.connected = True
                transport.sendto(message.encode())
                self.sent += 1
                self.queue.task_done()
        finally:
            transport.close()


class TcpSink(Sink):
    async def run(self) -> None:
        host, port = _host_port(self.target.target)
        frame = lf_framed if self.target.tcp_framing == "lf" else octet_counted
        backoff = Backoff(0.5, 30.0)
        pending: str | None = None
        while True:
            writer: asyncio.StreamWriter | None = None
            try:
                async with asyncio.timeout(WRITE_TIMEOUT):
                    _, writer = await asyncio.open_connection(host, port)
                self.connected = True
                self.log.info("syslog connected")
                backoff.reset()
                while True:
                    message = pending if pending is not None else await self.queue.get()
                    pending = message
                    # closed by the receiver: uvloop's write would raise RuntimeError
                    if writer.is_closing():
                        raise ConnectionResetError("the receiver closed the connection")
                    writer.write(frame(message))
                    async with asyncio.timeout(WRITE_TIMEOUT):
                        await writer.drain()
                    pending = None
                    self.sent += 1
                    self.queue.task_done()
            except (OSError, TimeoutError) as e:
                if self.connected:
                    self.log.warning("syslog connection lost, reconnecting", error=str(e))
                self._failed(e)
            finally:
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(OSError, TimeoutError):
                        async with asyncio.timeout(1):
                            await writer.wait_closed()
            await asyncio.sleep(backoff.next())


class FileSink(Sink):
    """The report's `-f LOGFILE`: one line per message, appended; written in a thread
    in batches so that a slow disk does not stall the loop."""

    async def run(self) -> None:
        path = Path(self.target.target[len("file://"):])
        backoff = Backoff(1.0, 30.0)
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < 1000:
                batch.append(self.queue.get_nowait())
            text = "".join(file_line(m) + "\n" for m in batch)
            while True:
                try:
                    await asyncio.to_thread(_append, path, text)
                    self.connected = True
                    self.sent += len(batch)
                    for _ in batch:
                        self.queue.task_done()
                    backoff.reset()
                    break
                except OSError as e:
                    self._failed(e)
                    self.log.warning("syslog file not writable, retrying", error=str(e))
                    await asyncio.sleep(backoff.next())


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def make_sink(target: SyslogTarget) -> Sink:
    scheme = target.target.split("://", 1)[0]
    return {"udp": UdpSink, "tcp": TcpSink, "file": FileSink}[scheme](target)
