"""Docker's multiplexed exec stream split as it arrives (docker/frames.py). Pure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hinedockd.docker.frames import ExecFrames, FrameError

FRAMES = st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=300)), max_size=20)


def encode(frames: list[tuple[int, bytes]]) -> bytes:
    return b"".join(bytes([s, 0, 0, 0]) + len(d).to_bytes(4, "big") + d for s, d in frames)


@given(FRAMES, st.lists(st.integers(1, 64), min_size=1))
def test_any_cut_gives_each_streams_bytes_in_order(frames: list[tuple[int, bytes]],
                                                   cuts: list[int]) -> None:
    raw = encode(frames)
    parser, got, i, k = ExecFrames(), [], 0, 0
    while i < len(raw):
        n = cuts[k % len(cuts)]
        pieces = parser.feed(raw[i:i + n])
        assert all(len(d) <= n for _, d in pieces)  # never more than what came in
        got += pieces
        i, k = i + n, k + 1
    parser.end()
    for stream in (1, 2):
        assert b"".join(d for s, d in got if s == stream) == b"".join(
            d for s, d in frames if s == stream)


def test_a_huge_announced_frame_is_passed_on_as_it_comes() -> None:
    """A 4 GB frame header: what follows leaves at once, nothing is held for the rest."""
    parser = ExecFrames()
    assert parser.feed(b"\x01\0\0\0\xff\xff\xff\xff" + b"x" * 1000) == [(1, b"x" * 1000)]
    assert parser.feed(b"y" * 10) == [(1, b"y" * 10)]
    with pytest.raises(FrameError, match="short of its frame"):
        parser.end()


@pytest.mark.parametrize("raw", [b"\x07\0\0\0\0\0\0\x01x", b"\x01\x01\0\0\0\0\0\x01x",
                                 b"HTTP/1.1 500 Internal"])
def test_what_is_not_a_frame_is_an_error(raw: bytes) -> None:
    with pytest.raises(FrameError):
        ExecFrames().feed(raw)


def test_the_engines_error_and_stdin_streams_are_shown() -> None:
    assert ExecFrames().feed(encode([(3, b"oops"), (0, b"in")])) == [(2, b"oops"), (1, b"in")]


def test_a_stream_cut_in_a_header_is_an_error() -> None:
    parser = ExecFrames()
    parser.feed(b"\x01\0\0")
    with pytest.raises(FrameError, match="header"):
        parser.end()
