"""Daemon cost at 100/500/1000 synthetic containers streaming at 1 Hz, and client cost.

Method: the fake engine (hinedockd.testing, samples shaped like the recorded
engine 20.10 sample) runs in its own process; the daemon runs in its own process
against it. After a warm-up, the daemon's CPU time (utime+stime from /proc) is
read over a measuring period and divided by the samples it took in over the same
period (its own counter, from the local API). RSS is read from /proc at the end:
the series rings are allocated whole on a container's first sample, so this is
the RSS with full retention. Then `hinedock` (installed from the wheel in a
throwaway venv, as in production) is run repeatedly: wall time and the child's
CPU time (getrusage) per call, medians.

    .venv/bin/python bench/daemon_load.py [--sizes 100,500,1000] [--measure 30]

Side by side with another revision (the daemon only; the fake engine and the client
are this checkout's): `git worktree add ../base REV`, then
`--compare ../base --rounds 3 --calls 0`: each tree is installed from its wheel,
with its dependencies, into a venv of its own; for each size the two daemons run
in turn, round after round, and the table has one row per run plus the medians.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    api,
    client_calls,
    cpu_seconds,
    free_port,
    rss_mb,
    start_daemon,
    table,
    wait_streams,
    wheel_venv,
)


def run_size(n: int, warmup: float, measure: float, calls: int, bindir: Path,
             code: tuple[str, Path] | None = None) -> dict[str, Any]:
    """`code`: (name, bin directory of a venv) whose daemon runs; default this one."""
    port = free_port()
    fake = subprocess.Popen([sys.executable, "-m", "hinedockd.testing", "fake-engine",
                             "--port", str(port), "--containers", str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert fake.stdout is not None
    fake.stdout.readline()  # "fake engine at ..."
    daemon, sock = start_daemon(f"""retention_seconds = 900
stats_silence_seconds = 10
[[hosts]]
facility_id = "bench"
url = "tcp://127.0.0.1:{port}"
address = "127.0.0.1"
stats = "stream"  # the figures this bench compares were made streamed
""", str(code[1] / "python") if code else sys.executable)
    try:
        wait_streams(sock, n)
        time.sleep(warmup)
        s0, c0 = api(sock, "/v1/status")["hosts"][0]["samples"], cpu_seconds(daemon.pid)
        time.sleep(measure)
        s1, c1 = api(sock, "/v1/status")["hosts"][0]["samples"], cpu_seconds(daemon.pid)
        row: dict[str, Any] = {
            "code": code[0] if code else "this checkout",
            "containers": n,
            "samples_per_s": round((s1 - s0) / measure, 1),
            "daemon_cpu_pct": round(100 * (c1 - c0) / measure, 1),
            "us_per_sample": round(1e6 * (c1 - c0) / max(1, s1 - s0), 1),
            "daemon_rss_mb": round(rss_mb(daemon.pid), 1),
        }
        if calls > 0:
            one = api(sock, "/v1/hosts/bench/containers")["containers"][0]["id"][:12]
            hinedock = str(bindir / "hinedock")
            wall_one, cpu_one = client_calls(sock, [hinedock, "cpu", "-c", one], calls)
            wall_all, cpu_all = client_calls(sock, [hinedock, "cpu"], max(5, calls // 5))
            row.update(client_one_wall_ms=round(wall_one, 1),
                       client_one_cpu_ms=round(cpu_one, 1),
                       client_all_wall_ms=round(wall_all, 1),
                       client_all_cpu_ms=round(cpu_all, 1))
        return row
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
    ap.add_argument("--calls", type=int, default=50, help="client calls (0: none)")
    ap.add_argument("--compare", type=Path, help="another checkout's tree, run in turn")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    bindir = wheel_venv()
    codes: list[tuple[str, Path] | None] = [None]
    if args.compare:
        codes = [("this checkout", wheel_venv(deps=True)),
                 (str(args.compare), wheel_venv(args.compare, deps=True))]
    rows = []
    for n in args.sizes.split(","):
        runs = [run_size(int(n), args.warmup, args.measure, args.calls, bindir, code)
                for _ in range(args.rounds) for code in codes]
        rows += runs
        if args.rounds > 1:
            for code in codes:
                mine = [r for r in runs if r["code"] == (code[0] if code else
                                                         "this checkout")]
                rows.append({**mine[0], "code": f"median: {mine[0]['code']}",
                             **{k: statistics.median(r[k] for r in mine)
                                for k in ("samples_per_s", "daemon_cpu_pct", "us_per_sample",
                                          "daemon_rss_mb")}})
    print(table(rows))


if __name__ == "__main__":
    main()
