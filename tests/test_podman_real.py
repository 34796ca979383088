"""The daemon (its own process) against Podman's Docker-compatible API, for real
(Podman 4.3 in CI, `podman system service` on its own socket beside dockerd): memory
read, traffic the right way round against the container's own counters, a slow stop
that is never a removal, and `podman rm` seen at once."""

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


def test_memory_is_read(daemon: Daemon) -> None:
    run("mem60", "sh", "-c", "dd if=/dev/zero of=/dev/shm/x bs=1M count=60; sleep 3600")
    # Podman samples every 5 s: the second sample (a window) comes within ~10 s.
    wait_for(lambda: daemon.run("hinedock", "mem", "-n", "hdt_mem60", "--detail").returncode
             == 0, within=40, what="memory figures from Podman")
    detail = dict(daemon.ok("hinedock", "mem", "-n", "hdt_mem60", "--detail"))
    assert detail["usage"] >= 60 << 20, detail  # the only figure Podman gives
    (share,) = daemon.ok("hinedock", "mem", "-n", "hdt_mem60")
    assert share[1] > 0


def test_a_download_reads_as_received_as_the_container_counts_it(daemon: Daemon) -> None:
    run("srv", "sh", "-c", "dd if=/dev/zero of=/www/big bs=1M count=5 2>/dev/null; "
                           "httpd -f -p 8080 -h /www")
    ip = podman("inspect", "-f", "{{.NetworkSettings.IPAddress}}", PREFIX + "srv")
    run("cli", "sh", "-c", f"sleep 2; wget -q -O /dev/null http://{ip}:8080/big; sleep 3600")
    wait_for(lambda: counter("cli", "rx_bytes") > 5 << 20, within=30, what="the download")
    rx, tx = counter("cli", "rx_bytes"), counter("cli", "tx_bytes")

    def figures() -> dict[str, float]:
        r = daemon.run("hinedock", "net", "-n", "hdt_cli", "--window", "900")
        return dict(daemon.ok("hinedock", "net", "-n", "hdt_cli", "--window", "900")) \
            if r.returncode == 0 else {}

    cid8 = podman("inspect", "-f", "{{.Id}}", PREFIX + "cli")[:8]
    wait_for(lambda: figures().get(f"nw_rxkb:{cid8}", 0) >= 0.9 * rx, within=40,
             what="the download in the figures")
    got = figures()
    assert got[f"nw_rxkb:{cid8}"] == pytest.approx(rx, rel=0.1)
    assert got[f"nw_txkb:{cid8}"] == pytest.approx(tx, rel=0.5, abs=4096)
    r = daemon.run("hinedock", "net", "-n", "hdt_cli", "--packets")
    assert r.returncode == 1 and "podman gives no packet counts" in r.stderr and not r.stdout


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


def test_processes_and_disk_usage(daemon: Daemon) -> None:
    cid = run("procs", "sh", "-c", "sleep 3601 & sleep 3602 & httpd -f -p 8080")
    wait_for(lambda: daemon.run("hinedock", "proc", "-n", "hdt_procs", "--prog", "sleep")
             .returncode == 0, what="the container in the daemon")
    assert daemon.ok("hinedock", "proc", "-n", "hdt_procs", "--prog", "sleep") == [
        (f"sleep:{cid[:12]}", 2.0)]
    assert daemon.ok("hinedock", "proc", "-n", "hdt_procs", "--prog", "httpd",
                     "--args", "-f -p 8080") == [(f"httpd -f -p 8080:{cid[:12]}", 1.0)]
    sizes = dict(daemon.ok("hinedock", "host", "size"))
    assert sizes["image"] > 1 << 20  # busybox-static: about 2 MB


def test_a_busy_container_reads_one_core_and_an_idle_one_zero(daemon: Daemon) -> None:
    run("busy", "sh", "-c", "yes > /dev/null")
    run("idle", "sleep", "3600")

    def cpu() -> dict[str, float]:
        r = daemon.run("hinedock", "cpu", "-n", "hdt_*", "--scale", "core", "--window", "30")
        return dict(daemon.ok("hinedock", "cpu", "-n", "hdt_*", "--scale", "core",
                              "--window", "30")) if r.returncode == 0 else {}

    # Podman samples every 5 s: wait for three samples of each.
    wait_for(lambda: {"cpu_usage:hdt_busy", "cpu_usage:hdt_idle"} <= cpu().keys(),
             within=40, what="CPU figures from Podman")
    time.sleep(10)
    core = cpu()
    assert 70 <= core["cpu_usage:hdt_busy"] <= 105, core
    assert core["cpu_usage:hdt_idle"] < 3, core
    podman("rm", "-f", PREFIX + "busy", PREFIX + "idle")
