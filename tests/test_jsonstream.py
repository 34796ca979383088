"""The chunked JSON-lines decoder (docker/jsonstream.py), the daemon's most intricate
function: whatever the chunking and however the reads split the bytes, the same
lines come out, in order, once; a broken answer ends the stream with a reason."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hinedockd.docker.jsonstream import MAX_ERROR, JsonLinesProtocol, StreamError

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"


class Wire:
    """The transport side: what the protocol wrote, whether it closed."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True


def chunked(body: bytes, cuts: list[int]) -> bytes:
    """`body` as chunks cut at `cuts` (sorted offsets), then the last chunk."""
    out, start = [], 0
    for end in [*sorted(set(cuts)), len(body)]:
        if end > start:
            piece = body[start:end]
            out.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
            start = end
    return b"".join(out) + b"0\r\n\r\n"


def feed(wire: bytes, reads: list[int], hold_until: int | None = None
         ) -> tuple[list[bytes], JsonLinesProtocol, Wire]:
    """Feed `wire` in reads of the given sizes (the rest in one read); with
    `hold_until`, lines are held and released after that many reads."""
    async def go() -> tuple[list[bytes], JsonLinesProtocol, Wire]:
        got: list[bytes] = []
        proto = JsonLinesProtocol(b"GET /events HTTP/1.1\r\n\r\n", got.append,
                                  hold=hold_until is not None)
        transport = Wire()
        proto.connection_made(transport)  # type: ignore[arg-type]
        pos = 0
        for n, size in enumerate([*reads, len(wire)]):
            if n == hold_until:
                proto.release()
            if pos < len(wire):
                proto.data_received(wire[pos:pos + size])
                pos += size
        if hold_until is not None and hold_until >= len(reads):
            proto.release()
        proto.connection_lost(None)
        return got, proto, transport

    return asyncio.run(go())


lines = st.lists(st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"\n", b" ")),
                 min_size=1, max_size=12)


@given(lines, st.lists(st.integers(0, 400), max_size=8), st.lists(st.integers(1, 30),
                                                                   max_size=40))
def test_any_chunking_and_any_reads_give_the_same_lines(
        docs: list[bytes], cuts: list[int], reads: list[int]) -> None:
    body = b"".join(d + b"\n" for d in docs)
    got, proto, transport = feed(HEAD + chunked(body, cuts), reads)
    assert got == [d + b"\n" for d in docs if d.strip()]
    assert proto.headers.done() and proto.done.done() and proto.done.exception() is None
    assert transport.written.startswith(b"GET /events")


@given(lines, st.lists(st.integers(1, 30), max_size=20), st.integers(0, 20))
def test_held_lines_come_out_once_in_order_on_release(
        docs: list[bytes], reads: list[int], release_after: int) -> None:
    body = b"".join(d + b"\n" for d in docs)
    got, _, _ = feed(HEAD + chunked(body, []), reads, hold_until=release_after)
    assert got == [d + b"\n" for d in docs if d.strip()]


@pytest.mark.parametrize("wire, message", [
    (b"HTTP/1.1 404 Not Found\r\n\r\n{\"message\": \"No such container: x\"}",
     "HTTP 404: No such container: x"),
    (HEAD + b"zz\r\n{}\n\r\n", "bad chunk size"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP answer"),
])
def test_a_broken_answer_says_why(wire: bytes, message: str) -> None:
    got, proto, _ = feed(wire, [])
    assert got == []
    assert proto.headers.done()
    failed = proto.headers if proto.headers.exception() else proto.done
    error = failed.exception()
    assert isinstance(error, StreamError) and message in str(error)


def test_a_stream_cut_mid_line_delivers_whole_lines_only() -> None:
    """The caller reopens the stream either way; what matters is that half a
    document is never handed on."""
    wire = HEAD + chunked(b'{"a": 1}\n{"b": 2}\n', [12])
    got, proto, _ = feed(wire[:len(HEAD) + 20], [7])
    assert got == [b'{"a": 1}\n']
    assert proto.done.done()


def sized(body: bytes, status: str = "200 OK") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@given(st.binary(min_size=1, max_size=300).map(lambda b: b.replace(b"\n", b" ")),
       st.booleans(), st.lists(st.integers(1, 40), max_size=20))
def test_a_sized_answer_ends_at_its_length_newline_or_not(
        doc: bytes, newline: bool, reads: list[int]) -> None:
    """A one-shot answer (Content-Length, keep-alive or not) is whole at its length,
    before any close: the document comes out once, with or without its newline, and
    the protocol closes the connection itself (an answer still short at the close
    would end with "bytes missing")."""
    body = doc + (b"\n" if newline else b"")
    got, proto, transport = feed(sized(body), reads)
    assert transport.closed and proto.done.exception() is None
    assert got == ([body] if doc.strip() else [])


def test_a_sized_answer_cut_short_is_an_error_not_half_a_document() -> None:
    got, proto, _ = feed(sized(b'{"read": "2026-12-03T00:00:00Z"}\n')[:-5], [10])
    assert got == []
    error = proto.done.exception()
    assert isinstance(error, StreamError) and "5 bytes missing" in str(error)


def test_a_sized_error_answer_ends_at_its_length() -> None:
    got, proto, transport = feed(sized(b'{"message": "No such container: x"}', "404 Not Found"), [])
    error = proto.headers.exception()
    assert isinstance(error, StreamError) and error.status == 404
    assert "No such container: x" in str(error) and got == []
    assert transport.closed  # at its length, not at the engine's close


def test_a_handler_that_raises_ends_the_stream_with_its_own_error() -> None:
    """A bug in the handler is not a broken stream to reopen (EventStream and StatsPump
    reopen on StreamError): the waiter gets the handler's exception itself, so that it
    reaches the supervisor, and nothing after it is handed on."""
    async def go() -> tuple[list[bytes], JsonLinesProtocol, Wire]:
        got: list[bytes] = []

        def handler(line: bytes) -> None:
            got.append(line)
            if line.startswith(b"{\"bad"):
                raise KeyError("the handler's bug")

        proto = JsonLinesProtocol(b"GET /events HTTP/1.1\r\n\r\n", handler)
        transport = Wire()
        proto.connection_made(transport)  # type: ignore[arg-type]
        proto.data_received(HEAD + chunked(b'{"a": 1}\n{"bad": 2}\n{"c": 3}\n', [9, 20]))
        proto.connection_lost(None)  # the close that follows changes nothing
        return got, proto, transport

    got, proto, transport = asyncio.run(go())
    assert got == [b'{"a": 1}\n', b'{"bad": 2}\n']
    assert isinstance(proto.done.exception(), KeyError)
    assert transport.closed


def test_an_error_answer_is_read_no_further_than_its_first_kibibytes() -> None:
    """A 500 with no length and a body that never ends: refused once MAX_ERROR bytes
    are in, with the start of it as the reason (before: buffered until the close)."""
    async def go() -> tuple[JsonLinesProtocol, Wire, int]:
        proto = JsonLinesProtocol(b"GET /events HTTP/1.1\r\n\r\n", lambda line: None)
        transport = Wire()
        proto.connection_made(transport)  # type: ignore[arg-type]
        proto.data_received(b"HTTP/1.1 500 Internal Server Error\r\n\r\nboom ")
        fed = 0
        while not transport.closed and fed < 1 << 20:
            proto.data_received(b"x" * 1000)
            fed += 1000
        return proto, transport, fed

    proto, transport, fed = asyncio.run(go())
    assert transport.closed and fed <= MAX_ERROR + 1000
    error = proto.headers.exception()
    assert isinstance(error, StreamError) and error.status == 500
    assert str(error).startswith("HTTP 500: boom x") and len(str(error)) <= 320
