"""Push (custom trap) against pull (a client process per node and interval), side by
side in one run, at N containers on the fake engine.

Push: two daemons on the same fake engine, one with `[hinemos.customtrap]` (every
`--interval` seconds, every container's figures to a fake receiver in a process of its
own), one without; the difference of their CPU over the same rounds is what pushing
costs. The receiver tells how long a round took to arrive (first to last body of one
DATE) and how many items came.

Pull: what Hinemos would run instead, a client process per container node and
monitor (`hinedock cpu -c ID`), timed `--calls` times; its CPU per call times N
nodes times `--monitors` is the pull's cost per interval.

    .venv/bin/python bench/customtrap_push.py --containers 1000 --rounds 4
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    api,
    client_calls,
    cpu_seconds,
    free_port,
    start_daemon,
    table,
    wait_streams,
    wheel_venv,
)


def serve(what: str, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hinedockd.testing", what, "--port",
                             str(port), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    proc.stdout.readline()  # "... at URL"
    return proc, port


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def host_table(port: int) -> str:
    return f"""retention_seconds = 900
stats_silence_seconds = 10
[[hosts]]
facility_id = "bench"
url = "tcp://127.0.0.1:{port}"
address = "127.0.0.1"
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--monitors", type=int, default=4)
    args = ap.parse_args()
    n, every = args.containers, args.interval
    engine, engine_port = serve("fake-engine", "--containers", str(n))
    receiver, receiver_port = serve("fake-customtrap")
    url = f"http://127.0.0.1:{receiver_port}/"
    pushing, sock = start_daemon(host_table(engine_port) + f"""
[hinemos.customtrap]
url = "{url}"
interval_seconds = {every}
""")
    plain, plain_sock = start_daemon(host_table(engine_port))
    try:
        wait_streams(sock, n, within=120)
        wait_streams(plain_sock, n, within=120)
        # Measure whole rounds: from just after one round's moment to just after another.
        time.sleep(every - time.time() % every + every + 1)
        c0 = cpu_seconds(pushing.pid), cpu_seconds(plain.pid)
        time.sleep(args.rounds * every)
        c1 = cpu_seconds(pushing.pid), cpu_seconds(plain.pid)
        stats: dict[str, Any] = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{receiver_port}/_stats", timeout=10).read())
        rounds = [r for r in stats["rounds"].values() if r[2] >= n * 0.99]
        arrive = [r[1] - r[0] for r in rounds]
        push_cpu = ((c1[0] - c0[0]) - (c1[1] - c0[1])) / args.rounds
        one = api(sock, "/v1/hosts/bench/containers")["containers"][0]["id"][:12]
        hinedock = str(wheel_venv() / "hinedock")
        _wall, cpu_ms = client_calls(sock, [hinedock, "cpu", "-c", one], args.calls)
        pull_cpu = cpu_ms / 1000 * n * args.monitors
        print(table([{
            "containers": n, "interval_s": every, "rounds": len(rounds),
            "bodies_per_round": statistics.median(r[2] for r in rounds) if rounds else 0,
            "items_total": stats["items"], "refused": stats["bad_requests"] + stats["closed"],
            "round_arrives_in_s": round(statistics.median(arrive), 2) if arrive else "-",
            "push_cpu_s_per_round": round(push_cpu, 3),
            "pull_client_cpu_ms_per_call": round(cpu_ms, 1),
            f"pull_cpu_s_per_interval_{args.monitors}_monitors": round(pull_cpu, 1),
            "ratio_pull_to_push": round(pull_cpu / push_cpu, 1) if push_cpu > 0 else "-",
        }]))
    finally:
        stop(pushing, plain, receiver, engine)


if __name__ == "__main__":
    main()
