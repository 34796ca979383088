"""The report's way against one `hinedock` call, side by side on the real engine.

The 2015 scripts read `GET /containers/{id}/stats?stream=false` for each
container, one after another (the engine waits for a second sample: ~2 s each).
hinedockd reads the figures from its own cache. Same machine, same 20 running
containers, same run; medians over the repetitions.

    .venv/bin/python bench/report_vs_hinedock.py [--containers 20] [--repeat 3] \
        [--engine docker|podman]

`--engine podman`: the same against Podman's Docker-compatible API (its socket in
HINEDOCK_PODMAN_SOCKET, /run/podman-ci.sock by default, as .ci/run serves it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import client_calls, http_get, start_daemon, table, wait_streams, wheel_venv
from tests.realparts import DOCKER_SOCK, IMAGE, PODMAN_SOCK, ensure_image

SOCKETS = {"docker": DOCKER_SOCK, "podman": PODMAN_SOCK}


def report_way(sock: str, ids: list[str]) -> float:
    t0 = time.perf_counter()
    for cid in ids:
        body = http_get(sock, f"/containers/{cid}/stats?stream=false")
        if not body.startswith(b"{"):
            raise SystemExit(f"stats of {cid[:12]}: {body[:200]!r}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engine", choices=sorted(SOCKETS), default="docker")
    args = ap.parse_args()
    cli, engine_sock = args.engine, SOCKETS[args.engine]
    ensure_image(cli)
    names = [f"bench_report_{i}" for i in range(args.containers)]
    subprocess.run([cli, "rm", "-f", *names], capture_output=True)
    ids = [subprocess.run([cli, "run", "-d", "--name", n, IMAGE, "sleep", "3600"],
                          capture_output=True, text=True, check=True).stdout.strip()
           for n in names]
    daemon, sock = start_daemon(f'[[hosts]]\nfacility_id = "local"\n'
                                f'url = "unix://{engine_sock}"\naddress = "127.0.0.1"\n'
                                'stats = "stream"\n')
    bindir = wheel_venv()
    try:
        wait_streams(sock, args.containers)
        time.sleep(12)  # two samples at Podman's 5 s pace
        report = [report_way(engine_sock, ids) for _ in range(args.repeat)]
        wall, cpu = client_calls(sock, [str(bindir / "hinedock"), "cpu"], 20)
        compat_wall, compat_cpu = client_calls(
            sock, [str(bindir / "MonitorDockerContainerResourceCpu.py"), "-k", "b"], 20)
        r = statistics.median(report)
        print(table([{"engine": cli, "containers": args.containers,
                      "report_way_s": round(r, 2),
                      "hinedock_cpu_wall_ms": round(wall, 1), "hinedock_cpu_ms": round(cpu, 1),
                      "compat_cpu_wall_ms": round(compat_wall, 1),
                      "compat_cpu_ms": round(compat_cpu, 1),
                      "speed-up": f"{r * 1000 / wall:.0f}x"}]))
    finally:
        daemon.terminate()
        daemon.wait(15)
        subprocess.run([cli, "rm", "-f", *names], capture_output=True)


if __name__ == "__main__":
    main()
