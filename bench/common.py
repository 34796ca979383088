"""Helpers shared by the benchmarks (process figures, the local API, timed client calls)."""

from __future__ import annotations

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
ROOT = Path(__file__).resolve().parent.parent


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


def http_get(sock: str, path: str) -> bytes:
    """HTTP/1.0 GET over a unix socket; the body."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.partition(b"\r\n\r\n")[2]


def api(sock: str, path: str) -> Any:
    return json.loads(http_get(sock, path))


def wheel_venv(tree: Path = ROOT, deps: bool = False) -> Path:
    """A throwaway venv with a tree of the project installed from its wheel, as in
    production (an editable install adds ~15 ms of import hooks to every client
    start, and its import hook wins over PYTHONPATH); with `deps`, its dependencies
    too (for running a daemon). Returns the venv's bin directory."""
    root = Path(tempfile.mkdtemp(prefix="hinedockd-bench-venv-"))
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    subprocess.run([str(root / "bin" / "pip"), "install", "-q",
                    *([] if deps else ["--no-deps"]), "--disable-pip-version-check",
                    str(tree.resolve())], check=True, cwd=root)
    return root / "bin"


def client_calls(sock: str, argv: list[str], n: int) -> tuple[float, float]:
    """Median wall ms and median CPU ms (user+sys of the child) per call."""
    walls, cpus = [], []
    env = {**os.environ, "HINEDOCK_SOCKET": sock}
    for _ in range(n):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(argv, env=env, capture_output=True)
        walls.append((time.perf_counter() - t0) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
        if r.returncode != 0:
            raise SystemExit(f"{argv} failed: {r.stderr.decode()}")
    return statistics.median(walls), statistics.median(cpus)


def start_daemon(config_text: str, python: str = sys.executable
                 ) -> tuple[subprocess.Popen[bytes], str]:
    """The daemon in its own process (`python`: another venv's, for side-by-side runs
    of two trees, see `wheel_venv`)."""
    tmp = Path(tempfile.mkdtemp(prefix="hinedockd-bench-"))
    sock = str(tmp / "h.sock")
    (tmp / "config.toml").write_text(f'[daemon]\nsocket = "{sock}"\n'
                                     f'state_dir = "{tmp}/state"\n' + config_text)
    (tmp / "config.toml").chmod(0o600)  # else the daemon warns that everyone may read it
    proc = subprocess.Popen([python, "-m", "hinedockd.app", "--config",
                             str(tmp / "config.toml")], stdout=subprocess.DEVNULL)
    return proc, sock


def wait_streams(sock: str, n: int, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if api(sock, "/v1/status")["hosts"][0]["streams_open"] >= n:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"daemon did not open {n} streams")
        time.sleep(0.5)


def serve_fake(what: str, *args: str, lines: int = 1
               ) -> tuple[subprocess.Popen[bytes], list[str]]:
    """A fake of hinedockd.testing in its own process; the URLs it prints (`lines`)."""
    proc = subprocess.Popen([sys.executable, "-m", "hinedockd.testing", what, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    urls = []
    for _ in range(lines):
        words = proc.stdout.readline().decode().split()
        urls.append(next(w for w in words if w.startswith(("tcp://", "http://"))))
    return proc, urls


def stop_all(*procs: subprocess.Popen[bytes], within: float = 20) -> None:
    """SIGTERM each, and SIGKILL what has not ended `within` seconds later."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(within)
        except subprocess.TimeoutExpired:
            p.kill()


def table(rows: list[dict[str, Any]]) -> str:
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(out)
