"""A streaming HTTP/1.1 GET whose JSON lines are handed to a callback as they arrive
(chunked, sized by Content-Length, or until the close).

Why not aiohttp here: a stats stream delivers one small document per second per
container, and at hundreds of containers the per-line cost of a StreamReader
(wake a task, `readline`, switch) was most of the daemon's CPU. This protocol
decodes the chunked body inside `data_received` and calls the handler directly:
no task, no queue, no copy for the common one-line chunk. The request/response
subset is the one the engine speaks on `/events` and `/containers/{id}/stats`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson

MAX_HEAD = 64 * 1024
MAX_LINE = 1 << 20  # a longer line is refused, and the stream with it
MAX_ERROR = 4096  # of an error answer's body: the engine's message is a line
ERROR_TEXT_CHARS = 300


def error_message(raw: bytes) -> str:
    """An engine's error answer, read from at most its first MAX_ERROR bytes: its
    `message` when the body is a JSON object that has one, else the text as it is
    (undecodable bytes replaced); at most ERROR_TEXT_CHARS, printable; "" for none.
    The one reading of an error answer, for the queries (engine.py) and the streams."""
    raw = raw[:MAX_ERROR]
    text = raw.decode("utf-8", "replace").strip()
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        text = doc["message"]
    return "".join(ch if ch.isprintable() else " " for ch in text[:ERROR_TEXT_CHARS]).strip()


def _content_length(fields: str) -> int | None:
    """From the lower-cased header lines; None when absent or not a number."""
    for line in fields.split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip() == "content-length" and value.strip().isdigit():
            return int(value.strip())
    return None


class StreamError(Exception):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class JsonLinesProtocol(asyncio.Protocol):
    """`headers` resolves when a 200 answer starts; `done` when the stream ends
    (with StreamError on a bad answer, a broken body or a lost connection; with the
    handler's own exception when `on_line` raised one)."""

    def __init__(self, request: bytes, on_line: Callable[[bytes], None],
                 hold: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.request, self.on_line = request, on_line
        self.headers: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.WriteTransport | None = None
        self._buf = bytearray()
        self._line = bytearray()
        self._state = "head"
        self._left = 0
        self._status = 0
        self._held: list[bytes] | None = [] if hold else None

    # ---- control ---------------------------------------------------------------

    def release(self) -> None:
        """Deliver the lines held since the start, then every line as it comes."""
        held, self._held = self._held or [], None
        for line in held:
            self.on_line(line)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # ---- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: duck-typed.
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        try:
            if self._state == "size" and not self._buf and self._whole_chunk(data):
                return
            self._buf += data
            self._parse()
        except StreamError as e:
            self._finish(e)
            self.close()
        except Exception as e:  # the handler's bug (below), not the stream's
            self._fail(e)

    def _fail(self, bug: Exception) -> None:
        """A handler that raised something else than a StreamError has a bug: the
        stream ends with that very exception, which `Engine.wait_lines` lets through
        (not a broken stream to reopen) to the supervisor. Left to asyncio, it was
        logged as a fatal protocol error and the stream reopened, the bug hidden."""
        self._state = "error"
        if not self.done.done():
            self.done.set_exception(bug)
        self.close()

    def _whole_chunk(self, data: bytes) -> bool:
        """The common case, one whole chunk in one read: decode it without buffering."""
        end = data.find(b"\r\n", 0, 18)
        if end <= 0 or not data.endswith(b"\r\n"):
            return False
        try:
            size = int(data[:end], 16)
        except ValueError:
            return False
        if size == 0 or len(data) != end + 2 + size + 2:
            return False
        self._feed(data[end + 2:-2])
        return True

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._state == "error":
            return
        if self._state == "head":
            self._finish(StreamError(f"connection closed before an answer ({exc or 'EOF'})"))
        elif self._state == "body" and self._status != 200:
            self._finish(StreamError(self._error_text(), self._status))
        elif self._state == "sized":
            self._finish(StreamError(f"answer cut short, {self._left} bytes missing"))
        elif exc:
            self._finish(StreamError(f"stream ended ({exc})"))
        else:
            if self._state == "raw":
                self._flush()  # an answer the engine ends by closing
            self._finish(None)

    # ---- parsing ---------------------------------------------------------------

    def _finish(self, error: StreamError | None) -> None:
        if error is not None and not self.headers.done():
            self.headers.set_exception(error)
            self.done.set_result(None)  # the caller learns of it from `headers`
            self._state = "error"
            return
        if not self.done.done():
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)
        self._state = "error" if error else "end"

    def _error_if_whole(self) -> None:
        """An error answer ends at its length, at the close, or at MAX_ERROR bytes:
        the engine's message is a line, and what a broken engine sends past it is
        not read (without a length it was buffered until the close)."""
        if 0 <= self._left <= len(self._buf) or len(self._buf) >= MAX_ERROR:
            raise StreamError(self._error_text(), self._status)

    def _error_text(self) -> str:
        return f"HTTP {self._status}: {error_message(bytes(self._buf[:MAX_ERROR]))}"

    def _parse(self) -> None:
        buf = self._buf
        if self._state == "head":
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise StreamError("answer headers too long")
                return
            head = bytes(buf[:end]).decode("latin-1")
            del buf[:end + 4]
            status_line, _, fields = head.partition("\r\n")
            parts = status_line.split(" ", 2)
            if len(parts) < 2 or not parts[1].isdigit():
                raise StreamError(f"not an HTTP answer: {status_line[:80]!r}")
            self._status = int(parts[1])
            fields = fields.lower()
            length = _content_length(fields)
            if self._status != 200:
                # The error text, until the close or the length the engine gave.
                self._state, self._left = "body", -1 if length is None else length
                self._error_if_whole()
                return
            if "transfer-encoding: chunked" in fields:
                self._state = "size"
            elif length is not None:
                self._state, self._left = "sized", length
            else:
                self._state = "raw"  # until the engine closes
            self.headers.set_result(None)
            if self._state == "sized" and length == 0:
                self._end()
                return
        while buf:
            state = self._state
            if state == "body":
                self._error_if_whole()
                return
            if state == "raw":
                self._feed(bytes(buf))
                buf.clear()
                return
            if state == "sized":
                take = min(self._left, len(buf))
                self._feed(bytes(buf[:take]))
                buf.clear()  # nothing is asked after this answer on its connection
                self._left -= take
                if self._left == 0:
                    self._end()
                return
            if state == "size":
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > 64:
                        raise StreamError("bad chunk header")
                    return
                try:
                    size = int(bytes(buf[:end]).split(b";", 1)[0], 16)
                except ValueError:
                    raise StreamError("bad chunk size") from None
                del buf[:end + 2]
                if size == 0:
                    self._finish(None)
                    self.close()
                    return
                self._left, self._state = size, "data"
            elif state == "data":
                take = min(self._left, len(buf))
                self._feed(bytes(buf[:take]))
                del buf[:take]
                self._left -= take
                if self._left == 0:
                    self._state = "crlf"
            elif state == "crlf":
                if len(buf) < 2:
                    return
                del buf[:2]
                self._state = "size"
            else:
                return

    def _end(self) -> None:
        """A sized answer read whole: its last line may lack the newline."""
        self._flush()
        self._finish(None)
        self.close()

    def _flush(self) -> None:
        if self._line:
            line = bytes(self._line)
            self._line.clear()
            self._emit(line)

    def _feed(self, data: bytes) -> None:
        line = self._line
        if not line and data.endswith(b"\n") and data.count(b"\n") == 1:
            self._emit(data)  # one whole line: no copy
            return
        line += data
        while (end := line.find(b"\n")) >= 0:
            self._emit(bytes(line[:end + 1]))
            del line[:end + 1]
        if len(line) > MAX_LINE:
            raise StreamError(f"a line of more than {MAX_LINE} bytes")

    def _emit(self, line: bytes) -> None:
        if not line.strip():
            return
        if self._held is not None:
            self._held.append(line)
        else:
            self.on_line(line)


class BodyProtocol(JsonLinesProtocol):
    """The same streaming GET, its body handed on as it arrives, not cut into lines (a
    container's log stream: docker/logframes.py cuts it)."""

    def _feed(self, data: bytes) -> None:
        if self._held is not None:
            self._held.append(data)
        else:
            self.on_line(data)

    def _flush(self) -> None:
        pass
