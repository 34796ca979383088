"""Readers cannot harm (issue 29), for real: each attack a reader of the socket tried
against the daemon, reproduced against the daemon as its own process on the real
engine, with root's `hinedock status` asked every 0.2 s throughout (it must answer
within a second). The reader is `nobody` (group `nogroup`, the socket's group); the
job group is `daemon`, which the reader is not in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.realparts import (
    PREFIX,
    Daemon,
    StatusWatch,
    as_nobody,
    as_user,
    daemon_in,
    docker,
    open_fds,
    run_container,
    start_daemon,
    wait_for,
    wait_started,
)

PER_USER = 40
HEADER_SECONDS = 1.0


@pytest.fixture(scope="module")
def hostile(engine: None, tmp_path_factory: pytest.TempPathFactory,
            socket_home: Path) -> Iterator[Daemon]:
    yield from start_daemon(
        tmp_path_factory.mktemp("hostile"),
        daemon_extra=f'socket_group = "nogroup"\njob_groups = ["daemon"]\n'
                     f"max_connections_per_user = {PER_USER}\n"
                     f"request_header_seconds = {HEADER_SECONDS}\n",
        socket=str(socket_home / "hinedockd.sock"))


def daemon_pid(dm: Daemon) -> int:
    assert dm.proc is not None
    return dm.proc.pid


def test_a_backtracking_pattern_freezes_nothing(hostile: Daemon) -> None:
    """`--args '(?:.*){24}Z'` froze every answer and SIGTERM for minutes under Python's
    `re`; in RE2 it is one more answer. Patterns RE2 cannot run in linear time, and
    over-long ones, are the caller's clear error."""
    cid = run_container("hre", "httpd", "-f", "-p", "8080")
    wait_started(hostile, cid)
    with StatusWatch(hostile.socket) as watch:
        for _ in range(5):
            r = as_nobody(hostile.socket, "proc", "-c", cid[:12], "--args", "(?:.*){24}Z")
            assert (r.returncode, r.stdout) == (0, f"(?:.*){{24}}Z:{cid[:12]},0\n"), r.stderr
    watch.assert_prompt()
    r = as_nobody(hostile.socket, "proc", "-c", cid[:12], "--prog", "httpd", "--args", "-f.*")
    assert r.stdout.strip().endswith(",1"), r  # a fair pattern still counts
    r = as_nobody(hostile.socket, "proc", "-c", cid[:12], "--args", r"(a)\1")
    assert r.returncode == 1 and "RE2 syntax" in r.stderr and r.stdout == "", r
    r = as_nobody(hostile.socket, "proc", "-c", cid[:12], "--args", "a" * 300)
    assert r.returncode == 1 and "longer than 256" in r.stderr, r
    docker("rm", "-f", cid)


READER_HANDS_OVER = r"""
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["HINEDOCK_SOCKET"])
if os.fork():
    print(os.getpid(), flush=True)  # the connecting process: it leaves, its PID is free
    os._exit(0)
sys.stdin.readline()  # the child holds the socket until the PID has a new owner
s.sendall(b"POST /v1/exec?id=%s&arg=id HTTP/1.0\r\nHost: x\r\n\r\n")
answer = b""
while chunk := s.recv(65536):
    answer += chunk
print(answer.decode(errors="replace").split("\r\n")[0], flush=True)
"""


def take_pid(pid: int) -> subprocess.Popen[bytes]:
    """A process of the job group (`daemon`) with exactly `pid`, through ns_last_pid."""
    for _ in range(100):
        Path("/proc/sys/kernel/ns_last_pid").write_text(str(pid - 1))
        proc = subprocess.Popen(["sleep", "60"], user=1, group=1, extra_groups=[1])
        if proc.pid == pid:
            return proc
        proc.kill()
        proc.wait()
    raise AssertionError(f"could not start a process with PID {pid}")


def test_rights_come_from_the_connection_not_a_reused_pid(hostile: Daemon) -> None:
    """A reader connects, hands its socket to a child and exits; a job group member's
    process takes the PID the kernel recorded at connect. The reader's exec must still
    be the reader's: refused (before, it ran: the groups were read from /proc/<pid>)."""
    cid = run_container("hpid", "sleep", "3600")
    wait_started(hostile, cid)
    reader = as_user(hostile.socket, ["-c", READER_HANDS_OVER % cid[:12].encode()],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert reader.stdout is not None and reader.stdin is not None
    pid = int(reader.stdout.readline())
    reader.wait(timeout=10)  # reaped: the PID is free
    owner = take_pid(pid)
    try:
        assert "Groups:\t1" in Path(f"/proc/{pid}/status").read_text()
        reader.stdin.write("go\n")
        reader.stdin.flush()
        status = reader.stdout.readline().strip()
    finally:
        owner.kill()
        owner.wait()
    assert status.split(" ")[1] == "403", status
    assert "exit 0" not in hostile.log.read_text().split(cid[:12])[-1]
    docker("rm", "-f", cid)


FLOOD = r"""
import json, os, socket, sys, time
n = int(sys.argv[1])
socks = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.environ["HINEDOCK_SOCKET"])
    if i % 2:
        s.send(b"GET /v1/status HTTP/1.0\r\n")  # headers begun, never finished
    socks.append(s)
time.sleep(0.3)
seen = {"refused": 0, "closed": 0, "open": 0}
held = []
for s in socks:  # what the daemon said at once
    s.setblocking(False)
    try:
        s.recv(4096)  # a 503 line, then the end (or a reset, where the begun headers
    except BlockingIOError:  # were left unread)
        held.append(s)
    except OSError:
        seen["refused"] += 1
    else:
        seen["refused"] += 1
print("open", flush=True)
sys.stdin.readline()
end = time.monotonic() + 3 * float(sys.argv[2])
while time.monotonic() < end:  # trickle: a byte every 0.25 s on the begun ones
    for s in held[1::2]:
        try:
            s.send(b"X")
        except OSError:
            pass
    time.sleep(0.25)
for s in held:
    try:
        s.recv(4096)
        seen["closed"] += 1
    except BlockingIOError:
        seen["open"] += 1
    except OSError:
        seen["closed"] += 1
print(json.dumps(seen), flush=True)
"""


def test_a_flood_of_idle_and_trickling_connections_is_bounded(hostile: Daemon) -> None:
    """One reader opens 2,000 connections, half of them trickling their headers a byte
    at a time. Before, each held a descriptor until the process's limit was reached
    and root was locked out. Now the reader holds at most its allowance (the rest are
    refused at once), each is closed when its headers have not come within the
    deadline, and root's status answers throughout."""
    pid = daemon_pid(hostile)
    before = open_fds(pid)
    n = 2000
    with StatusWatch(hostile.socket) as watch:
        flood = as_user(hostile.socket, ["-c", FLOOD, str(n), str(HEADER_SECONDS)],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert flood.stdout is not None and flood.stdin is not None
        assert flood.stdout.readline().strip() == "open"
        held = open_fds(pid) - before
        flood.stdin.write("go\n")
        flood.stdin.flush()
        seen = json.loads(flood.stdout.readline())
        flood.wait(timeout=10)
    watch.assert_prompt()
    assert held <= PER_USER + 5, f"the daemon held {held} more descriptors"
    assert seen["open"] == 0, seen  # every one ended by the daemon: refused or timed out
    assert seen["refused"] >= n - 3 * PER_USER, seen
    wait_for(lambda: open_fds(pid) <= before + 2, within=10, what="descriptors released")
    assert "connection refused" in hostile.log.read_text()


BURST = r"""
import os, socket, sys
socks = []
for _ in range(int(sys.argv[1])):  # as fast as the kernel takes them, no retry
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)  # as the client: non-blocking underneath, so a full queue is EAGAIN
    s.connect(os.environ["HINEDOCK_SOCKET"])
    s.sendall(b"GET /v1/status HTTP/1.0\r\nHost: x\r\n\r\n")
    socks.append(s)
ok = 0
for s in socks:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    ok += data.split(b" ", 2)[1] == b"200"
print(ok, flush=True)
"""


def test_a_minute_burst_of_clients_is_answered(hostile: Daemon) -> None:
    """300 clients started on the same second (a manager's custom monitors on the
    minute): 117 were refused by the old listen queue of 128. Now 250 connects in a
    tight loop with no retry all get in (as root, within its own allowance), and 300
    real client processes of the reader all answer."""
    burst = subprocess.run([sys.executable, "-c", BURST, "250"],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "HINEDOCK_SOCKET": hostile.socket})
    assert burst.stdout.strip() == "250", burst.stderr[-2000:]
    clients = [as_user(hostile.socket, ["-m", "hinedockd.client.cli", "host", "count"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(300)]
    failed = []
    for c in clients:
        _, err = c.communicate(timeout=120)
        if c.returncode != 0:
            failed.append(err.strip())
    assert not failed, f"{len(failed)} of 300 failed: {failed[:3]}"


def test_an_abandoned_exec_is_released(hostile: Daemon) -> None:
    """A client that gives up on `job exec -- sleep 3600` (killed) leaves nothing held:
    its task and engine connection go, and the audit says so."""
    cid = run_container("hexec", "sleep", "3600")
    wait_started(hostile, cid)
    pid = daemon_pid(hostile)
    before = open_fds(pid)
    execs = [subprocess.Popen([sys.executable, "-m", "hinedockd.client.cli",
                               "job", "exec", "-c", cid[:12], "--", "sleep", "3600"],
                              env=hostile.env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(10)]

    started = f"container={cid[:12]}"

    def running() -> int:
        return sum(1 for line in hostile.log.read_text().splitlines()
                   if started in line and "result=started" in line)

    def sleeping() -> int:  # the container's own `sleep 3600` and the execs' ones
        return docker("top", cid).count("sleep 3600")

    wait_for(lambda: running() >= 10 and sleeping() >= 11, within=30,
             what="the execs running in the container")
    for e in execs:
        e.send_signal(signal.SIGKILL)
        e.wait()
    wait_for(lambda: open_fds(pid) <= before + 1, within=15,
             what=f"descriptors released ({open_fds(pid)} against {before})")
    wait_for(lambda: hostile.log.read_text().count("abandoned: the caller left") >= 10,
             within=10, what="the abandonments audited")
    docker("rm", "-f", cid)



def test_a_download_cannot_be_redirected_by_planted_symlinks(hostile: Daemon,
                                                            tmp_path: Path) -> None:
    """Another user plants symlinks to a file of root's in a download directory it may
    write (not sticky, so the kernel's protected_symlinks does not apply): at the old
    partial names (`<target>.<pid>.part` for the next PIDs) and at the target itself.
    Root's download writes its archive and never the victim; a target that is a link
    fails that container's job."""
    cid = run_container("hdl", "sleep", "3600")
    wait_started(hostile, cid)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    dest = Path(hostile.socket).parent / "dl"
    dest.mkdir()
    dest.chmod(0o777)
    target = dest / f"{PREFIX}hdl_etc.tar"
    first = int(Path("/proc/sys/kernel/ns_last_pid").read_text()) + 1
    for pid in range(first, first + 400):
        link = dest / f"{target.name}.{pid}.part"
        link.symlink_to(victim)
        os.lchown(link, 65534, 65534)
    r = hostile.run("hinedock", "job", "download", "-c", cid[:12], "/etc", str(dest))
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious\n"
    assert target.is_file() and not target.is_symlink()
    assert "hostname" in r.stdout  # the listing of the archive that was written
    target.unlink()
    target.symlink_to(victim)
    for cmd in (("hinedock", "job", "download", "--force"), ("FileDockerContainerDownload.py",)):
        r = hostile.run(*cmd, "-c", cid[:12], "/etc", str(dest))
        assert r.returncode in (1, 9) and "symbolic link" in r.stderr, (cmd, r)
        assert victim.read_text() == "precious\n" and target.is_symlink()
    assert not list(dest.glob(".*.part"))  # nothing left behind
    docker("rm", "-f", cid)


class NotFound(BaseHTTPRequestHandler):
    """Every path 404, as a web server at a wrong `[hinemos] url` answers."""

    def do_POST(self) -> None:
        self.send_error(404)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


def test_credentials_in_urls_are_never_shown(engine: None, tmp_path: Path,
                                             socket_home: Path) -> None:
    """A Hinemos URL and a custom trap URL written with `user:password@`, the manager's
    URL wrong (every path 404: the REST backend's UrlNotFound error quotes the URL): a
    reader's `hinedock status` (table and JSON), the daemon's log and `--check-config`
    never show a password."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    (tmp_path / "password").write_text("hinemos\n")
    extra = f"""
[hinemos]
api = "rest"
url = "http://admin:s3cr3tA@127.0.0.1:{port}/HinemosWeb/api"
password_file = "{tmp_path}/password"
[hinemos.customtrap]
url = "http://trap:s3cr3tB@127.0.0.1:{port}/"
interval_seconds = 10
"""
    try:
        for dm in start_daemon(tmp_path / "d", extra=extra, socket=str(socket_home / "c.sock"),
                               daemon_extra='socket_group = "nogroup"\n'):
            log = dm.log
            wait_for(dm.log_says("no such URL"), within=30, what="the manager's URL refused")
            table = as_nobody(dm.socket, "status")
            doc = as_nobody(dm.socket, "status", "--json")
            assert table.returncode == 0 and doc.returncode == 0, (table, doc)
            assert f"http://***@127.0.0.1:{port}/" in table.stdout
            assert f"http://***@127.0.0.1:{port}/" in doc.stdout
            assert f"http://***@127.0.0.1:{port}/HinemosWeb/api" in log.read_text()
            for text in (table.stdout, doc.stdout, log.read_text()):
                assert "s3cr3t" not in text
    finally:
        server.shutdown()
    check = subprocess.run([sys.executable, "-m", "hinedockd.app", "--config",
                            str(tmp_path / "d" / "config.toml"), "--check-config"],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "s3cr3t" not in check.stdout + check.stderr, check


EXTREMES_DAEMON = """
retention_seconds = 86400
default_window_seconds = 86400
size_cache_seconds = 1000000000
stats_silence_seconds = 1e9
relist_seconds = 1000000000
state_report_seconds = 1000000000
max_connections = 1000000000
max_connections_per_user = 1000000000
request_header_seconds = 1e9
restart_loop_count = 1000000000
restart_loop_seconds = 86400
"""
EXTREMES_HOST = """
poll_interval_seconds = 1e9
poll_concurrency = 1000000000
[hosts.snmp]
port = 65535
poll_seconds = 1e9
timeout_seconds = 1e9
retries = 1000000000
[hinemos]
full_sync_seconds = 1000000000
timeout_seconds = 1e9
[hinemos.customtrap]
url = "http://127.0.0.1:1/"
interval_seconds = 1000000000
timeout_seconds = 1e9
concurrency = 1000000000
queue_size = 1000000000
[[syslog]]
target = "file://{d}/messages.log"
queue_size = 1000000000
"""


def test_every_config_that_passes_the_check_starts(engine: None, tmp_path: Path) -> None:
    """Every number at the largest the check accepts: the daemon starts, connects and
    answers (before, `retention_seconds` of 10**19 passed the check and killed the host
    task; nan and inf passed; an unknown socket_group was a KeyError at start)."""
    cid = run_container("hmax", "sleep", "3600")
    d = tmp_path / "max"
    dm = daemon_in(d, extra=EXTREMES_HOST.format(d=d), daemon_extra=EXTREMES_DAEMON,
                   stats="poll")
    check = subprocess.run([sys.executable, "-m", "hinedockd.app", "--config",
                            str(dm.config), "--check-config"], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    try:
        dm.start()
        wait_started(dm, cid)
        r = dm.run("hinedock", "cpu", "-c", cid[:12])
        assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r
        assert dm.proc is not None and dm.proc.poll() is None
        assert "component died" not in dm.log.read_text()
    finally:
        dm.stop()
    docker("rm", "-f", cid)


def test_a_certificate_that_does_not_load_fails_the_check(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[[hosts]]\nfacility_id = "h"\nurl = "https://10.0.0.1:2376"\n'
                   f'address = "10.0.0.1"\ntls_ca = "{bad}"\n')
    r = subprocess.run([sys.executable, "-m", "hinedockd.app", "--config", str(cfg),
                        "--check-config"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "hosts[0].tls_ca/tls_cert/tls_key: cannot load" in r.stderr, r
    assert "Traceback" not in r.stderr
