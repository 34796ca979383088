"""Daemon cost at 100/500/1000 synthetic containers streaming at 1 Hz, and client cost.

Method: the fake engine (hinedockd.testing, samples shaped like the recorded
engine 20.10 sample) runs in its own process; the daemon runs in its own process
against it. After a warm-up, the daemon's CPU time (utime+stime from /proc) is
read over a measuring period and divided by the samples it took in over the same
period (its own counter, from the local API). RSS is read from /proc at the end:
the series rings are allocated whole on a container's first sample, so this is
the RSS with full retention. Then `hinedock` is run repeatedly as a subprocess:
wall time per call and the child's CPU time (getrusage) per call, medians.

    .venv/bin/python bench/daemon_load.py [--sizes 100,500,1000] [--measure 30]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def api(sock: str, path: str) -> Any:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data.partition(b"\r\n\r\n")[2])


def client_calls(sock: str, args: list[str], n: int) -> tuple[float, float]:
    """Median wall ms and median CPU ms (user+sys of the child) per call."""
    walls, cpus = [], []
    env = {**os.environ, "HINEDOCK_SOCKET": sock}
    exe = str(Path(sys.executable).parent / "hinedock")
    for _ in range(n):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run([exe, *args], env=env, capture_output=True)
        walls.append((time.perf_counter() - t0) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
        if r.returncode != 0:
            raise SystemExit(f"hinedock {args} failed: {r.stderr.decode()}")
    return statistics.median(walls), statistics.median(cpus)


def run_size(n: int, warmup: float, measure: float, calls: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="hinedockd-bench-"))
    port = free_port()
    sock = str(tmp / "h.sock")
    (tmp / "config.toml").write_text(f"""
[daemon]
socket = "{sock}"
state_dir = "{tmp}/state"
retention_seconds = 900
stats_silence_seconds = 10
[[hosts]]
facility_id = "bench"
url = "tcp://127.0.0.1:{port}"
address = "127.0.0.1"
""")
    fake = subprocess.Popen([sys.executable, "-m", "hinedockd.testing", "fake-engine",
                             "--port", str(port), "--containers", str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert fake.stdout is not None
    fake.stdout.readline()  # "fake engine at ..."
    daemon = subprocess.Popen([sys.executable, "-m", "hinedockd.app", "--config",
                               str(tmp / "config.toml")], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                st = api(sock, "/v1/status")["hosts"][0]
                if st["streams_open"] >= n:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"daemon did not open {n} streams")
            time.sleep(0.5)
        time.sleep(warmup)
        s0, c0 = api(sock, "/v1/status")["hosts"][0]["samples"], cpu_seconds(daemon.pid)
        time.sleep(measure)
        s1, c1 = api(sock, "/v1/status")["hosts"][0]["samples"], cpu_seconds(daemon.pid)
        one = api(sock, "/v1/hosts/bench/containers")["containers"][0]["id"][:12]
        wall_one, cpu_one = client_calls(sock, ["cpu", "-c", one], calls)
        wall_all, cpu_all = client_calls(sock, ["cpu"], max(5, calls // 5))
        return {
            "containers": n,
            "samples_per_s": round((s1 - s0) / measure, 1),
            "daemon_cpu_pct": round(100 * (c1 - c0) / measure, 1),
            "us_per_sample": round(1e6 * (c1 - c0) / max(1, s1 - s0), 1),
            "daemon_rss_mb": round(rss_mb(daemon.pid), 1),
            "client_one_wall_ms": round(wall_one, 1),
            "client_one_cpu_ms": round(cpu_one, 1),
            "client_all_wall_ms": round(wall_all, 1),
            "client_all_cpu_ms": round(cpu_all, 1),
        }
    finally:
        for p in (daemon, fake):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,500,1000")
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--measure", type=float, default=30)
    ap.add_argument("--calls", type=int, default=50)
    args = ap.parse_args()
    rows = [run_size(int(n), args.warmup, args.measure, args.calls)
            for n in args.sizes.split(",")]
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
