"""What monitoring costs the Docker host, side by side with the monitors users would
pick instead: total CPU per minute of the monitor's own process(es) plus the engine's
(dockerd + containerd + every containerd-shim, from /proc/PID/stat: utime + stime,
which keeps the time of threads that have ended), less the idle engine's, on the
local Docker engine with N idle containers and one busy one (`yes`, one core).

Approaches, interleaved (the order is reversed from one size or round to the next):
- hinedockd in each mode: `stats = "stream"`, and `"poll"` every 30 s and every 60 s
  (the default: one sample per default window); its answer is `hinedock cpu -n BUSY`
  (wall time, and does it read busy);
- Zabbix agent 2 (Debian `zabbix-agent2`, its Docker plugin), asked as a Zabbix server
  would, once per interval, every container's `docker.container_stats["/NAME"]` at
  once over the passive protocol;
- Nagios `check_docker` (PyPI) once per interval: `--cpu 90:95 --memory 90:95:%`;
- the 2015 way, emulated: four monitors (CPU, memory, disk, network), each a process
  that lists the containers and asks each one's stats (`stream=false`) in turn, once
  per interval (the report's scripts did this through docker-py).

Each is measured over the same `--seconds` (a whole number of its intervals), after a
warm-up; the interval of the peers is `--interval` (60 s). The idle engine's rate is
measured for `--idle-seconds` just before each approach and subtracted from that
approach's (it drifts by tenths of a second a minute at 100 containers). With
`--rounds N` the whole interleaved set runs N times and a table of medians follows.
The machine's load average is printed with each row.

    .venv/bin/python bench/engine_cost.py --sizes 20,100
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import TICK, api, http_get, start_daemon, table, wheel_venv
from hinedockd.config import DaemonConfig
from hinedockd.docker.stats import FIRST_GAP_SECONDS

DOCKER_SOCK = "/var/run/docker.sock"
IMAGE = "localbusybox"
PREFIX = "ec_"
BUSY = f"{PREFIX}busy"
ENGINE = ("dockerd", "containerd", "containerd-shim")
# What a [[hosts]] table without poll_interval_seconds polls at: the default window.
DEFAULT_POLL = DaemonConfig().default_window_seconds


def engine_pids() -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                comm = (d / "comm").read_text().strip()
            except OSError:
                continue
            if comm in ENGINE or comm.startswith("containerd-shim"):
                out.append(int(d.name))
    return out


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def busy_percent(stats: object) -> float | None:
    """CPU % of the host from one `stream=false` answer (it carries the sample a
    second before as precpu_stats), as `docker stats` computes it."""
    try:
        cpu, pre = stats["cpu_stats"], stats["precpu_stats"]  # type: ignore[index]
        d_total = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        d_system = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
        return 100.0 * d_total / d_system if d_system else None
    except (KeyError, TypeError):
        return None


@dataclass
class Result:
    approach: str
    monitor_cpu: float = 0.0
    answer_ms: list[float] = field(default_factory=list)
    # hinedockd only: the daemon's own answer, one HTTP request from this process
    # just before the client's (the client's wall less this is its process start).
    daemon_ms: list[float] = field(default_factory=list)
    busy: float | None = None


class Approach:
    """Starts, ticks once per its interval, stops; says which pids are the monitor."""

    name = ""
    interval = 60.0

    def start(self) -> None: ...

    def pids(self) -> list[int]:
        return []

    def tick(self, result: Result) -> None: ...

    def stop(self) -> None: ...


def ask_cpu(sock: str, client: Path) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """The daemon's own answer to `hinedock cpu`'s request (ms, one request from this
    process), then the client's wall (ms, its process start included) and its result."""
    t0 = time.perf_counter()
    http_get(sock, "/v1/lines/cpu")
    t1 = time.perf_counter()
    r = subprocess.run([str(client / "hinedock"), "cpu"], capture_output=True, text=True,
                       env={**os.environ, "HINEDOCK_SOCKET": sock})
    return (t1 - t0) * 1000, (time.perf_counter() - t1) * 1000, r


class Hinedockd(Approach):
    def __init__(self, stats: str, poll: float, client: Path, interval: float) -> None:
        self.stats, self.poll, self.client = stats, poll, client
        self.name = ("hinedockd stream" if stats == "stream" else f"hinedockd poll {poll:g} s"
                     + (" (default)" if poll == DEFAULT_POLL else ""))
        # A Hinemos custom monitor asks once per interval for every container, as the
        # peers are asked; the client's process is counted with the daemon.
        self.interval = interval

    def start(self) -> None:
        self.proc, self.sock = start_daemon(f"""
[[hosts]]
facility_id = "local"
url = "unix://{DOCKER_SOCK}"
address = "127.0.0.1"
stats = "{self.stats}"
""" + ("" if self.poll == DEFAULT_POLL else f"poll_interval_seconds = {self.poll}\n"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if api(self.sock, "/v1/status")["hosts"][0]["connected"]:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        self._settle()

    def _settle(self) -> None:
        """Past the two first samples a connect takes of every container (at once and
        FIRST_GAP_SECONDS later; streams: their first second): the daemon has samples
        and their count stands still for longer than that gap, or a minute has passed.
        (It waited for 3 s of stillness, which that gap holds: at a few containers, the
        second sample of each then fell into the measured minutes.)"""
        deadline, last, still = time.monotonic() + 60, -1, 0.0
        while time.monotonic() < deadline and still <= FIRST_GAP_SECONDS + 1:
            time.sleep(0.5)
            n = int(api(self.sock, "/v1/status")["hosts"][0]["samples"])
            still = still + 0.5 if n == last and n > 0 else 0.0
            last = n

    def pids(self) -> list[int]:
        return [self.proc.pid]

    def tick(self, result: Result) -> None:
        daemon_ms, wall_ms, r = ask_cpu(self.sock, self.client)
        result.daemon_ms.append(daemon_ms)
        result.answer_ms.append(wall_ms)
        busy = [line for line in r.stdout.splitlines() if line.startswith(f"cpu_usage:{BUSY},")]
        if r.returncode == 0 and busy:
            result.busy = float(busy[0].rsplit(",", 1)[1])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


class Zabbix(Approach):
    name = "Zabbix agent 2 (Docker plugin)"

    def __init__(self, names: list[str], interval: float) -> None:
        self.names, self.interval = names, interval
        self.dir = Path(tempfile.mkdtemp(prefix="zbx-"))

    def start(self) -> None:
        conf = self.dir / "agent2.conf"
        conf.write_text(f"""LogType=console
LogFile={self.dir}/agent.log
PidFile={self.dir}/agent.pid
ControlSocket={self.dir}/agent.sock
Server=127.0.0.1
ListenPort=10050
Hostname=bench
Timeout=30
Plugins.Docker.Endpoint=unix://{DOCKER_SOCK}
""")
        self.proc = subprocess.Popen(["zabbix_agent2", "-c", str(conf), "-f"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(5)

    def pids(self) -> list[int]:
        return [self.proc.pid]

    @staticmethod
    def ask(key: str) -> tuple[float, bytes]:
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", 10050), timeout=60) as s:
            data = key.encode()
            s.sendall(b"ZBXD\x01" + struct.pack("<Q", len(data)) + data)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        return (time.perf_counter() - t0) * 1000, answer[13:]

    def tick(self, result: Result) -> None:
        keys = [f'docker.container_stats["/{n}"]' for n in self.names]
        with ThreadPoolExecutor(len(keys)) as pool:
            answers = list(pool.map(self.ask, keys))
        result.answer_ms += [ms for ms, _ in answers]
        busy = answers[self.names.index(BUSY)][1]
        try:
            result.busy = busy_percent(json.loads(busy))
        except ValueError:
            result.busy = None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


class CheckDocker(Approach):
    name = "check_docker (Nagios)"

    def __init__(self, venv: Path, interval: float) -> None:
        self.venv, self.interval = venv, interval

    def tick(self, result: Result) -> None:
        t0 = time.perf_counter()
        r = subprocess.run([str(self.venv / "check_docker"), "--connection", DOCKER_SOCK,
                            "--cpu", "90:95", "--memory", "90:95:%"],
                           capture_output=True, text=True)
        result.answer_ms.append((time.perf_counter() - t0) * 1000)
        m = re.search(rf"{BUSY} cpu is (\d+(?:\.\d+)?)%", r.stdout)
        result.busy = float(m.group(1)) if m else None


REPORT_WAY = """
import http.client, json, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])
def get(path):
    c = C("localhost"); c.request("GET", path); d = c.getresponse().read(); c.close()
    return json.loads(d)
for c in get("/containers/json"):
    s = get(f"/containers/{c['Id']}/stats?stream=false")
    if c["Names"][0] == "/" + sys.argv[2]:
        print(json.dumps(s))
"""


class ReportWay(Approach):
    name = "the 2015 way (4 monitors, emulated)"

    def __init__(self, interval: float) -> None:
        self.interval = interval

    def tick(self, result: Result) -> None:
        t0 = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", REPORT_WAY, DOCKER_SOCK, BUSY],
                                  stdout=subprocess.PIPE, text=True) for _ in range(4)]
        outs = [p.communicate()[0] for p in procs]
        result.answer_ms.append((time.perf_counter() - t0) * 1000)
        try:
            result.busy = busy_percent(json.loads(outs[0]))
        except ValueError:
            result.busy = None


def measure(a: Approach, seconds: float, idle_rate: float) -> dict[str, object]:
    result = Result(a.name)
    a.start()
    try:
        pids = engine_pids()
        e0, m0, c0 = cpu_of(pids), cpu_of(a.pids()), children_cpu()
        t0 = time.monotonic()
        ticks = 0
        while (now := time.monotonic()) < t0 + seconds:
            if now >= t0 + ticks * a.interval:
                ticks += 1
                a.tick(result)
            time.sleep(0.1)
        took = time.monotonic() - t0
        e1, m1, c1 = cpu_of(pids), cpu_of(a.pids()), children_cpu()
    finally:
        a.stop()
    engine = (e1 - e0) - idle_rate * took
    monitor = (m1 - m0) + (c1 - c0)
    per_min = 60 / took
    load = os.getloadavg()[0]
    return {"approach": a.name, "engine_cpu_s_per_min": round(engine * per_min, 3),
            "monitor_cpu_s_per_min": round(monitor * per_min, 3),
            "total_cpu_s_per_min": round((engine + monitor) * per_min, 3),
            "answer_ms_median": _median(result.answer_ms),
            "answer_ms_max": _max(result.answer_ms),
            "daemon_answer_ms_median": _median(result.daemon_ms),
            "answers_ms": [round(ms, 1) for ms in result.answer_ms],
            "busy_reads": "-" if result.busy is None else round(result.busy, 1),
            "load_1m": round(load, 2)}


def _median(values: list[float]) -> float | str:
    return round(statistics.median(values), 1) if values else "-"


def _max(values: list[float]) -> float | str:
    return round(max(values), 1) if values else "-"


def idle(seconds: float) -> float:
    pids = engine_pids()
    e0, t0 = cpu_of(pids), time.monotonic()
    time.sleep(seconds)
    return (cpu_of(pids) - e0) / (time.monotonic() - t0)


def remove_containers(prefix: str = PREFIX) -> None:
    """Every container a bench made (and a killed run left): those named `prefix`*."""
    subprocess.run(f"docker rm -f $(docker ps -aq --filter name={prefix}) >/dev/null 2>&1",
                   shell=True)


def containers(n: int) -> list[str]:
    remove_containers()
    names = [f"{PREFIX}{i}" for i in range(n)]
    for name in names:
        subprocess.run(["docker", "run", "-d", "--name", name, IMAGE, "sleep", "36000"],
                       check=True, capture_output=True)
    subprocess.run(["docker", "run", "-d", "--name", BUSY, IMAGE, "sh", "-c", "yes > /dev/null"],
                   check=True, capture_output=True)
    return [*names, BUSY]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20,100")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--interval", type=float, default=60.0)
    ap.add_argument("--idle-seconds", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated approach name prefixes")
    args = ap.parse_args()
    client = wheel_venv()
    cd_venv = Path(tempfile.mkdtemp(prefix="check-docker-"))
    subprocess.run([sys.executable, "-m", "venv", str(cd_venv)], check=True)
    subprocess.run([str(cd_venv / "bin" / "pip"), "install", "-q",
                    "--disable-pip-version-check", "check_docker"], check=True)
    rows = []
    try:
        for k, n in enumerate(int(s) for s in args.sizes.split(",")):
            names = containers(n)
            time.sleep(10)
            approaches: list[Approach] = [
                *(Hinedockd(mode, poll, client, args.interval)
                  for mode, poll in (("stream", DEFAULT_POLL), ("poll", 30),
                                     ("poll", DEFAULT_POLL))),
                Zabbix(names, args.interval), CheckDocker(cd_venv / "bin", args.interval),
                ReportWay(args.interval)]
            if args.only:
                approaches = [a for a in approaches
                              if any(a.name.startswith(p) for p in args.only.split(","))]
            for r in range(args.rounds):
                for a in approaches if (k + r) % 2 == 0 else reversed(approaches):
                    rate = idle(args.idle_seconds)
                    row = measure(a, args.seconds, rate)
                    rows.append({"containers": f"{n} + 1 busy",
                                 "idle_engine_cpu_s_per_min": round(rate * 60, 3), **row})
                    print(json.dumps(rows[-1]), flush=True)
    finally:
        remove_containers()
    print(table([{k: v for k, v in r.items() if k != "answers_ms"} for r in rows]))
    if args.rounds > 1:
        print(table(medians(rows)))


def medians(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """One row per size and approach: the median of each figure over the rounds, and
    the median and maximum of every answer of every round."""
    out = []
    for key in dict.fromkeys((r["containers"], r["approach"]) for r in rows):
        mine = [r for r in rows if (r["containers"], r["approach"]) == key]
        answers = [float(ms) for r in mine for ms in r["answers_ms"]]  # type: ignore[attr-defined]
        out.append({"containers": key[0], "approach": key[1], "rounds": len(mine),
                    **{f: round(statistics.median(float(str(r[f])) for r in mine), 3)
                       for f in ("engine_cpu_s_per_min", "monitor_cpu_s_per_min",
                                 "total_cpu_s_per_min")},
                    "answers": len(answers), "answer_ms_median": _median(answers),
                    "answer_ms_max": _max(answers)})
    return out


if __name__ == "__main__":
    main()
