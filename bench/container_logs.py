"""What following containers' own logs costs, side by side with not following them:
N containers on the local Docker engine, each writing numbered lines at a quiet and at a
chatty rate, and the daemon run twice over the same containers, once with a `[logs]` rule
that selects them all and once with none. Per phase, over `--seconds`:

- the engine's CPU (dockerd + containerd + every containerd-shim, utime + stime from
  /proc/PID/stat) and the daemon's, in CPU seconds a minute: the engine writes every
  line to its json-file whether anyone follows or not, so the difference between the
  two phases is what following adds;
- lines a second that reached the syslog receiver (a TCP listener in this process,
  RFC 5424 with LF framing, so each message carries the line's engine timestamp to
  the microsecond) and their latency, engine timestamp to arrival: median, 99th
  percentile and worst; the lines come in bursts of one second's worth (one `sleep`
  a second keeps the containers' own CPU small), which is also what a chatty
  application does to the per-container rate limit, set here above the burst.

The phases alternate (off, on, on, off, ...) over `--rounds`, and a table of medians
follows. With `--against REV`, a third phase runs the daemon of commit REV (installed
from its wheel into a throwaway venv) with following on, beside this checkout's.

    .venv/bin/python bench/container_logs.py            # --containers 100 --rates 1,100
    .venv/bin/python bench/container_logs.py --against 5109618 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, api, cpu_seconds, start_daemon, table, wheel_venv
from bench.engine_cost import DOCKER_SOCK, IMAGE, cpu_of, engine_pids, remove_containers

PREFIX = "cl_"


class Receiver:
    """A syslog receiver on TCP (LF framing): each message's arrival time beside its
    bytes, parsed after the phase so that parsing costs the receiving thread nothing."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.got: list[tuple[float, bytes]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            conn, _ = self.server.accept()
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        buf = b""
        while chunk := conn.recv(1 << 20):
            now = time.time()
            buf += chunk
            *lines, buf = buf.split(b"\n")
            self.got.extend((now, line) for line in lines)

    def take(self) -> list[tuple[float, bytes]]:
        got, self.got = self.got, []
        return got


def latencies(got: list[tuple[float, bytes]]) -> list[float]:
    """Milliseconds from each container line's engine timestamp (the RFC 5424
    TIMESTAMP) to its arrival; the daemon's own messages are left out."""
    out = []
    for arrived, raw in got:
        parts = raw.split(b" ", 7)
        if len(parts) < 8 or not parts[3].startswith(b"hinedockd-std"):
            continue
        stamp = datetime.fromisoformat(parts[1].decode()).timestamp()
        out.append((arrived - stamp) * 1000)
    return out


def containers(n: int, rate: int) -> None:
    """`n` containers, each writing `rate` numbered lines at once every second."""
    remove_containers(PREFIX)
    script = (f"i=0; while true; do j=0; while [ $j -lt {rate} ]; do j=$((j+1)); "
              "i=$((i+1)); echo \"line $i of a container's own output\"; done; sleep 1; done")
    for k in range(n):
        subprocess.run(["docker", "run", "-d", "--name", f"{PREFIX}{k}", IMAGE, "sh", "-c",
                        script], check=True, capture_output=True)


def daemon_config(port: int, follow: bool, rate: int) -> str:
    rules = (f'[[logs.rules]]\nnames = ["{PREFIX}*"]\n' if follow else "")
    return f"""
[[hosts]]
facility_id = "local"
url = "unix://{DOCKER_SOCK}"
address = "127.0.0.1"
[[syslog]]
target = "tcp://127.0.0.1:{port}"
format = "rfc5424"
tcp_framing = "lf"
queue_size = 100000
[logs]
lines_per_second = {max(100, 2 * rate)}
burst = {max(1000, 4 * rate)}
{rules}"""


def followed(sock: str) -> int:
    try:
        return sum(1 for f in api(sock, "/v1/status")["logs"] if f["name"].startswith(PREFIX))
    except (OSError, ValueError, KeyError):
        return -1


def phase(receiver: Receiver, n: int, rate: int, follow: bool, seconds: float,
          warmup: float, python: str = sys.executable, tree: str = "") -> dict[str, object]:
    proc, sock = start_daemon(daemon_config(receiver.port, follow, rate), python)
    try:
        deadline = time.monotonic() + 120
        while followed(sock) < (n if follow else 0) and time.monotonic() < deadline:
            time.sleep(0.5)
        if follow and followed(sock) < n:
            raise SystemExit(f"the daemon followed {followed(sock)} of {n} containers")
        time.sleep(warmup)
        receiver.take()
        pids = engine_pids()
        e0, d0, t0 = cpu_of(pids), cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        e1, d1, took = cpu_of(pids), cpu_seconds(proc.pid), time.monotonic() - t0
        lat = latencies(receiver.take())
        dropped = sum(int(f["dropped"]) for f in api(sock, "/v1/status")["logs"])
    finally:
        proc.terminate()
        proc.wait(30)
    lat.sort()
    per_min = 60 / took
    return {"containers": n, "lines_per_s_each": rate,
            "following": ("on" if follow else "off") + (f" ({tree})" if tree else ""),
            "engine_cpu_s_per_min": round((e1 - e0) * per_min, 2),
            "daemon_cpu_s_per_min": round((d1 - d0) * per_min, 2),
            "lines_per_s_received": round(len(lat) / took, 1),
            "dropped": dropped,
            "latency_ms_median": round(statistics.median(lat), 1) if lat else "-",
            "latency_ms_p99": round(lat[int(0.99 * (len(lat) - 1))], 1) if lat else "-",
            "latency_ms_max": round(lat[-1], 1) if lat else "-"}


def medians(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    out = []
    for key in dict.fromkeys((r["lines_per_s_each"], r["following"]) for r in rows):
        mine = [r for r in rows if (r["lines_per_s_each"], r["following"]) == key]
        row: dict[str, object] = {"lines_per_s_each": key[0], "following": key[1],
                                  "rounds": len(mine)}
        for f in ("engine_cpu_s_per_min", "daemon_cpu_s_per_min", "lines_per_s_received",
                  "latency_ms_median", "latency_ms_p99", "latency_ms_max"):
            values = [float(str(r[f])) for r in mine if r[f] != "-"]
            row[f] = (round(statistics.median(values), 2) if values else "-")
        out.append(row)
    return out


def other_tree(rev: str) -> Path:
    """The python of a throwaway venv with commit `rev` installed (and its dependencies)."""
    tree = Path(tempfile.mkdtemp(prefix="hinedockd-bench-tree-"))
    subprocess.run(f"git -C {ROOT} archive {rev} | tar -x -C {tree}", shell=True, check=True)
    return wheel_venv(tree, deps=True) / "python"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--rates", default="1,100", help="lines a second of each container")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=15.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--against", default="", help="a commit whose daemon follows too")
    args = ap.parse_args()
    receiver = Receiver()
    phases: list[tuple[bool, str, str]] = [(False, sys.executable, ""),
                                           (True, sys.executable, "")]
    if args.against:
        phases.append((True, str(other_tree(args.against)), args.against))
    rows = []
    try:
        for rate in (int(r) for r in args.rates.split(",")):
            containers(args.containers, rate)
            for r in range(args.rounds):
                for follow, python, tree in phases if r % 2 == 0 else phases[::-1]:
                    rows.append(phase(receiver, args.containers, rate, follow,
                                      args.seconds, args.warmup, python, tree))
                    print(json.dumps(rows[-1]), flush=True)
    finally:
        remove_containers(PREFIX)
    print(table(rows))
    print(table(medians(rows)))


if __name__ == "__main__":
    main()
