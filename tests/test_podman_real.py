"""What only Podman does, against its Docker-compatible API for real (Podman 4.3 in CI,
`podman system service` on its own socket beside dockerd): a slow stop (Podman's
`stopping` state) that is never a removal, and `podman rm` (its `remove` event) seen at
once. The figures, lifecycle, processes, jobs, syslog and Hinemos suites run on both
engines (tests/test_real_engine.py and the others parametrised on `engine_cli`)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
from collections.abc import Iterator

import pytest

from tests.realparts import (
    IMAGE,
    PODMAN_SOCK,
    PREFIX,
    Daemon,
    podman,
    start_daemon,
    wait_for,
)


@pytest.fixture(scope="module")
def daemon(podman: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    # A full re-list every 5 s, so that one falls inside a slow stop.
    yield from start_daemon(tmp_path_factory.mktemp("hinedockd-podman"),
                            daemon_extra="relist_seconds = 5\n",
                            host_url=f"unix://{PODMAN_SOCK}")


def run(name: str, *cmd: str, extra: tuple[str, ...] = ()) -> str:
    podman("rm", "-f", PREFIX + name, check=False)
    return podman("run", "-d", "--name", PREFIX + name, *extra, IMAGE, *cmd)


def api_state(name: str) -> str:
    """The container's State as Podman's compat API lists it."""
    query = urllib.parse.quote(json.dumps({"name": [PREFIX + name]}))
    out = subprocess.run(["curl", "-sf", "--unix-socket", PODMAN_SOCK,
                          f"http://d/v1.41/containers/json?all=1&filters={query}"],
                         capture_output=True, text=True, timeout=10).stdout
    items = json.loads(out or "[]")
    return str(items[0]["State"]) if items else ""


def counter(name: str, which: str) -> int:
    return int(podman("exec", PREFIX + name, "cat", f"/sys/class/net/eth0/statistics/{which}"))


def test_a_slow_stop_is_never_a_removal(daemon: Daemon) -> None:
    cid = run("slow", "sleep", "3600")  # PID 1 without a TERM handler: stop waits
    wait_for(lambda: daemon.run("hinedock", "states", "-n", "hdt_slow").returncode == 0,
             what="the container in the daemon")
    stopping = subprocess.Popen(["podman", "stop", "-t", "30", PREFIX + "slow"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: api_state("slow") == "stopping", within=10, what="Podman's stopping")
        deadline = time.monotonic() + 8  # a full re-list happens meanwhile (relist 5 s)
        while time.monotonic() < deadline:
            r = daemon.run("hinedock", "states", "-n", "hdt_slow")
            assert r.returncode == 0 and r.stdout.startswith(f"state:{cid[:12]},"), r.stderr
            time.sleep(0.5)
    finally:
        podman("kill", PREFIX + "slow", check=False)
        stopping.wait(40)
    wait_for(lambda: daemon.run("hinedock", "states", "-n", "hdt_slow").stdout.strip()
             == f"state:{cid[:12]},4", what="exited")


def test_podman_rm_is_seen_at_once(daemon: Daemon) -> None:
    run("gone", "sleep", "3600")
    wait_for(lambda: daemon.run("hinedock", "states", "-n", "hdt_gone").returncode == 0,
             what="the container in the daemon")
    cid = podman("inspect", "-f", "{{.Id}}", PREFIX + "gone")
    podman("rm", "-f", PREFIX + "gone")
    wait_for(lambda: daemon.run("hinedock", "states", "-n", "hdt_gone").returncode == 1,
             what="the removal")
    # Podman's `remove` event (which Docker calls destroy) reaches the daemon; under
    # load it can come after a full re-list has already seen the container gone.
    wait_for(lambda: any("action=remove" in line and cid[:12] in line
                         for line in daemon.log.read_text().splitlines()
                         if "docker event" in line), within=60, what="the remove event")
