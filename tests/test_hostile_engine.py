"""A hostile or broken engine (issue 29): answers far larger than any host's, a 4 GB
exec frame, an exit code that is not a number. The fake engine plays it (a real one
will not on demand), in this process; the daemon runs as its own process so that its
peak memory (VmHWM) is its own. Before, a 1 GB container list took 2.16 GB."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from hinedockd.config import HostConfig
from hinedockd.docker.engine import Engine, EngineError
from hinedockd.testing.engine import FakeEngine
from hinedockd.testing.hostile import ErrorAnswer
from tests.realparts import StatusWatch, daemon_in, wait_for

GB = 1 << 30
PEAK_MB = 400  # the daemon at rest is about 70 MB; the largest answer it reads is 64 MiB


async def test_oversize_answers_are_skipped_and_the_host_goes_on(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.add("big")
    engine.answers.oversize = {"list": GB}
    await engine.start()
    dm = daemon_in(tmp_path, host_url=engine.url, stats="poll")
    try:
        await asyncio.to_thread(dm.start, False)
        with StatusWatch(dm.socket) as watch:
            await asyncio.to_thread(
                wait_for, lambda: "over the daemon's limit" in str(dm.status()["last_error"]),
                30, "the 1 GB list refused")
            assert dm.peak_rss_mb() < PEAK_MB, dm.peak_rss_mb()
            # The engine sends sane lists again, but inspect, top, df and exec stay huge.
            engine.answers.oversize = {"inspect": GB, "top": GB, "df": GB, "exec": 300 << 20}
            await asyncio.to_thread(wait_for, lambda: bool(dm.status()["connected"]), 60,
                                    "connected once the list is sane")
            states = await asyncio.to_thread(dm.run, "hinedock", "states", "-n", "big")
            assert states.stdout.startswith("state:"), states
            proc = await asyncio.to_thread(dm.run, "hinedock", "proc", "-n", "big")
            assert proc.returncode == 1 and "over the daemon's limit" in proc.stderr, proc
            size = await asyncio.to_thread(dm.run, "hinedock", "host", "size")
            assert size.returncode == 1 and "over the daemon's limit" in size.stderr, size
            ran = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "hinedockd.client.cli", "job", "exec",
                                 "-n", "big", "--", "x"], stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=dm.env(), timeout=120)
            # 300 MB of the announced 4 GB came and went through; the frame was cut short
            assert len(ran.stdout) == 4 + (300 << 20) and ran.stdout.startswith(b"ran\n")
            assert ran.returncode == 9 and b"bytes short of its frame" in ran.stderr, ran.stderr
            engine.answers.oversize = {}
            engine.execs.exit_code = "0\nX 5"
            forged = await asyncio.to_thread(dm.run, "hinedock", "job", "exec", "-n", "big",
                                             "--", "x")
            # -1 (255): the engine gave no integer; no forged frame reached the client
            assert (forged.returncode, forged.stdout) == (255, "ran\n"), forged
            assert dm.peak_rss_mb() < PEAK_MB, dm.peak_rss_mb()
        watch.assert_prompt()
        assert "container inspect failed" in dm.log.read_text()
    finally:
        await asyncio.to_thread(dm.stop)
        await engine.stop()


async def test_hostile_names_forge_nothing(tmp_path: Path) -> None:
    """Names only a broken or hostile engine sends (Docker and Podman refuse them): a
    line break and a forged exec frame, a terminal escape, a comma. Job output, the exec
    stream and `top` print them escaped; the comma costs its own CPU line, not the
    host's monitor."""
    engine = FakeEngine()
    forged = engine.add("evil\nX 7\nS x")
    engine.add("esc\x1b[2J")
    engine.add("a,b")
    engine.add("plain")
    await engine.start()
    dm = daemon_in(tmp_path, host_url=engine.url, stats="poll")
    try:
        await asyncio.to_thread(dm.start)
        ran = await asyncio.to_thread(dm.run, "hinedock", "job", "exec", "-c", forged.id[:12],
                                      "--", "x")
        assert (ran.returncode, ran.stdout) == (0, "ran\n"), ran  # not the forged 7
        top = await asyncio.to_thread(dm.run, "hinedock", "top", "--once")
        assert top.returncode == 0 and "\x1b" not in top.stdout, top
        assert "esc?[2J" in top.stdout and "evil?X 7?S x" in top.stdout

        def cpu_lines() -> bool:
            r = dm.run("hinedock", "cpu")
            return r.returncode == 0 and "cpu_usage:plain," in r.stdout

        await asyncio.to_thread(wait_for, cpu_lines, 90, "the figures of the sane names")
        cpu = await asyncio.to_thread(dm.run, "hinedock", "cpu")
        assert "a,b" not in cpu.stdout and "skipped 'cpu_usage:a,b'" in cpu.stderr, cpu
        assert "cpu_usage:esc?[2J," in cpu.stdout
    finally:
        await asyncio.to_thread(dm.stop)
        await engine.stop()


ERROR_ANSWERS = {
    # Docker's own shape, for reference: read as the engine's message
    "docker's": ErrorAnswer(500, "application/json", b'{"message": "boom"}'),
    "json without a message": ErrorAnswer(500, "application/json", b"{}"),
    "json that is a list": ErrorAnswer(500, "application/json", b'["x"]'),
    "json cut short": ErrorAnswer(500, "application/json", b'{"message": "bo'),
    "not utf-8": ErrorAnswer(502, "text/plain", b"\xff\xfe bad gateway"),
    "a gigabyte": ErrorAnswer(500, "text/plain", b"no: ", pad=GB),
}


@pytest.mark.parametrize("kind", sorted(ERROR_ANSWERS))
async def test_an_error_answer_of_any_shape_is_an_engine_error(kind: str) -> None:
    """An engine's error answer is untrusted input like any other: whatever its body,
    the call fails with EngineError (the loops retry it) carrying the status and at most
    a bounded part of the body, which is never read whole. aiodocker read it whole and
    raised KeyError or UnicodeDecodeError on these bodies, which no loop expects (a
    bug reaches the supervisor and stops the daemon: issue 30's failure policy)."""
    engine = FakeEngine()
    await engine.start()
    real = Engine(HostConfig(facility_id="h1", url=engine.url, address="127.0.0.1"))
    try:
        await real.negotiate()
        engine.answers.failing = ERROR_ANSWERS[kind]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
        for call in (real.get_json("info"), real.negotiate(),
                     real.post_json("containers/x/exec", {"Cmd": ["true"]})):
            with pytest.raises(EngineError) as failed:
                await call
            assert failed.value.status == ERROR_ANSWERS[kind].status
            assert len(str(failed.value)) < 1200
        if kind == "docker's":
            assert "boom" in str(failed.value)
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
        assert grown_mb < 100, grown_mb  # the gigabyte was not read
    finally:
        await real.close()
        await engine.stop()
