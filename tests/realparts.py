"""Real parts for the end-to-end tests: the Docker engine (driven with its CLI), the
daemon as its own process, rsyslog as a real receiver."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hinedockd.client import transport
from tests.conftest import ROOT, assert_hinemos_lines, require_docker

PREFIX = "hdt_"
BIN = Path(sys.executable).parent
DOCKER_SOCK = "/var/run/docker.sock"
IMAGE = "localbusybox:latest"


PODMAN_SOCK = os.environ.get("HINEDOCK_PODMAN_SOCKET", "/run/podman-ci.sock")
# Today's Docker host (tests/vm/todays-host.sh): Debian 13, cgroup v2, Docker 26 and
# Podman 5 reached over TCP on loopback, as a remote host is reached from the manager.
VM_DOCKER = os.environ.get("HINEDOCK_VM_DOCKER", "tcp://127.0.0.1:23750")
VM_PODMAN = os.environ.get("HINEDOCK_VM_PODMAN", "tcp://127.0.0.1:23888")
VM_SNMP_PORT = int(os.environ.get("HINEDOCK_VM_SNMP_PORT", "16100"))


@dataclass(frozen=True)
class EngineUnderTest:
    """One of the engines the real-engine suites run on, named by its test parameter."""

    name: str  # docker, podman (this machine's), docker26, podman5 (the VM's)
    family: str  # "docker" or "podman": which engine it is, whatever its version
    url: str  # the daemon's [[hosts]] url for it
    cli: tuple[str, ...]  # its command line: the VM's Podman through Docker's CLI
    memory: str  # the key of `mem --detail` the memory figure is (README memory table)
    image: str  # the test image as the engine names it in lists (imported, not pulled)
    archive_owner: str  # a root-owned file's owner in the engine's tar (`tar -tv`)
    fixture: str  # the module fixture that says it is there (tests/conftest.py)
    in_vm: bool = False  # cgroup v2 there, v1 here


ENGINES = {e.name: e for e in (
    EngineUnderTest("docker", "docker", f"unix://{DOCKER_SOCK}", ("docker",), "rss", IMAGE,
                    "root/root", "engine"),
    # Podman's own CLI names an imported image localhost/…; its compatible API (used by
    # Docker's CLI) docker.io/library/…. Owners in a download's tar: names on Docker
    # 20.10, numbers on Docker 26 and Podman 4.3, the user's name only on Podman 5.4.
    EngineUnderTest("podman", "podman", f"unix://{PODMAN_SOCK}", ("podman",), "usage",
                    f"localhost/{IMAGE}", "0/0", "podman"),
    EngineUnderTest("docker26", "docker", VM_DOCKER, ("docker", "-H", VM_DOCKER), "anon",
                    IMAGE, "0/0", "vm_docker", True),
    EngineUnderTest("podman5", "podman", VM_PODMAN, ("docker", "-H", VM_PODMAN), "usage",
                    f"docker.io/library/{IMAGE}", "root/0", "vm_podman", True),
)}
ENGINE_URLS = {name: e.url for name, e in ENGINES.items()}


def ensure_image(cli: str = "docker") -> None:
    """No registry is reachable here: the test image is busybox-static as a root fs
    (`python -m tests.realparts` makes it for docker, and for podman where installed,
    as CI does before the tests; the VM's engines get it at their first test)."""
    argv = ENGINES[cli].cli
    have = subprocess.run([*argv, "images", "-q", IMAGE], capture_output=True, text=True,
                          check=True, timeout=120).stdout.strip()
    if have:
        return
    busybox = shutil.which("busybox") or "/bin/busybox"
    subprocess.run(["sh", "-c", f"""set -e; d=$(mktemp -d); mkdir -p $d/bin $d/tmp $d/root $d/www
        cp {busybox} $d/bin/busybox
        for c in sh ls cat sleep ps top find httpd yes dd echo tar wget sync; do
          ln -sf busybox $d/bin/$c; done
        tar -C $d -c . | {' '.join(argv)} import - {IMAGE} >/dev/null; rm -rf $d"""],
                   check=True, timeout=600)



def one_cpu(daemon: Daemon, name: str, *args: str) -> float:
    """`hinedock cpu -n NAME [ARGS]`: the one container's figure."""
    r = daemon.run("hinedock", "cpu", "-n", name, *args)
    assert r.returncode == 0, r.stderr
    return float(r.stdout.strip().rsplit(",", 1)[1])


# Where the engines' CLIs run: Podman's conmon writes a file `oom` into its working
# directory when a container is killed for memory (conmon's write_oom_files), which
# was the checkout's.
CLI_DIR = Path(tempfile.gettempdir()) / "hinedockd-cli"
CLI_DIR.mkdir(exist_ok=True)


def docker(*args: str, check: bool = True, cli: str = "docker") -> str:
    """The CLI of the engine named `cli` (ENGINES: `podman` for Podman's, the VM's
    through Docker's CLI with `-H`)."""
    e = ENGINES.get(cli)
    out = subprocess.run([*(e.cli if e else (cli,)), *args], capture_output=True, text=True,
                         timeout=600 if e and e.in_vm else 120, cwd=CLI_DIR)
    if check and out.returncode != 0:
        raise AssertionError(f"{cli} {' '.join(args)}: {out.stderr}")
    return out.stdout.strip()


def podman(*args: str, check: bool = True) -> str:
    return docker(*args, check=check, cli="podman")


def engine_get(cli: str, path: str, timeout: float = 30) -> Any:
    """GET one path of the engine's API (`/v1.41/...` or unversioned) with curl, as
    ground truth beside the daemon's reading; None when it does not answer."""
    url = ENGINES[cli].url
    where = (["--unix-socket", url.removeprefix("unix://"), f"http://d{path}"]
             if url.startswith("unix://") else [url.replace("tcp://", "http://") + path])
    r = subprocess.run(["curl", "-sf", "-m", str(timeout), *where], capture_output=True,
                       timeout=timeout + 10)
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def engine_version(cli: str) -> str | None:
    """The engine's own `Version` (None when it does not answer)."""
    doc = engine_get(cli, "/version", timeout=20)
    return str(doc["Version"]) if isinstance(doc, dict) and "Version" in doc else None


def engine_available(cli: str = "docker") -> Iterator[None]:
    """Module fixture body: skip (or fail under CI) without the engine; clean up after.
    `cli`: a name in ENGINES (Podman's Docker-compatible API must answer on PODMAN_SOCK;
    the VM's engines on VM_DOCKER and VM_PODMAN)."""
    e = ENGINES[cli]
    ok = bool(shutil.which(e.cli[0])) and engine_version(cli) is not None
    if e.in_vm:
        required = os.environ.get("HINEDOCK_REQUIRE_VM") == "1"
        how = f"start today's host: tests/vm/todays-host.sh start (its engine at {e.url})"
    elif cli == "docker":
        required, how = require_docker(), "start dockerd"
    else:
        required = os.environ.get("HINEDOCK_REQUIRE_PODMAN") == "1"
        how = f"start `podman system service` on {PODMAN_SOCK}"
    if not ok:
        if required:
            pytest.fail(f"{cli} is required here but its engine does not answer")
        pytest.skip(f"no {cli} engine here ({how}; see .ci/run)")
    ensure_image(cli)
    yield
    names = docker("ps", "-aq", "--filter", f"name=^{PREFIX}", cli=cli)
    if names:
        docker("rm", "-f", *names.split(), check=False, cli=cli)


@dataclass
class Daemon:
    socket: str
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, connected: bool = True) -> None:
        """Until it answers and (unless `connected` is False) its host is connected."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "hinedockd.app", "--config",
                                          str(self.config)], stdout=out,
                                         stderr=subprocess.STDOUT)
        wait_for(lambda: self.run("hinedock", "status", "--json").returncode == 0
                 and (not connected or bool(self.status()["connected"])),
                 what="daemon connected")

    def log_says(self, text: str) -> Callable[[], bool]:
        """A check for wait_for: the daemon's log holds `text`."""
        return lambda: text in self.log.read_text()

    def peak_rss_mb(self) -> float:
        """The most memory the daemon has held (VmHWM)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=15)

    def status_all(self) -> dict[str, Any]:
        r = self.run("hinedock", "status", "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)  # type: ignore[no-any-return]

    def api(self, path: str, **params: str) -> Any:
        """GET one local-API path through the client's transport; the JSON answer."""
        answer = transport.get(path, params, self.socket)
        assert answer.status == 200, answer.body[:300]
        return json.loads(answer.body)

    def env(self) -> dict[str, str]:
        return {**os.environ, "HINEDOCK_SOCKET": self.socket}

    def run(self, cmd: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        exe = [str(BIN / cmd)] if cmd != "hinedock" else [sys.executable, "-m",
                                                          "hinedockd.client.cli"]
        return subprocess.run([*exe, *args], capture_output=True, text=True, env=self.env(),
                              timeout=timeout)

    def ok(self, cmd: str, *args: str) -> list[tuple[str, float]]:
        r = self.run(cmd, *args)
        assert r.returncode == 0, f"{cmd} {args}: rc={r.returncode} {r.stderr}"
        return assert_hinemos_lines(r.stdout)

    def status(self) -> dict[str, object]:
        r = self.run("hinedock", "status", "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["hosts"][0]  # type: ignore[no-any-return]


def wait_for(check: Callable[[], bool], within: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        time.sleep(0.2)


def wait_started(daemon: Daemon, cid: str) -> None:
    """Until the daemon reads the container running (state 0), not only there: Podman's
    events can lag its CLI by seconds, and one seen only created counts 0 running."""
    wait_for(lambda: daemon.run("hinedock", "states", "-c", cid[:12]).stdout.strip()
             == f"state:{cid[:12]},0", what="its start seen")


def daemon_in(d: Path, extra: str = "", daemon_extra: str = "",
              host_url: str = f"unix://{DOCKER_SOCK}", socket: str = "",
              stats: str = "stream") -> Daemon:
    """The daemon (not started) for one host, `docker_host1` (the local engine unless
    `host_url` says otherwise), with its config and state in `d` (its socket too,
    unless `socket` names one); `extra` follows the host's table (more of it, or
    [hinemos], [[syslog]] tables). Streamed unless `stats` says "poll" (the daemon's
    default): the suites watch changes second by second."""
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "config.toml"
    socket = socket or f"{d}/hinedockd.sock"
    cfg.write_text(f"""
[daemon]
socket = "{socket}"
state_dir = "{d}/state"
log_format = "console"
{daemon_extra}

[[hosts]]
facility_id = "docker_host1"
url = "{host_url}"
address = "127.0.0.1"
stats = "{stats}"
{extra}
""")
    return Daemon(socket, cfg, d / "daemon.log")


def hinemos_table(d: Path, api: str, url: str) -> str:
    """A [hinemos] table for a manager at `url`, its password file written in `d`."""
    (d / "password").write_text("hinemos\n")
    return f"""
[hinemos]
api = "{api}"
url = "{url}"
password_file = "{d}/password"
"""


def start_daemon(d: Path, extra: str = "", daemon_extra: str = "",
                 host_url: str = f"unix://{DOCKER_SOCK}", socket: str = "",
                 stats: str = "stream") -> Iterator[Daemon]:
    """Fixture body: the daemon as its own process on the local engine (or the one
    at `host_url`), config in `d`."""
    dm = daemon_in(d, extra, "retention_seconds = 900\n" + daemon_extra, host_url, socket,
                   stats)
    dm.start()
    try:
        yield dm
    finally:
        dm.stop()
        print(dm.log.read_text()[-3000:])


def run_container(name: str, *cmd: str, extra: tuple[str, ...] = (),
                  cli: str = "docker") -> str:
    docker("rm", "-f", PREFIX + name, check=False, cli=cli)
    return docker("run", "-d", "--name", PREFIX + name, *extra, IMAGE, *cmd, cli=cli)


# A test of a module on both engines whose subject does not depend on the engine (the
# client's own checks, a receiver's outage, dockerd's restart): once, on Docker.
ON_DOCKER_ONLY = pytest.mark.parametrize("engine_cli", ["docker"], indirect=True)


def engine_cli_fixture(request: pytest.FixtureRequest) -> str:
    """Fixture body for a module that runs on both engines: the engine's CLI name,
    after its own fixture (`engine` or `podman`) said it is there."""
    cli = str(request.param)
    request.getfixturevalue(ENGINES[cli].fixture)
    return cli



class HealthTimer:
    """Podman runs health checks from systemd timers, and this machine has no systemd:
    the test runs them itself every second, as the timer would (Docker runs its own)."""

    def __init__(self, cli: str, cid: str) -> None:
        self.cli, self.cid, self.done = cli, cid, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.wait(1.0):
            subprocess.run([self.cli, "healthcheck", "run", self.cid], capture_output=True,
                           timeout=30)

    def __enter__(self) -> HealthTimer:
        if self.cli == "podman":
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()


@dataclass(frozen=True)
class HealthCheck:
    """A container whose health check passes for its first 5 s, then fails."""

    command: tuple[str, ...] = ("sh", "-c", "echo ok > /tmp/h; sleep 5; echo bad > /tmp/h; "
                                "sleep 3600")
    options: tuple[str, ...] = ("--health-cmd", 'test "$(cat /tmp/h)" = ok',
                                "--health-interval", "1s", "--health-retries", "1")


CHECK = HealthCheck()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Rsyslog:
    """A real rsyslogd in the foreground, receiving UDP and TCP on one loopback port and
    writing each raw message (as received, control characters not escaped) to a file."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.port = free_port()
        self.file = workdir / "messages.log"
        self.conf = workdir / "rsyslog.conf"
        self.conf.write_text(f"""
global(workDirectory="{workdir}" parser.escapeControlCharactersOnReceive="off")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{self.port}")
input(type="imtcp" address="127.0.0.1" port="{self.port}")
template(name="raw" type="string" string="%rawmsg%\\n")
action(type="omfile" file="{self.file}" template="raw")
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        self.proc = subprocess.Popen([rsyslogd, "-n", "-f", str(self.conf), "-i",
                                      str(self.dir / "rsyslog.pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def listening() -> bool:
            import socket
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_for(listening, what="rsyslogd listening")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
            self.proc = None

    def lines(self) -> list[str]:
        return self.file.read_text(encoding="utf-8").splitlines() if self.file.exists() else []


ServiceT = TypeVar("ServiceT", "Rsyslog", "Snmpd")


def service_running(binary: str, service: Callable[[], ServiceT]) -> Iterator[ServiceT]:
    """Fixture body: start a real service (skipped where it is not installed, failed under
    CI, which installs it), stop it afterwards."""
    if not (shutil.which(binary) or Path(f"/usr/sbin/{binary}").exists()):
        if require_docker():
            pytest.fail(f"{binary} is not installed (.ci/run installs it)")
        pytest.skip(f"{binary} is not installed")
    s = service()
    s.start()
    try:
        yield s
    finally:
        s.stop()


def rsyslog_available(workdir: Path) -> Iterator[Rsyslog]:
    yield from service_running("rsyslogd", lambda: Rsyslog(workdir))


def restart_engine(while_down: Callable[[], None]) -> None:
    """Stop dockerd (its containers stop with it), run `while_down`, start it again with
    the command line .ci/run uses. Only where HINEDOCK_TEST_ENGINE_RESTART=1 says that
    this machine's engine may be restarted."""
    pid = int(Path("/var/run/docker.pid").read_text().strip())
    os.kill(pid, signal.SIGTERM)

    def stopped() -> bool:
        # A dockerd started by an earlier restart is this process's child: reap it, or
        # it stays in /proc as a zombie.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return not Path(f"/proc/{pid}").exists()

    wait_for(stopped, within=90, what="dockerd stopped")
    while_down()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / "hinedockd-test-dockerd.log", "ab")  # noqa: SIM115
    subprocess.Popen(["dockerd", "-H", "unix:///var/run/docker.sock"], stdout=log,
                     stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: subprocess.run(["docker", "info"], capture_output=True).returncode == 0,
             within=60, what="dockerd back")


class Snmpd:
    """A real net-snmp agent in the foreground on a loopback UDP port."""

    def __init__(self, workdir: Path, community: str = "public") -> None:
        self.dir, self.port = workdir, free_port()
        self.conf = workdir / "snmpd.conf"
        self.conf.write_text(f"rocommunity {community} 127.0.0.1\n"
                             f"agentaddress udp:127.0.0.1:{self.port}\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        snmpd = shutil.which("snmpd") or "/usr/sbin/snmpd"
        self.proc = subprocess.Popen([snmpd, "-f", "-Lo", "-C", "-c", str(self.conf), "-p",
                                      str(self.dir / "snmpd.pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # UDP: nothing to connect to; the agent needs a moment

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
            self.proc = None


def snmpd_available(workdir: Path) -> Iterator[Snmpd]:
    yield from service_running("snmpd", lambda: Snmpd(workdir))


NOBODY, NOGROUP = 65534, 65534
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"


def as_user(socket: str, argv: list[str], uid: int = NOBODY, gid: int = NOGROUP,
            **popen: Any) -> subprocess.Popen[str]:
    """`argv` after the system's Python, as another user (a reader: `nobody`, group
    `nogroup`), with the client's tree importable: the checkout may sit where nobody
    may not read (root's home), so the client, stdlib only, is copied beside the socket."""
    if os.geteuid() != 0:
        pytest.skip("runs a process as another user: needs root")
    tree = Path(socket).parent / "src"
    if not tree.exists():
        shutil.copytree(ROOT / "hinedockd", tree / "hinedockd",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for path in [tree, *tree.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    return subprocess.Popen([SYSTEM_PYTHON, *argv], text=True, cwd=tree, user=uid, group=gid,
                            extra_groups=[], env={"HINEDOCK_SOCKET": socket,
                                                  "PYTHONPATH": str(tree), "PATH": "/usr/bin"},
                            **popen)


def as_nobody(socket: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """The client (`hinedock ARGS`) run by a reader."""
    proc = as_user(socket, ["-m", "hinedockd.client.cli", *args], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


class StatusWatch:
    """Root's `hinedock status` asked every 0.2 s in a thread while an attack runs: the
    slowest answer, and the failures (the daemon must answer root within a second
    throughout)."""

    def __init__(self, socket: str) -> None:
        self.socket, self.slowest, self.asked = socket, 0.0, 0
        self.failures: list[str] = []
        self._done = threading.Event()
        self._stop_after_next = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:  # asked at once, then every 0.2 s, and once more at the end
            t = time.monotonic()
            try:
                answer = transport.get("/v1/status", {}, self.socket, timeout=5.0)
                if answer.status != 200:
                    self.failures.append(f"HTTP {answer.status}: {answer.body[:200]}")
            except transport.ClientError as e:
                self.failures.append(str(e))
            self.slowest = max(self.slowest, time.monotonic() - t)
            self.asked += 1
            if self._stop_after_next:
                return
            self._stop_after_next = self._done.wait(0.2)

    def __enter__(self) -> StatusWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def assert_prompt(self) -> None:
        assert self.asked >= 2 and not self.failures, (self.asked, self.failures[:5])
        assert self.slowest < 1.0, f"root's status took {self.slowest:.2f} s"


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


if __name__ == "__main__":
    ensure_image()
    if shutil.which("podman"):
        ensure_image("podman")
