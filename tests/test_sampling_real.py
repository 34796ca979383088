"""The default sampling policy (`stats = "poll"` once per default window, 60 s, on the
clock) against streaming, on both real engines, side by side on the same busy
container: the default window's average agrees within 1 point; a `-k` average over a
minute agrees within 1 point too (its ends are within one sampling interval of the
calls); a container that has just started answers within seconds, not after two
rounds; the polled daemon asks the engine for a fraction of the samples (`hinedock
status`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realparts import (
    ENGINE_URLS,
    Daemon,
    docker,
    one_cpu,
    run_container,
    start_daemon,
)


@pytest.fixture
def polled(engine_cli: str, tmp_path: Path) -> Iterator[Daemon]:
    # No poll_interval_seconds: the default, the daemon's default window.
    yield from start_daemon(tmp_path / "poll", host_url=ENGINE_URLS[engine_cli], stats="poll")


@pytest.fixture
def streamed(engine_cli: str, tmp_path: Path) -> Iterator[Daemon]:
    yield from start_daemon(tmp_path / "stream", host_url=ENGINE_URLS[engine_cli])


def cpu(daemon: Daemon, *args: str) -> float:
    return one_cpu(daemon, "hdt_samp_busy", *args)


async def test_the_default_poll_reads_as_the_stream_does(
        polled: Daemon, streamed: Daemon, engine_cli: str) -> None:
    cid = await asyncio.to_thread(run_container, "samp_busy", "sh", "-c", "yes > /dev/null",
                                  cli=engine_cli)
    try:
        # A container just started answers with the samples it has: polled at once
        # and 5 s later (Podman's stream gives its first within ~5 s too).
        started = time.monotonic()
        while polled.run("hinedock", "cpu", "-n", "hdt_samp_busy").returncode != 0:
            assert time.monotonic() - started < 15, "no figure 15 s after the start"
            await asyncio.sleep(0.5)
        # The -k calls a Hinemos monitor makes each minute, to both daemons at once.
        for d in (polled, streamed):
            d.run("hinedock", "cpu", "-n", "hdt_samp_busy", "-k", "mon")
        await asyncio.sleep(65)  # past the first full window on both
        k_poll, k_stream = cpu(polled, "-k", "mon"), cpu(streamed, "-k", "mon")
        window_poll, window_stream = cpu(polled), cpu(streamed)
        assert window_stream > 20, window_stream  # busy: a core of the host's
        assert abs(window_poll - window_stream) < 1, (window_poll, window_stream)
        assert abs(k_poll - k_stream) < 1, (k_poll, k_stream)
        status = polled.run("hinedock", "status").stdout
        assert "/min" in status and "ms/min" in status, status
    finally:
        await asyncio.to_thread(docker, "rm", "-f", cid, cli=engine_cli)
