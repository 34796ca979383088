"""Event-to-syslog latency at a steady event rate.

Method: the fake engine emits container events (`exec_create`, no state change) at a
steady rate, each carrying the wall time it was written (`sent_ns`); the daemon, in
its own process, sends each to a UDP syslog target; this process receives them and
takes `received - sent_ns` (same machine, same clock). The daemon also streams stats
for the fake engine's containers meanwhile, as in production. Medians and p99 over
the measuring period, after a warm-up.

    .venv/bin/python bench/event_latency.py [--rate 100] [--seconds 60] [--containers 50]
"""

from __future__ import annotations

import argparse
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import free_port, start_daemon, table

SENT = re.compile(rb"sent_ns=(\d+)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--containers", type=int, default=50)
    args = ap.parse_args()
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    receiver.bind(("127.0.0.1", 0))
    rport = receiver.getsockname()[1]
    port = free_port()
    fake = subprocess.Popen([sys.executable, "-m", "hinedockd.testing", "fake-engine",
                             "--port", str(port), "--containers", str(args.containers),
                             "--events-per-second", str(args.rate)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert fake.stdout is not None
    fake.stdout.readline()
    daemon, _ = start_daemon(f"""log_format = "json"
[[hosts]]
facility_id = "bench"
url = "tcp://127.0.0.1:{port}"
address = "127.0.0.1"
stats = "stream"  # the figures this bench compares were made streamed
[[syslog]]
target = "udp://127.0.0.1:{rport}"
""")
    latencies: list[float] = []
    try:
        receiver.settimeout(1.0)
        started = time.monotonic()
        while time.monotonic() - started < args.warmup + args.seconds:
            try:
                data = receiver.recv(65536)
            except TimeoutError:
                continue
            now = time.time_ns()
            m = SENT.search(data)
            if m and time.monotonic() - started > args.warmup:
                latencies.append((now - int(m.group(1))) / 1e6)
    finally:
        for p in (daemon, fake):
            p.send_signal(signal.SIGTERM)
            p.wait(10)
    if not latencies:
        raise SystemExit("no event reached the receiver")
    latencies.sort()
    print(table([{
        "events/s": args.rate, "events measured": len(latencies),
        "expected": int(args.rate * args.seconds),
        "median ms": round(statistics.median(latencies), 2),
        "p99 ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "max ms": round(latencies[-1], 2)}]))


if __name__ == "__main__":
    main()
