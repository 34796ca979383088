"""The engine's CPU per stats sample, for each way of asking for one: the unit the
sampling policy is chosen by (bench/README.md §8).

engine_cost.py measures whole approaches a minute at a time, where the idle engine's
own ~2.3 s a minute at 100 containers (and its swings of ±0.3 s) drowns the signal.
Here every live container is asked for many samples back to back, so the engine's CPU
(dockerd + containerd + every containerd-shim, /proc/PID/stat) is seconds, well above
the idle rate measured just before and subtracted. Ways:

- `one-shot`: `stream=false&one-shot=true` (hinedockd's poll), every container at once
  (or `--concurrency` at once; each answer waits for the engine's next collector tick,
  about 1 s, so 8 at once stretches a measurement to a minute, where the idle
  engine's drift counts more; the CPU per sample is the same within that noise);
- `no-stream`: `stream=false` (Zabbix agent 2's and check_docker's request: the engine
  waits for a second sample to fill precpu_stats), every container at once;
- `stream`: one `stream=true` stream per container, held `--seconds` (hinedockd's
  stream mode: a sample a second each).

    .venv/bin/python bench/sample_cost.py --containers 100
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import http_get, table
from bench.engine_cost import (
    DOCKER_SOCK,
    containers,
    cpu_of,
    engine_pids,
    idle,
    remove_containers,
)


class _Unix(http.client.HTTPConnection):
    """For the streams, read a line at a time (one-off answers use common.http_get)."""

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(DOCKER_SOCK)


def _stream(path: str, seconds: float) -> int:
    """Lines (samples) read from one stream in `seconds`."""
    c = _Unix("localhost", timeout=60)
    try:
        c.request("GET", path)
        r = c.getresponse()
        deadline, lines = time.monotonic() + seconds, 0
        while time.monotonic() < deadline and r.readline():  # one JSON line a sample
            lines += 1
        return lines
    finally:
        c.close()


def asked(ids: list[str], query: str, rounds: int, concurrency: int) -> Callable[[], int]:
    paths = [f"/v1.41/containers/{i}/stats?{query}" for i in ids]

    def run() -> int:
        for _ in range(rounds):
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(lambda p: http_get(DOCKER_SOCK, p), paths))
        return rounds * len(ids)
    return run


def streamed(ids: list[str], seconds: float) -> Callable[[], int]:
    def run() -> int:
        with ThreadPoolExecutor(len(ids)) as pool:
            return sum(pool.map(
                lambda i: _stream(f"/v1.41/containers/{i}/stats?stream=true", seconds), ids))
    return run


def measure(name: str, run: Callable[[], int], idle_seconds: float,
            per_request: int = 1) -> dict[str, object]:
    rate = idle(idle_seconds)
    pids = engine_pids()
    e0, t0 = cpu_of(pids), time.monotonic()
    requests = run()
    took = time.monotonic() - t0
    engine = cpu_of(pids) - e0 - rate * took
    return {"way": name, "requests": requests, "took_s": round(took, 1),
            "engine_cpu_s": round(engine, 2),
            "ms_per_request": round(engine * 1000 / requests, 2),
            "ms_per_sample": round(engine * 1000 / (requests * per_request), 2),
            "idle_engine_cpu_s_per_min": round(rate * 60, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=10, help="samples of each container per way")
    ap.add_argument("--concurrency", type=int, default=0,
                    help="one-shot requests at once (0: every container)")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long the streams run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    args = ap.parse_args()
    names = containers(args.containers)
    rows: list[dict[str, object]] = []
    try:
        time.sleep(10)
        ids = [json.loads(http_get(DOCKER_SOCK, f"/v1.41/containers/{n}/json"))["Id"]
               for n in names]
        at_once = args.concurrency or len(ids)
        for _ in range(args.repeat):
            rows.append(measure(f"one-shot, {at_once} at once",
                                asked(ids, "stream=false&one-shot=true", args.rounds, at_once),
                                args.idle_seconds))
            # The engine takes two samples for each answer (the first only fills precpu).
            rows.append(measure("no-stream (Zabbix agent 2, check_docker), all at once",
                                asked(ids, "stream=false", args.rounds, len(ids)),
                                args.idle_seconds, per_request=2))
            rows.append(measure(f"stream, {args.seconds:g} s", streamed(ids, args.seconds),
                                args.idle_seconds))
            for row in rows[-3:]:
                print(json.dumps(row), flush=True)
    finally:
        remove_containers()
    print(table(rows))
    for way in dict.fromkeys(str(r["way"]) for r in rows):
        ms = statistics.median(float(str(r["ms_per_sample"])) for r in rows if r["way"] == way)
        print(f"median ms per sample, {way}: {ms}")


if __name__ == "__main__":
    main()
