"""A fleet on one daemon (issue 31): H Docker hosts of M containers each, with the
shipped defaults (stats polled once a minute per container, full Hinemos pass every
`full_sync_seconds`), the REST manager and custom trap at one minute.

Method: the fake engines (hinedockd.testing, one aiohttp server per host, samples shaped
as the recorded engine's) run together in one process; the fake REST manager and the
fake custom trap receiver each in a process of their own; the daemon in its own. From
the daemon's start: the time until the manager holds every node (host and container)
and the most manager calls in any one second. Then, 75 s later (a poll round and a
full pass since), over
`--measure` seconds: the daemon's CPU (utime+stime from /proc) as % of one core, its
RSS, open descriptors and tasks (its own `status`), the manager's calls, writes and
bytes (the full passes of that time: `--full-sync` shortens their period so that the
window holds them), the custom trap rounds (first to last body of one DATE, and the
bodies), and, one call a second from a thread all along, the answer time of a report
command over one host's M containers (`MonitorDockerContainerResourceCpu.py -i
HOST`, the installed script, wall time of the process): median and worst. Then a
storm: 2 in 5 of the engines restart at once (each container restarts, the engine
refuses connections for 3 s); the seconds until every host is connected again, the
report command's answers from the storm until 30 s after, and the manager's calls.

    .venv/bin/python bench/fleet.py [--sizes 10x100,50x200] [--measure 120]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench.common import (
    api,
    cpu_seconds,
    free_port,
    serve_fake,
    start_daemon,
    stop_all,
    table,
)

BIN = Path(sys.executable).parent


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return orjson.loads(r.read())


def config(urls: list[str], manager: str, trap: str, password: Path, full_sync: int) -> str:
    hosts = "".join(f"""
[[hosts]]
facility_id = "fleet{i}"
url = "{url}"
address = "10.{i // 250}.{i % 250}.1"
""" for i, url in enumerate(urls))
    return f"""[hinemos]
api = "rest"
full_sync_seconds = {full_sync}
url = "{manager}"
password_file = "{password}"
[hinemos.customtrap]
url = "{trap}"
interval_seconds = 60
{hosts}"""


class Prober(threading.Thread):
    """The report command for one host, once a second, timed (wall, ms)."""

    def __init__(self, sock: str, host: str, expect: int) -> None:
        super().__init__(daemon=True)
        self.argv = [str(BIN / "MonitorDockerContainerResourceCpu.py"), "-i", host]
        self.env = {**os.environ, "HINEDOCK_SOCKET": sock}
        self.expect, self.wrong = expect, 0
        self.times: list[tuple[float, float]] = []  # (monotonic at the start, ms)
        self.running = True

    def run(self) -> None:
        while self.running:
            t0 = time.perf_counter()
            at = time.monotonic()
            r = subprocess.run(self.argv, env=self.env, capture_output=True)
            self.times.append((at, (time.perf_counter() - t0) * 1000))
            if r.returncode != 0 or len(r.stdout.splitlines()) != self.expect:
                self.wrong += 1
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))


def run_size(hosts: int, containers: int, measure: float, full_sync: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="hinedockd-fleet-"))
    password = tmp / "password"
    password.write_text("hinemos\n")
    password.chmod(0o600)
    storm = hosts * 2 // 5  # 20 of 50
    engines, urls = serve_fake("fake-engine", "--port", "0", "--hosts", str(hosts),
                               "--containers", str(containers), "--storm", str(storm),
                               lines=hosts)
    manager, (manager_url,) = serve_fake("fake-rest-manager", "--port", str(free_port()))
    trap, (trap_url,) = serve_fake("fake-customtrap", "--port", str(free_port()))
    stats_url = manager_url.split("/HinemosWeb")[0] + "/_fake/stats"
    daemon, sock = start_daemon(config(urls, manager_url, trap_url, password, full_sync))
    started = time.monotonic()
    want = hosts * containers + hosts
    try:
        while (m := get_json(stats_url))["nodes"] < want:
            if daemon.poll() is not None:
                raise SystemExit("the daemon stopped")
            if time.monotonic() - started > 1800:
                raise SystemExit(f"{m['nodes']} of {want} nodes after 30 min")
            time.sleep(1)
        # In sync: every node there and no write for 5 s (the assignments follow the
        # adds); the time is that of the last write.
        while True:
            before = get_json(stats_url)
            time.sleep(5)
            startup = get_json(stats_url)
            if startup["writes"] == before["writes"]:
                break
        in_sync = time.monotonic() - 5 - started
        time.sleep(75)  # a poll round and a full pass after it
        prober = Prober(sock, f"fleet{hosts - 1}", containers)  # never restarted
        prober.start()
        trap_before = get_json(trap_url + "_stats")
        c0, m0, t0 = cpu_seconds(daemon.pid), get_json(stats_url), time.monotonic()
        time.sleep(measure)
        c1, m1, t1 = cpu_seconds(daemon.pid), get_json(stats_url), time.monotonic()
        status = api(sock, "/v1/status")
        trap_after = get_json(trap_url + "_stats")
        storm_at, storm_s = storm_round(engines, sock, hosts)
        storm_calls = get_json(f"{stats_url}?after={storm_at}")
        prober.running = False
        prober.join()
    finally:
        stop_all(daemon, engines, manager, trap)
    written = {op: n - m0["writes_by_operation"].get(op, 0)
               for op, n in m1["writes_by_operation"].items()}
    if any(written.values()):
        print(f"manager writes during the window: {written}", flush=True)
    if m1.get("refusals"):
        print(f"manager refused: {m1['refusals']}", flush=True)
    rounds = [(last - first, n) for date, (first, last, n) in trap_after["rounds"].items()
              if date not in trap_before["rounds"] and n > 0]
    proc = status["process"]
    minutes = (t1 - t0) / 60
    return {
        "hosts × containers": f"{hosts} × {containers}",
        "startup to all nodes s": f"{in_sync:.0f}",
        "startup calls (peak/s)": f"{startup['calls']} ({startup['peak_calls_per_second']})",
        "daemon CPU % of a core": f"{100 * (c1 - c0) / (t1 - t0):.1f}",
        "RSS MB": f"{proc['rss_bytes'] / 2**20:.0f}",
        "fds": proc["open_fds"],
        "tasks": proc["tasks"],
        "report cmd ms median / worst": spread([ms for at, ms in prober.times if at < t1]),
        "wrong answers": prober.wrong,
        "manager calls/min": f"{(m1['calls'] - m0['calls']) / minutes:.0f}",
        "manager writes": m1["writes"] - m0["writes"],
        "full pass s (all hosts / worst host)": full_pass_seconds(status["hosts"]),
        "manager KB/min in/out": (f"{(m1['bytes_in'] - m0['bytes_in']) / 1024 / minutes:.0f}/"
                                  f"{(m1['bytes_out'] - m0['bytes_out']) / 1024 / minutes:.0f}"),
        "trap rounds s (bodies)": ", ".join(f"{s:.1f} ({n})" for s, n in rounds) or "-",
        "storm: back s": f"{storm_s:.0f}",
        "storm: report ms median / worst": spread([ms for at, ms in prober.times
                                                   if at >= storm_at]),
        "storm: manager calls (peak/s)": (f"{storm_calls['calls'] - m1['calls']} "
                                          f"({storm_calls['peak_calls_per_second']})"),
    }


def full_pass_seconds(hosts: list[dict[str, Any]]) -> str:
    """Each host's last full Hinemos pass (its `status`): the fleet's pass is their sum,
    since each host makes its own, at its own time."""
    took = [h["hinemos"]["last_full_seconds"] for h in hosts if h["hinemos"]]
    return f"{sum(took):.1f} / {max(took):.2f}" if took else "-"


def spread(ms: list[float]) -> str:
    return f"{statistics.median(ms):.0f} / {max(ms):.0f}" if ms else "-"


def storm_round(engines: subprocess.Popen[bytes], sock: str, hosts: int) -> tuple[float, float]:
    """Restart 2 in 5 of the engines at once (SIGUSR1 to the fakes: each hangs up, its
    containers restart, it listens again 3 s later); when the storm began (monotonic)
    and the seconds until the daemon had every host connected again. Returns 30 s
    after that (what follows the reconnects: inspects, first samples, passes)."""
    at = time.monotonic()
    engines.send_signal(signal.SIGUSR1)
    time.sleep(2)  # the hang-ups noticed
    while sum(h["connected"] for h in api(sock, "/v1/status")["hosts"]) < hosts:
        time.sleep(0.2)
    back = time.monotonic() - at
    time.sleep(30)
    return at, back


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10x100,50x200", help="HOSTSxCONTAINERS,…")
    p.add_argument("--measure", type=float, default=120.0, help="seconds of steady state")
    p.add_argument("--full-sync", type=int, default=60,
                   help="full_sync_seconds (shipped: 300), so that the window holds passes")
    args = p.parse_args()
    rows = []
    for size in args.sizes.split(","):
        h, m = (int(x) for x in size.split("x"))
        rows.append(run_size(h, m, args.measure, args.full_sync))
        print(table(rows[-1:]), flush=True)
    print(f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores\n")
    print(table(rows))


if __name__ == "__main__":
    main()
