"""Hinemos repository sync: event-to-node latency, calls per lifecycle event, and the
initial sync of 500 containers, against the fake SOAP manager adding 20 ms per call.

Method:
1. Real engine, the daemon in its own process. For each of N containers, one after
   another: `docker run -d`, then poll the fake manager's repository every 5 ms until
   the node exists; latency = node seen - just before `docker run` started.
2. Real engine: the manager's calls, by operation, for one container's create+start,
   stop, and removal (each let settle 2 s).
3. The fake engine with 500 running containers (its own process), the daemon in its
   own process: time from the daemon's start to all 500 nodes existing in both scopes.

    .venv/bin/python bench/hinemos_sync.py [--containers 50] [--initial 500] [--delay 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import free_port, table
from hinedockd.testing.hinemos import FakeSoapManager
from tests.realparts import IMAGE, ensure_image


async def run(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{argv}: {err.decode()}")
    return out.decode().strip()


async def start_daemon(tmp: Path, url: str, manager: FakeSoapManager) -> asyncio.subprocess.Process:
    (tmp / "password").write_text("hinemos\n")
    (tmp / "config.toml").write_text(f"""
[daemon]
socket = "{tmp}/h.sock"
state_dir = "{tmp}/state"
[[hosts]]
facility_id = "docker_host1"
url = "{url}"
address = "127.0.0.1"
stats = "stream"  # the figures this bench compares were made streamed
[hinemos]
api = "soap"
url = "http://127.0.0.1:{manager.port}/HinemosWS"
password_file = "{tmp}/password"
""")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hinedockd.app", "--config", str(tmp / "config.toml"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def until(check: object, within: float = 120.0) -> float:
    t0 = time.perf_counter()
    while not check():  # type: ignore[operator]
        if time.perf_counter() - t0 > within:
            raise SystemExit("timed out")
        await asyncio.sleep(0.005)
    return time.perf_counter()


async def latency_and_calls(n: int, delay: float) -> tuple[dict[str, Any], dict[str, Any]]:
    ensure_image()
    manager = FakeSoapManager()
    await manager.start()
    manager.delay = delay
    daemon = await start_daemon(Path(tempfile.mkdtemp(prefix="hinedockd-bench-")),
                                "unix:///var/run/docker.sock", manager)
    repo = manager.repo
    names = [f"bench_sync_{i}" for i in range(n)]
    try:
        await until(lambda: "docker_host1" in repo.facilities, 60)
        await asyncio.sleep(2)
        latencies = []
        for name in names:
            t0 = time.perf_counter()
            await run("docker", "run", "-d", "--name", name, IMAGE, "sleep", "3600")
            seen = await until(lambda name=name: f"docker_host1-{name}" in repo.facilities)
            latencies.append((seen - t0) * 1000)
        await asyncio.sleep(2)
        calls: dict[str, Counter[str]] = {}
        for label, argv in [("create+start", ("run", "-d", "--name", "bench_sync_calls", IMAGE,
                                              "sleep", "3600")),
                            ("stop", ("stop", "-t", "1", "bench_sync_calls")),
                            ("rm", ("rm", "bench_sync_calls"))]:
            before = len(manager.calls)
            await run("docker", *argv)
            await asyncio.sleep(2)
            calls[label] = Counter(manager.calls[before:])
    finally:
        await run("docker", "rm", "-f", *names)
        daemon.terminate()
        await daemon.wait()
        await manager.stop()
    latencies.sort()
    lat = {"containers": n, "delay per call ms": delay * 1000,
           "median ms": round(statistics.median(latencies), 1),
           "p99 ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 1),
           "max ms": round(latencies[-1], 1)}
    writes = {"addNode", "modifyNode", "setValid", "deleteNode", "assignNodeScope", "addScope"}
    per_event = {label: ", ".join(f"{op} {k}" for op, k in sorted(c.items())) +
                 f" (writes: {sum(k for op, k in c.items() if op in writes)})"
                 for label, c in calls.items()}
    return lat, per_event


async def initial_sync(n: int, delay: float) -> dict[str, object]:
    port = free_port()
    fake_engine = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hinedockd.testing", "fake-engine", "--port", str(port),
        "--containers", str(n), stdout=asyncio.subprocess.PIPE)
    assert fake_engine.stdout is not None
    await fake_engine.stdout.readline()
    manager = FakeSoapManager()
    await manager.start()
    manager.delay = delay
    t0 = time.perf_counter()
    daemon = await start_daemon(Path(tempfile.mkdtemp(prefix="hinedockd-bench-")),
                                f"tcp://127.0.0.1:{port}", manager)
    try:
        scope = manager.repo.facilities
        done = await until(lambda: "docker_host1_scope" in scope and len(
            scope["docker_host1_scope"]["members"]) == n and len(
            scope["docker_container"]["members"]) == n, 600)
    finally:
        daemon.terminate()
        await daemon.wait()
        fake_engine.terminate()
        await fake_engine.wait()
        await manager.stop()
    return {"containers": n, "delay per call ms": delay * 1000,
            "daemon start to all nodes in their scopes, s": round(done - t0, 2),
            "manager calls": len(manager.calls)}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--initial", type=int, default=500)
    ap.add_argument("--delay", type=float, default=0.02)
    args = ap.parse_args()
    lat, per_event = await latency_and_calls(args.containers, args.delay)
    print("docker run -> node exists\n" + table([lat]) + "\n")
    print("manager calls per lifecycle event\n" + table(
        [{"event": k, "calls": v} for k, v in per_event.items()]) + "\n")
    print("initial sync\n" + table([await initial_sync(args.initial, args.delay)]))


if __name__ == "__main__":
    asyncio.run(main())
