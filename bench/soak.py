"""Soak: 1,000 containers streaming at 1 Hz and 5 creates/destroys per second.

Method: the fake engine (own process) serves 1,000 containers plus the churn; the
daemon (own process) streams them all, syncs a fake SOAP manager (in this process)
and sends every event to a UDP syslog target received here. Every 30 s: the
daemon's RSS, asyncio task count and open descriptors (from its own status), and a
`hinedock cpu -c ID` call's wall time. Event-to-syslog latency from the churn
events' `sent_ns` label. Growth is measured from the end of the warm-up.

    .venv/bin/python bench/soak.py [--minutes 10] [--containers 1000] [--churn 5]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import api, free_port, table
from hinedockd.testing.hinemos import FakeSoapManager

SENT = re.compile(rb"sent_ns=(\d+)")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--containers", type=int, default=1000)
    ap.add_argument("--churn", type=float, default=5)
    args = ap.parse_args()
    port = free_port()
    fake = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hinedockd.testing", "fake-engine", "--port", str(port),
        "--containers", str(args.containers), "--churn-per-second", str(args.churn),
        stdout=asyncio.subprocess.PIPE)
    assert fake.stdout is not None
    await fake.stdout.readline()
    manager = FakeSoapManager()
    await manager.start()
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    tmp = Path(tempfile.mkdtemp(prefix="hinedockd-soak-"))
    (tmp / "password").write_text("hinemos\n")
    sock = str(tmp / "h.sock")
    (tmp / "config.toml").write_text(f"""
[daemon]
socket = "{sock}"
state_dir = "{tmp}/state"
stats_silence_seconds = 10
[[hosts]]
facility_id = "soak"
url = "tcp://127.0.0.1:{port}"
address = "127.0.0.1"
stats = "stream"  # the figures this bench compares were made streamed
[hinemos]
api = "soap"
url = "http://127.0.0.1:{manager.port}/HinemosWS"
password_file = "{tmp}/password"
[[syslog]]
target = "udp://127.0.0.1:{receiver.getsockname()[1]}"
""")
    daemon = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hinedockd.app", "--config", str(tmp / "config.toml"),
        stdout=asyncio.subprocess.DEVNULL)
    latencies: list[float] = []
    loop = asyncio.get_running_loop()

    def on_datagram() -> None:
        while True:
            try:
                data = receiver.recv(65536)
            except BlockingIOError:
                return
            m = SENT.search(data)
            if m and b" create " in data:
                latencies.append((time.time_ns() - int(m.group(1))) / 1e6)

    loop.add_reader(receiver.fileno(), on_datagram)
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    hinedock = str(Path(sys.executable).parent / "hinedock")
    try:
        while time.monotonic() - started < args.warmup + args.minutes * 60:
            await asyncio.sleep(30)
            status = await asyncio.to_thread(api, sock, "/v1/status")
            one = status["hosts"][0]
            t0 = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                hinedock, "cpu", "-n", "bench_1", env={"HINEDOCK_SOCKET": sock},
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            await proc.wait()
            samples.append({"t": round(time.monotonic() - started),
                            "rss_mb": round(status["process"]["rss_bytes"] / 2**20, 1),
                            "tasks": status["process"]["tasks"],
                            "fds": status["process"]["open_fds"],
                            "containers": one["containers"], "streams": one["streams_open"],
                            "client_ms": round((time.perf_counter() - t0) * 1000, 1)})
            print(samples[-1], flush=True)
    finally:
        daemon.terminate()
        await daemon.wait()
        fake.terminate()
        await fake.wait()
        await manager.stop()
    after_warmup = [s for s in samples if s["t"] >= args.warmup] or samples
    first, last = after_warmup[0], after_warmup[-1]
    latencies.sort()
    print(table([{
        "minutes": args.minutes, "containers": args.containers, "churn/s": args.churn,
        "rss MB start→end": f"{first['rss_mb']}→{last['rss_mb']}",
        "rss growth %": round(100 * (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"], 1),
        # a leak grows in every quarter; allocator arenas grow early and then stay flat
        "rss MB at each quarter": "/".join(
            str(after_warmup[min(len(after_warmup) - 1, len(after_warmup) * q // 4)]["rss_mb"])
            for q in range(1, 5)),
        "tasks start→end (max)": f"{first['tasks']}→{last['tasks']} "
                                 f"({max(s['tasks'] for s in after_warmup)})",
        "fds start→end (max)": f"{first['fds']}→{last['fds']} "
                               f"({max(s['fds'] for s in after_warmup)})",
        "create→syslog median/p99 ms": f"{statistics.median(latencies):.1f}/"
                                       f"{latencies[int(len(latencies) * 0.99) - 1]:.1f}"
        if latencies else "-",
        "client median ms": statistics.median(s["client_ms"] for s in after_warmup),
        "manager nodes": len(manager.repo.nodes())}]))


if __name__ == "__main__":
    asyncio.run(main())
