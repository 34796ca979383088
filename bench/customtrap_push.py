"""Push (custom trap) against pull (a client process per node, key and interval), side
by side in one run, at N containers on the fake engine.

Push: two daemons on the same fake engine, one with `[hinemos.customtrap]` (every
`--interval` seconds, every container's `--keys` figures to a fake receiver in a
process of its own), one without; the difference of their CPU over the same whole
rounds is what pushing costs. The receiver tells how long a round took to arrive
(first to last body of one DATE) and how many items came.

Pull: what Hinemos would run instead in one interval, every one of the runs measured:
a client process per container node and key (`hinedock cpu -c ID`, `hinedock net --rx
--packets -c ID`…), `--jobs` at once; their CPU (user + sys of the children) plus what
the plain daemon spent answering them (its CPU during the runs less its idle rate).

    .venv/bin/python bench/customtrap_push.py --containers 1000 --interval 60 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    api,
    cpu_seconds,
    free_port,
    serve_fake,
    start_daemon,
    stop_all,
    table,
    wait_streams,
    wheel_venv,
)


def serve(what: str, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc, _ = serve_fake(what, "--port", str(port), *args)
    return proc, port


def stop(*procs: subprocess.Popen[bytes]) -> None:
    stop_all(*procs, within=15)


def host_table(port: int) -> str:
    return f"""retention_seconds = 900
stats_silence_seconds = 10
[[hosts]]
facility_id = "bench"
url = "tcp://127.0.0.1:{port}"
address = "127.0.0.1"
stats = "stream"  # the figures this bench compares were made streamed
"""


# The report's per-container keys, each with the client command that answers it.
PULL = {"cpu_usage": ["cpu"], "host_mem_usage": ["mem"], "disk_read": ["disk", "--read"],
        "disk_write": ["disk", "--write"], "nw_rxkb": ["net", "--rx"],
        "nw_txkb": ["net", "--tx"], "nw_rxpck": ["net", "--rx", "--packets"],
        "nw_txpck": ["net", "--tx", "--packets"]}


def pull(sock: str, ids: list[str], keys: list[str], runs: int, jobs: int,
         daemon_pid: int) -> dict[str, float]:
    """`runs` client runs, cycling over nodes and keys, `jobs` at once, each measured."""
    hinedock = str(wheel_venv() / "hinedock")
    argvs = [[hinedock, *PULL[keys[i % len(keys)]], "-c", ids[i // len(keys) % len(ids)]]
             for i in range(runs)]
    env = {**os.environ, "HINEDOCK_SOCKET": sock}
    walls: list[float] = []

    def one(argv: list[str]) -> None:
        t0 = time.perf_counter()
        r = subprocess.run(argv, env=env, capture_output=True)
        walls.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise SystemExit(f"{argv} failed: {r.stderr.decode()}")

    idle0 = cpu_seconds(daemon_pid)
    time.sleep(10)
    idle_rate = (cpu_seconds(daemon_pid) - idle0) / 10
    before, d0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_seconds(daemon_pid), \
        time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, argvs))
    after, d1, took = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_seconds(daemon_pid), \
        time.monotonic() - t0
    clients = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"runs": runs, "wall_s": took, "clients_cpu_s": clients,
            "daemon_cpu_s": max(0.0, (d1 - d0) - idle_rate * took),
            "median_run_ms": statistics.median(walls) * 1000}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", default=",".join(PULL),
                    help="comma-separated, of " + ", ".join(PULL))
    ap.add_argument("--pull-runs", type=int, default=0,
                    help="client runs measured (default: containers × keys, one interval's)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    n, every, keys = args.containers, args.interval, args.keys.split(",")
    runs = args.pull_runs or n * len(keys)
    engine, engine_port = serve("fake-engine", "--containers", str(n))
    receiver, receiver_port = serve("fake-customtrap")
    url = f"http://127.0.0.1:{receiver_port}/"
    pushing, sock = start_daemon(host_table(engine_port) + f"""
[hinemos.customtrap]
url = "{url}"
interval_seconds = {every}
keys = {json.dumps(keys)}
host_keys = []
""")
    plain, plain_sock = start_daemon(host_table(engine_port))
    try:
        wait_streams(sock, n, within=120)
        wait_streams(plain_sock, n, within=120)
        # Measure whole rounds: from just after one round's moment to just after another.
        time.sleep(every - time.time() % every + 1)
        c0 = cpu_seconds(pushing.pid), cpu_seconds(plain.pid)
        time.sleep(args.rounds * every)
        c1 = cpu_seconds(pushing.pid), cpu_seconds(plain.pid)
        stats: dict[str, Any] = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{receiver_port}/_stats", timeout=10).read())
        rounds = [r for r in stats["rounds"].values() if r[2] >= n * 0.99]
        arrive = [r[1] - r[0] for r in rounds]
        push_cpu = ((c1[0] - c0[0]) - (c1[1] - c0[1])) / args.rounds
        ids = [c["id"][:12] for c in api(plain_sock, "/v1/hosts/bench/containers")["containers"]]
        stop(pushing)  # the pull is measured with the push's daemon gone
        p = pull(plain_sock, ids, keys, runs, args.jobs, plain.pid)
        pull_cpu = (p["clients_cpu_s"] + p["daemon_cpu_s"]) * n * len(keys) / runs
        print(table([{
            "containers": n, "keys": len(keys), "interval_s": every, "rounds": len(rounds),
            "bodies_per_round": statistics.median(r[2] for r in rounds) if rounds else 0,
            "items_total": stats["items"], "refused": stats["bad_requests"] + stats["closed"],
            "round_arrives_in_s": round(statistics.median(arrive), 2) if arrive else "-",
            "push_cpu_s_per_round": round(push_cpu, 3),
            "pull_runs_measured": p["runs"], "pull_wall_s": round(p["wall_s"], 1),
            "pull_median_run_ms": round(p["median_run_ms"], 1),
            "pull_clients_cpu_s": round(p["clients_cpu_s"], 1),
            "pull_daemon_cpu_s": round(p["daemon_cpu_s"], 1),
            "pull_cpu_s_per_interval": round(pull_cpu, 1),
            "ratio_pull_to_push": round(pull_cpu / push_cpu, 1) if push_cpu > 0 else "-",
        }]))
    finally:
        stop(pushing, plain, receiver, engine)


if __name__ == "__main__":
    main()
