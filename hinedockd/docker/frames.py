"""Docker's multiplexed stream (an exec's output with no TTY), split into bounded
pieces. Pure.

Each frame is an 8-byte header — the stream (1 stdout, 2 stderr; 0 stdin and 3 the
engine's own error, which the daemon shows as stdout and stderr) and three zero bytes,
then the length, big-endian — followed by that many bytes. aiodocker's parser holds a
whole frame before handing it on, and the length is the engine's to choose: a hostile
or broken engine announcing a 4 GB frame made the daemon buffer all of it (issue 29).
Here a frame's bytes leave as they arrive, in pieces no larger than what came in, so
memory is one read of the socket whatever the frames say.
"""

from __future__ import annotations

HEADER = 8
STREAMS = {0: 1, 1: 1, 2: 2, 3: 2}  # the engine's stream byte -> 1 stdout, 2 stderr


class FrameError(ValueError):
    """Bytes that are not Docker's multiplexed stream."""


class ExecFrames:
    """Feed the bytes as they come; get (stream, data) pieces in order."""

    __slots__ = ("_header", "_left", "_stream")

    def __init__(self) -> None:
        self._header = bytearray()
        self._stream = 1
        self._left = 0  # bytes of the current frame still to come

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        return [(stream, piece) for stream, piece, _ in self.feed_marked(data) if piece]

    def feed_marked(self, data: bytes) -> list[tuple[int, bytes, bool]]:
        """As `feed`, each piece also saying whether it ends its frame (a container's
        log stream sends one log entry a frame: docker/logframes.py)."""
        out: list[tuple[int, bytes, bool]] = []
        view = memoryview(data)
        while view:
            if self._left:
                take = view[:self._left]
                self._left -= len(take)
                out.append((self._stream, bytes(take), not self._left))
                view = view[len(take):]
                continue
            need = HEADER - len(self._header)
            self._header += view[:need]
            view = view[need:]
            if len(self._header) == HEADER:
                self._start(bytes(self._header))
                self._header.clear()
                if not self._left:
                    out.append((self._stream, b"", True))  # an empty frame ends at once
        return out

    def _start(self, header: bytes) -> None:
        stream = STREAMS.get(header[0])
        if stream is None or header[1:4] != b"\0\0\0":
            raise FrameError(f"not a multiplexed stream frame header: {header.hex()}")
        self._stream = stream
        self._left = int.from_bytes(header[4:8], "big")

    def end(self) -> None:
        """At the end of the stream: a frame cut short is an error."""
        if self._header:
            raise FrameError("the stream ended inside a frame header")
        if self._left:
            raise FrameError(f"the stream ended {self._left} bytes short of its frame's end")
