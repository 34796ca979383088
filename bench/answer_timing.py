"""How long a Hinemos custom monitor waits for `hinedock cpu`, by second of the minute,
on the shipped defaults (poll once a minute, each round ending a second before the
minute): the daemon's own answer (one HTTP request from this process) and the wall time
of the client as the package installs it (a wheel in a venv of its own: an editable
install adds ~15 ms of import hooks to each start), one after the other at each chosen
second, over `--reps` minutes. It separates what the daemon takes from what a process
start takes, inside and outside the second or two in which the engine answers a round.

    .venv/bin/python bench/answer_timing.py --containers 100 --reps 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import table, wheel_venv
from bench.engine_cost import DEFAULT_POLL, Hinedockd, ask_cpu, containers, remove_containers

SECONDS = "0,15,30,45,57,57.5,58,58.5,59,59.5"


def at_second(second: float) -> None:
    """Sleep until `second` of a minute, the next such moment at least 0.3 s away."""
    now = time.time()
    target = (now // 60) * 60 + second
    while target <= now + 0.3:
        target += 60
    time.sleep(target - time.time())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", default=SECONDS, help="seconds of the minute, ascending")
    ap.add_argument("--keep", action="store_true", help="use the ec_* containers there are")
    args = ap.parse_args()
    seconds = [float(s) for s in args.seconds.split(",")]
    client = wheel_venv()
    if not args.keep:
        containers(args.containers)
    daemon = Hinedockd("poll", DEFAULT_POLL, client, 60)
    daemon.start()
    got: dict[float, list[tuple[float, float]]] = {s: [] for s in seconds}
    try:
        for _ in range(args.reps):
            for s in seconds:
                at_second(s)
                daemon_ms, wall_ms, r = ask_cpu(daemon.sock, client)
                if r.returncode != 0:
                    raise SystemExit(f"hinedock cpu failed: {r.stderr}")
                got[s].append((daemon_ms, wall_ms))
    finally:
        daemon.stop()
        if not args.keep:
            remove_containers()
    rows = [{"second": s,
             "daemon_ms_median": round(statistics.median(d for d, _ in got[s]), 1),
             "daemon_ms_max": round(max(d for d, _ in got[s]), 1),
             "client_ms_median": round(statistics.median(c for _, c in got[s]), 1),
             "client_ms_max": round(max(c for _, c in got[s]), 1)} for s in seconds]
    every = [c for s in seconds for _, c in got[s]]
    print(table(rows))
    print(f"\nall {len(every)} client calls: median {statistics.median(every):.1f} ms, "
          f"max {max(every):.1f} ms; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
