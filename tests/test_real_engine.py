"""End to end against the real engines, Docker and Podman (its Docker-compatible API):
the daemon runs as its own process, containers are driven with the engine's CLI,
figures are read with the installed client commands and checked against ground truth
(the container's own counters, what it was made to hold), and every output line is
checked against the Hinemos rule. The engine-independent client checks run once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import assert_hinemos_lines
from tests.realparts import (
    ENGINE_URLS,
    ENGINES,
    ON_DOCKER_ONLY,
    PREFIX,
    Daemon,
    docker,
    engine_get,
    engine_version,
    run_container,
    start_daemon,
    wait_for,
    wait_started,
)

# Seconds between two stats samples, as each engine was seen to send them (Podman
# samples every 5 s, docker/dialect.py; the VM's Docker under software emulation about
# every 2 s); windows and waits follow the engine's pace.
PACE = {"docker": 1.0, "podman": 5.0, "docker26": 2.0, "podman5": 5.0}
@pytest.fixture(scope="module")
def daemon(engine_cli: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    yield from start_daemon(tmp_path_factory.mktemp(f"hinedockd-real-{engine_cli}"),
                            host_url=ENGINE_URLS[engine_cli])


def values(pairs: list[tuple[str, float]]) -> dict[str, float]:
    return dict(pairs)


def answer(daemon: Daemon, cmd: str, *args: str) -> dict[str, float]:
    """The command's pairs, or {} while it cannot answer yet (exit 1)."""
    r = daemon.run(cmd, *args)
    return values(daemon.ok(cmd, *args)) if r.returncode == 0 else {}


def test_busy_container_reads_one_core_idle_reads_zero(daemon: Daemon, engine_cli: str) -> None:
    run_container("busy", "sh", "-c", "yes > /dev/null", cli=engine_cli)
    run_container("idle", "sleep", "3600", cli=engine_cli)
    pace = PACE[engine_cli]
    window = str(int(max(6, 3 * pace)))
    wait_for(lambda: {f"cpu_usage:{PREFIX}busy", f"cpu_usage:{PREFIX}idle"} <= answer(
        daemon, "hinedock", "cpu", "-n", f"{PREFIX}*", "--window", window).keys(),
        within=4 * pace + 10, what="CPU figures for both")
    time.sleep(float(window) + pace)  # a whole window of samples after the first two
    core = values(daemon.ok("hinedock", "cpu", "-n", f"{PREFIX}*", "--scale", "core",
                            "--window", window))
    assert 70 <= core[f"cpu_usage:{PREFIX}busy"] <= 105, core
    assert core[f"cpu_usage:{PREFIX}idle"] < 3, core
    host = values(daemon.ok("hinedock", "cpu", "-n", f"{PREFIX}busy", "--window", window))
    ncpu = int(engine_get(engine_cli, "/info")["NCPU"])  # the engine's host's
    assert host[f"cpu_usage:{PREFIX}busy"] == pytest.approx(
        core[f"cpu_usage:{PREFIX}busy"] / ncpu, rel=0.3)
    compat = values(daemon.ok("MonitorDockerContainerResourceCpu.py", "-n", f"{PREFIX}busy",
                              "-k", "t1", "--all"))
    assert list(compat) == [f"cpu_usage:{PREFIX}busy"]
    # The report's scale (§3.3.2, the docker stats scale): one busy core reads 100, the
    # figure of --scale core. The same bounds as that one: in the VM on a loaded machine
    # `yes` gets less than a whole vCPU (89.9 seen in CI).
    assert 70 <= compat[f"cpu_usage:{PREFIX}busy"] <= 105, (compat, core)
    assert compat[f"cpu_usage:{PREFIX}busy"] == pytest.approx(
        core[f"cpu_usage:{PREFIX}busy"], rel=0.3), (compat, core)
    host_scale = values(daemon.ok("MonitorDockerContainerResourceCpu.py", "-n",
                                  f"{PREFIX}busy", "--scale", "host"))
    assert host_scale[f"cpu_usage:{PREFIX}busy"] == pytest.approx(
        compat[f"cpu_usage:{PREFIX}busy"] / ncpu, rel=0.3)
    if ENGINES[engine_cli].in_vm:  # cgroup v2: the engine gives no per-core counters
        r = daemon.run("MonitorDockerContainerResourceCpu.py", "-n", f"{PREFIX}busy", "--core")
        assert r.returncode == 1 and r.stdout == ""
        assert "per-core CPU is not available" in r.stderr and "cgroup v2" in r.stderr
    else:
        per_core = values(daemon.ok("MonitorDockerContainerResourceCpu.py", "-n",
                                    f"{PREFIX}busy", "--core"))
        assert len(per_core) == ncpu and sum(per_core.values()) > 50
    docker("rm", "-f", f"{PREFIX}busy", f"{PREFIX}idle", cli=engine_cli)


def meminfo_total(cli: str) -> int:
    """The engine's host's memory, as the engine tells it (its host is a VM for some)."""
    return int(engine_get(cli, "/info")["MemTotal"])


def test_a_container_holding_60_mb_reads_it(daemon: Daemon, engine_cli: str) -> None:
    # dd's 60 MB buffer, filled from /dev/zero, is held while its write to the pipe
    # blocks (nothing reads it): anonymous memory (rss on cgroup v1, anon on v2).
    cid = run_container("mem60", "sh", "-c", "dd if=/dev/zero bs=60M count=1 | sleep 3600",
                        cli=engine_cli)
    # The engine's own memory figure (README's memory table): rss where Docker has a v1
    # `stats` map, anon on v2, else `usage`, the only one Podman gives.
    figure = ENGINES[engine_cli].memory
    wait_for(lambda: answer(daemon, "hinedock", "mem", "-c", cid[:12], "--detail").get(
        figure, 0) >= 60 << 20, within=4 * PACE[engine_cli] + 10, what="60 MB in the figures")
    detail = values(daemon.ok("hinedock", "mem", "-c", cid[:12], "--detail"))
    assert detail[figure] < 80 << 20, detail
    (key, share), = daemon.ok("MonitorDockerContainerResourceMemory.py", "-c", cid[:12])
    assert key == f"host_mem_usage:{cid[:8]}"
    assert share == pytest.approx(detail[figure] / meminfo_total(engine_cli) * 100, abs=0.02)
    if ENGINES[engine_cli].in_vm:  # cgroup v2: the container's own memory.stat (read
        # last: the exec's own processes are charged to the container)
        anon = int(docker("exec", cid, "sh", "-c",
                          "grep '^anon ' /sys/fs/cgroup/memory.stat | cut -d' ' -f2",
                          cli=engine_cli))
        assert detail[figure] == pytest.approx(anon, rel=0.05), (detail, anon)
    docker("rm", "-f", cid, cli=engine_cli)


def counters(cli: str, cid: str) -> dict[str, int]:
    """The container's own counts of its eth0 traffic (ground truth)."""
    names = ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")
    out = docker("exec", cid, "sh", "-c", "cd /sys/class/net/eth0/statistics && cat "
                 + " ".join(names), cli=cli)
    return dict(zip(names, map(int, out.split()), strict=True))


def test_a_served_download_reads_as_sent_as_the_container_counts_it(
        daemon: Daemon, engine_cli: str) -> None:
    """The server's own eth0 counters are the truth: it sends 5 MB, receives requests.
    The client runs on the host's network (the VM's Podman 5 lets no container reach
    another: its netavark rules time out there), so the server's traffic is all of it."""
    srv = run_container("srv", "sh", "-c",
                        "mkdir -p /www; dd if=/dev/zero of=/www/big bs=1k count=512 2>/dev/null;"
                        " httpd -f -p 8080 -h /www", cli=engine_cli)
    ip = docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", srv, cli=engine_cli)
    wait_for(lambda: answer(daemon, "hinedock", "net", "-c", srv[:12], "--window", "900") != {},
             within=3 * PACE[engine_cli] + 10, what="the server's first figures")
    # Ten downloads of 512 KiB after the first sample, then idle.
    cli = run_container("cli", "sh", "-c", "for i in 0 1 2 3 4 5 6 7 8 9; do wget -q -O "
                        f"/dev/null http://{ip}:8080/big; done; sleep 3600",
                        extra=("--net=host",), cli=engine_cli)
    wait_for(lambda: counters(engine_cli, srv)["tx_bytes"] > 5 << 20, within=60,
             what="the downloads")
    truth = counters(engine_cli, srv)
    tx, rx = f"nw_txkb:{srv[:8]}", f"nw_rxkb:{srv[:8]}"
    wait_for(lambda: answer(daemon, "hinedock", "net", "-c", srv[:12], "--window", "900").get(
        tx, 0) >= 0.9 * truth["tx_bytes"], within=3 * PACE[engine_cli] + 10,
        what="the downloads in figures")
    got = values(daemon.ok("hinedock", "net", "-c", srv[:12], "--window", "900"))
    assert got[tx] == pytest.approx(truth["tx_bytes"], rel=0.1) and got[tx] > 10 * got[rx]
    assert got[rx] == pytest.approx(truth["rx_bytes"], rel=0.5, abs=4096)
    c = values(daemon.ok("MonitorDockerContainerResourceNetwork.py", "-c", srv[:12], "--kb",
                         "--tx"))
    assert list(c) == [tx]
    r = daemon.run("MonitorDockerContainerResourceNetwork.py", "-c", srv[:12], "--pck")
    if engine_cli == "podman":  # Podman 4.3: 0 packets whatever the traffic
        assert r.returncode == 1 and "podman gives no packet counts" in r.stderr
        assert r.stdout == ""
    else:
        assert set(values(daemon.ok("MonitorDockerContainerResourceNetwork.py", "-c",
                                    srv[:12], "--pck"))) == {f"nw_rxpck:{srv[:8]}",
                                                             f"nw_txpck:{srv[:8]}"}
        pck = values(daemon.ok("hinedock", "net", "-c", srv[:12], "--packets",
                               "--window", "900"))
        assert pck[f"nw_txpck:{srv[:8]}"] == pytest.approx(truth["tx_packets"], rel=0.2), pck
        assert pck[f"nw_rxpck:{srv[:8]}"] == pytest.approx(truth["rx_packets"], rel=0.2), pck
    docker("rm", "-f", srv, cli, cli=engine_cli)


def test_a_host_network_container_has_no_network_figures_not_zeros(
        daemon: Daemon, engine_cli: str) -> None:
    """On the host's network a container has no traffic of its own: the engine sends
    no `networks`, and the daemon says "not available" (never 0) naming the host and
    the engine. Podman 4.3 sends its one summed entry with zeros even here, which
    cannot be told from a quiet container: it reads 0, as the engine says."""
    cid = run_container("hostnet", "sleep", "3600", extra=("--net=host",), cli=engine_cli)
    wait_for(lambda: answer(daemon, "hinedock", "cpu", "-c", cid[:12]) != {},
             within=4 * PACE[engine_cli] + 10, what="its first figures")
    r = daemon.run("hinedock", "net", "-c", cid[:12])
    if engine_cli == "podman":
        assert r.returncode == 0 and values(assert_hinemos_lines(r.stdout)) == {
            f"nw_rxkb:{cid[:8]}": 0.0, f"nw_txkb:{cid[:8]}": 0.0}
    else:
        assert r.returncode == 0 and r.stdout == "", r.stdout
        assert "network is not available" in r.stderr and "docker_host1" in r.stderr
        assert ENGINES[engine_cli].family in r.stderr
    docker("rm", "-f", cid, cli=engine_cli)


def actions_since(cli: str, since: float, cid: str) -> list[str]:
    """The engine's own record of the container's events since `since`."""
    action = "{{.Status}}" if ENGINES[cli].cli[0] == "podman" else "{{.Action}}"
    return docker("events", "--since", str(int(since)), "--until", str(int(time.time()) + 1),
                  "--filter", f"container={cid}", "--format", action, cli=cli).split()


def test_processes_are_counted_without_running_anything_in_the_container(
        daemon: Daemon, engine_cli: str) -> None:
    cid = run_container("procs", "sh", "-c", "sleep 3601 & sleep 3602 & httpd -f -p 8080",
                        cli=engine_cli)
    wait_for(lambda: bool(answer(daemon, "hinedock", "proc", "-c", cid[:12], "--prog", "sleep")),
             what="the container in the daemon")
    since = time.time()
    time.sleep(1.1)  # the engine's event times are whole seconds here
    assert daemon.ok("hinedock", "proc", "-c", cid[:12], "--prog", "sleep") == [
        (f"sleep:{cid[:12]}", 2.0)]
    assert daemon.ok("MonitorDockerContainerProcess.py", "-c", cid[:12], "-prog", "httpd",
                     "-args", "-f -p 8080") == [(f"httpd -f -p 8080:{cid[:12]}", 1.0)]
    everyone = values(daemon.ok("MonitorDockerContainerProcess.py", "-prog", "sleep"))
    assert everyone[f"sleep:{cid[:12]}"] == 2  # no -c/-n: every running container
    time.sleep(1.1)
    assert not [a for a in actions_since(engine_cli, since, cid) if a.startswith("exec")]
    docker("rm", "-f", cid, cli=engine_cli)


def written_by_cgroup(cli: str, cid: str) -> int:
    """Ground truth on cgroup v2: the container's own io.stat, bytes written."""
    out = docker("exec", cid, "cat", "/sys/fs/cgroup/io.stat", cli=cli)
    return sum(int(f.split("=", 1)[1]) for f in out.split() if f.startswith("wbytes="))


def test_disk_writes_show(daemon: Daemon, engine_cli: str) -> None:
    """64 MB written (direct I/O) after the first sample, then quiet: the window's
    figure is what the container's cgroup counted (io.stat on v2)."""
    pace = PACE[engine_cli]
    cid = run_container("dd", "sh", "-c", f"sleep {3 * pace}; for i in 1 2 3 4; do dd "
                        "if=/dev/zero of=/tmp/f$i bs=1M count=16 oflag=direct 2>/dev/null; "
                        "done; sync; sleep 3600", cli=engine_cli)
    key = f"disk_write:{cid[:8]}"

    def figure() -> float:
        return answer(daemon, "hinedock", "disk", "-c", cid[:12], "--window", "900").get(
            key, 0.0)

    if not ENGINES[engine_cli].in_vm:  # cgroup v1 here: the engine's own blkio lists
        time.sleep(6 * pace + 4)
        raw = engine_get(engine_cli, f"/v1.41/containers/{cid}/stats?stream=false") or {}
        entries = (raw.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
        pairs = values(daemon.ok("MonitorDockerContainerResourceDisk.py", "-c", cid[:12],
                                 "--write"))
        assert list(pairs) == [key]
        docker("rm", "-f", cid, cli=engine_cli)
        if not any(e.get("value") for e in entries):
            pytest.skip(f"{engine_cli} {engine_version(engine_cli)}: this kernel accounts "
                        "no block I/O per cgroup v1 (the engine's blkio lists are empty); "
                        "the VM's engines are checked against io.stat")
        assert pairs[key] > 1_000_000
        return
    wait_for(lambda: written_by_cgroup(engine_cli, cid) >= 64 << 20, within=120,
             what="64 MB in the container's io.stat")
    truth = written_by_cgroup(engine_cli, cid)
    wait_for(lambda: figure() >= 0.9 * truth, within=4 * pace + 10, what="the writes in figures")
    assert figure() == pytest.approx(truth, rel=0.1), (figure(), truth)
    docker("rm", "-f", cid, cli=engine_cli)


def test_lifecycle_is_reflected_in_states_and_streams(daemon: Daemon, engine_cli: str) -> None:
    cid = run_container("life", "sleep", "3600", cli=engine_cli)
    short = cid[:12]
    within = 4 * PACE[engine_cli] + 16

    def state() -> float | None:
        r = daemon.run("hinedock", "states", "-c", short)
        return assert_hinemos_lines(r.stdout)[0][1] if r.returncode == 0 else None

    def cpu_rc() -> int:
        return daemon.run("hinedock", "cpu", "-c", short, "--window", "60").returncode

    wait_for(lambda: state() == 0 and cpu_rc() == 0, within, what="running with stats")
    streams = daemon.status()["streams_open"]
    docker("pause", cid, cli=engine_cli)
    wait_for(lambda: state() == 1, what="paused")
    docker("unpause", cid, cli=engine_cli)
    docker("stop", "-t", "1", cid, cli=engine_cli)
    wait_for(lambda: state() == 4, what="exited")
    wait_for(lambda: daemon.status()["streams_open"] == int(streams) - 1,  # type: ignore[call-overload]
             what="its stats stream closed")
    r = daemon.run("hinedock", "cpu", "-c", short)
    assert r.returncode == 1 and "not running (exited)" in r.stderr and r.stdout == ""
    docker("start", cid, cli=engine_cli)
    wait_for(lambda: state() == 0 and cpu_rc() == 0, within, what="running again")
    docker("rm", "-f", cid, cli=engine_cli)
    wait_for(lambda: daemon.run("hinedock", "states", "-c", short).returncode == 1,
             what="removed")


def test_host_commands_and_report_defaults(daemon: Daemon, engine_cli: str) -> None:
    keep = run_container("keep", "sleep", "3600", cli=engine_cli)
    wait_started(daemon, keep)
    assert daemon.ok("MonitorDockerHostStatus.py") == [("Status", 0.0)]
    count = daemon.ok("MonitorDockerHostStatus.py", "--count")
    assert [k for k, _ in count] == ["running", "restarting", "paused", "exited"]
    assert dict(count)["running"] >= 1
    size = values(daemon.ok("MonitorDockerHostStatus.py", "-i", "docker_host1", "--size"))
    assert size["image"] > 1 << 20 and set(size) == {"image", "running", "restarting",
                                                     "paused", "exited"}  # busybox: 2 MB
    limit_cid = run_container("limited", "sleep", "3600", extra=("-m", "64m"), cli=engine_cli)
    wait_for(lambda: daemon.run("hinedock", "mem", "-c", limit_cid[:12]).returncode == 0,
             within=4 * PACE[engine_cli] + 10, what="memory figures")
    mem = daemon.ok("MonitorDockerContainerResourceMemory.py", "-n", f"{PREFIX}*")
    assert mem and all(k.startswith("host_mem_usage:") and 0 <= v < 100 for k, v in mem)
    detail = values(daemon.ok("MonitorDockerContainerResourceMemory.py", "-c", limit_cid[:12],
                              "--all"))
    figure = ENGINES[engine_cli].memory
    if engine_cli == "docker":
        assert {"rss", "total_rss", "cache"} <= set(detail)
    elif engine_cli == "docker26":
        assert {"anon", "file", "inactive_file"} <= set(detail)
    else:
        assert set(detail) == {"usage"}  # all Podman gives; nothing made up
    limit = values(daemon.ok("MonitorDockerContainerResourceMemory.py", "-c", limit_cid[:12],
                             "--container"))
    host = values(daemon.ok("MonitorDockerContainerResourceMemory.py", "-c", limit_cid[:12]))
    key = f"host_mem_usage:{limit_cid[:8]}"
    assert limit[key] >= host[key]  # a 64 MiB limit is smaller than the host
    expected = detail[figure] / (64 << 20) * 100
    assert limit[key] == pytest.approx(expected, abs=0.05)
    docker("rm", "-f", keep, limit_cid, cli=engine_cli)


@ON_DOCKER_ONLY
def test_client_errors_are_clear_and_print_nothing(daemon: Daemon) -> None:
    for cmd, args, message in [
        ("hinedock", ("cpu", "-c", "abc", "-n", "x"), "not both"),
        ("hinedock", ("cpu", "-i", "nosuchhost"), "unknown host"),
        ("hinedock", ("cpu", "-n", "no_such_container_xyz"), "no container matches"),
        ("MonitorDockerContainerResourceCpu.py", ("--with-host",), "SNMP"),
        ("MonitorDockerContainerProcess.py", ("-prog", "(unclosed"), "bad regular expression"),
        ("hinedock", ("cpu", "--window", "abc"), "window must be a number"),
        ("hinedock", ("cpu", "--bogus"), "unrecognised argument"),
        ("MonitorDockerHostStatus.py", ("--count", "--size"), "cannot be used together"),
        ("MonitorDockerContainerResourceMemory.py", ("--container", "--all"),
         "cannot be used together"),
    ]:
        r = daemon.run(cmd, *args)
        assert r.returncode == 1, (cmd, args, r)
        assert message in r.stderr, (cmd, args, r.stderr)
        assert r.stdout == ""
    r = subprocess.run([sys.executable, "-m", "hinedockd.client.cli", "cpu"],
                       capture_output=True, text=True,
                       env={**os.environ, "HINEDOCK_SOCKET": "/nonexistent/socket"})
    assert r.returncode == 1 and "cannot reach hinedockd" in r.stderr and r.stdout == ""


@ON_DOCKER_ONLY
def test_client_imports_only_what_it_needs(daemon: Daemon) -> None:
    # Measured against what the interpreter had already loaded (an editable install's
    # path finder loads `re` itself), so the check holds in any kind of install.
    code = ("import sys; before = set(sys.modules); "
            "from hinedockd.client import cli, compat; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) <= {"_socket", "hinedockd", "hinedockd.client",
                                     "hinedockd.client.args", "hinedockd.client.cli",
                                     "hinedockd.client.compat", "hinedockd.client.transport",
                                     # two constants, no imports of its own
                                     "hinedockd.deadlines",
                                     "hinedockd.messages", "hinedockd.messages.framing"}


def test_prometheus_endpoint(engine_cli: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    from tests.realparts import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    cid = run_container("prom", "sh", "-c", "yes > /dev/null", cli=engine_cli)

    def scrape() -> dict[str, list[tuple[dict[str, str], float]]]:
        text = urlopen(url, timeout=5).read().decode()
        return {f.name: [(s.labels, s.value) for s in f.samples]
                for f in text_string_to_metric_families(text)}

    for _ in start_daemon(tmp_path_factory.mktemp(f"hinedockd-prom-{engine_cli}"),
                          daemon_extra=f'prometheus = "127.0.0.1:{port}"',
                          host_url=ENGINE_URLS[engine_cli]):
        wait_for(lambda: any(labels.get("id") == cid[:12] for labels, _ in
                             scrape().get("hinedockd_container_cpu_percent", [])),
                 within=4 * PACE[engine_cli] + 16, what="the container in the scrape")
        metrics = scrape()
        assert ({"host": "docker_host1"}, 1.0) in metrics["hinedockd_host_connected"]
        busy = next(v for labels, v in metrics["hinedockd_container_cpu_percent"]
                    if labels["id"] == cid[:12])
        assert busy > 20  # a busy loop: about half of a 2-core host, host scale
        assert "hinedockd_containers" in metrics and "hinedockd_events" in metrics
        up = next(v for labels, v in metrics["hinedockd_container_uptime_seconds"]
                  if labels["id"] == cid[:12])
        assert up > 0 and ({"host": "docker_host1", "name": "hdt_prom", "id": cid[:12]},
                           0.0) in metrics["hinedockd_container_restarts"]

        # cAdvisor's names: the engine's cumulative CPU, whose rate over two samples is
        # the busy loop's one core (sample times from container_last_seen).
        def totals() -> tuple[float, float]:
            m = scrape()
            [(labels, cpu)] = [(labels, v) for labels, v
                               in m["container_cpu_usage_seconds"]
                               if labels["id"] == f"/docker/{cid}"]
            assert labels["name"] == "hdt_prom" and "busybox" in labels["image"], labels
            [seen] = [v for labels, v in m["container_last_seen"]
                      if labels["id"] == f"/docker/{cid}"]
            return cpu, seen

        cpu0, t0 = totals()
        later = t0 + 3 * PACE[engine_cli]
        wait_for(lambda: totals()[1] >= later,  # noqa: B023 - used within the iteration
                 within=8 * PACE[engine_cli] + 16, what="later samples")
        cpu1, t1 = totals()
        assert 0.5 < (cpu1 - cpu0) / (t1 - t0) < 1.3, (cpu0, cpu1, t0, t1)
    docker("rm", "-f", cid, cli=engine_cli)
    with pytest.raises(OSError):  # off with the daemon; and off by default
        urlopen(url, timeout=2)


def test_top_view(daemon: Daemon, engine_cli: str) -> None:
    cid = run_container("top1", "sleep", "3600", cli=engine_cli)
    wait_for(lambda: daemon.run("hinedock", "cpu", "-c", cid[:12], "--window", "60").returncode
             == 0, within=4 * PACE[engine_cli] + 16, what="figures for the container")
    r = daemon.run("hinedock", "top", "--once", "--window", str(int(5 * PACE[engine_cli])))
    assert r.returncode == 0, r.stderr
    header, *rows = r.stdout.splitlines()
    assert header.split()[:3] == ["CONTAINER", "NAME", "CPU"]
    row = next(line for line in rows if line.startswith(cid[:12]))
    assert row.split()[1] == "hdt_top1" and float(row.split()[2]) < 5
    assert header.split()[-3:] == ["HEALTH", "RESTARTS", "UP"]
    assert row.split()[-3:-1] == ["-", "0"]  # no health check, never restarted
    docker("rm", "-f", cid, cli=engine_cli)
