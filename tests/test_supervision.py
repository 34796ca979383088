"""A component that dies of a bug ends the daemon (exit 1, so that systemd's
`Restart=on-failure` restarts it) with the component named in the log; a clean
stop exits 0. Each run is the real daemon as its own process, with one component's
loop replaced by one that raises; no engine or manager is needed (the engine URL
leads nowhere: a host whose engine is away is an expected failure, not a death).

One failure policy: the loops that retry (the events stream, a stats stream, a
Hinemos pass, an SNMP poll) retry only the failures they name (EngineError,
HinemosError and HinemosUnavailable, SnmpError); a bug raised inside one, or in a
host's observer or a stream's line handler, reaches the supervisor as well. Those
runs need a connected engine: the fake engine, in a process of its own."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.realparts import daemon_in, wait_for

# component name in the log -> the coroutine function whose failure is injected
# (the deepest loop of that component that is easy to name)
INJECT = {
    "host:docker_host1": "hinedockd.docker.connect:Pings.run",
    "syslog": "hinedockd.messages.hub:SyslogHub._state_reports",
    "hinemos": "hinedockd.hinemos.sync:HostSync.run",
    "persist": "hinedockd.persist:Persister.run",
    "logs": "hinedockd.messages.containerlogs:ContainerLogs.run",
    "snmp:docker_host1": "hinedockd.snmp:SnmpSource.run",
    "watchdog": "hinedockd.app:watchdog",
}

# Inside the loops that retry: test id -> (component, the function that raises), and
# whether it needs the engine connected.
INSIDE = {
    "events stream connect": ("host:docker_host1", "hinedockd.docker.engine:Engine.negotiate",
                              False),
    "snmp poll": ("snmp:docker_host1", "hinedockd.snmp:SnmpSource.poll_once", False),
    "hinemos pass": ("hinemos", "hinedockd.hinemos.reconciler:Reconciler.reconcile", True),
    "host observer": ("host:docker_host1", "hinedockd.hinemos.sync:HostSync.connected", True),
    "stats stream line": ("host:docker_host1", "hinedockd.docker.stats:Samples.on_raw", True),
}

RUN_WITH_FAULT = """
import asyncio, importlib, inspect, os, sys
from hinedockd import app
module_name, _, qualname = sys.argv[1].partition(":")
owner = importlib.import_module(module_name)
*path, name = qualname.split(".")
for part in path:
    owner = getattr(owner, part)

async def injected(*args, **kwargs):
    while not os.path.exists(sys.argv[3]):  # the daemon started: its socket is there
        await asyncio.sleep(0.05)
    raise RuntimeError("injected fault in " + qualname)

def injected_sync(*args, **kwargs):
    raise RuntimeError("injected fault in " + qualname)

original = getattr(owner, name)
setattr(owner, name, injected if inspect.iscoroutinefunction(original) else injected_sync)
sys.exit(app.main(["--config", sys.argv[2]]))
"""


def config(d: Path, engine: str = "tcp://127.0.0.1:1") -> Path:
    """docker_host1 at an address where no engine answers (unless `engine` says one),
    an SNMP agent likewise, a file syslog target with a state report every second:
    every component runs. Stats streamed: the stream's handler is one of the places."""
    return daemon_in(d, host_url=engine, stats="stream", daemon_extra="""
log_target = "stdout"
state_report_seconds = 1
""", extra=f"""
[hosts.snmp]
port = 1
timeout_seconds = 0.2
retries = 0

[[syslog]]
target = "file://{d}/messages.log"
""").config


@dataclass
class Death:
    returncode: int
    log: str
    socket: Path


def run_all(tmp_path_factory: pytest.TempPathFactory,
            faults: dict[str, tuple[str, str]]) -> dict[str, Death]:
    """One daemon per fault (name -> (the function that raises, its config's engine)),
    all at once (each takes a second or two to start)."""
    runs = {}
    for key, (target, engine) in faults.items():
        d = tmp_path_factory.mktemp("died")
        proc = subprocess.Popen([sys.executable, "-c", RUN_WITH_FAULT, target,
                                 str(config(d, engine)), str(d / "hinedockd.sock")],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        runs[key] = (proc, d)
    out = {}
    for key, (proc, d) in runs.items():
        try:
            log, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # it lived on: the assertions say so, with its log
            proc.kill()
            log, _ = proc.communicate()
        out[key] = Death(proc.returncode, log, d / "hinedockd.sock")
    return out


@pytest.fixture(scope="module")
def deaths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Death]:
    return run_all(tmp_path_factory, {c: (t, "tcp://127.0.0.1:1") for c, t in INJECT.items()})


@pytest.fixture(scope="module")
def engine_url() -> Iterator[str]:
    """The fake engine (two running containers) in a process of its own."""
    proc = subprocess.Popen([sys.executable, "-m", "hinedockd.testing", "fake-engine",
                             "--port", "0", "--containers", "2"], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    try:
        yield next(w for w in proc.stdout.readline().split() if w.startswith("tcp://"))
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture(scope="module")
def inner_deaths(tmp_path_factory: pytest.TempPathFactory, engine_url: str
                 ) -> dict[str, Death]:
    return run_all(tmp_path_factory, {
        key: (target, engine_url if connected else "tcp://127.0.0.1:1")
        for key, (_, target, connected) in INSIDE.items()})


@pytest.mark.parametrize("component", sorted(INJECT))
def test_a_component_that_dies_ends_the_daemon(component: str,
                                               deaths: dict[str, Death]) -> None:
    assert_died(deaths[component], component)


@pytest.mark.parametrize("place", sorted(INSIDE))
def test_a_bug_inside_a_retrying_loop_ends_the_daemon(place: str,
                                                      inner_deaths: dict[str, Death]) -> None:
    """Before, each of these was logged and retried for ever (a Hinemos pass every
    backoff, a stream reopened), the daemon looking healthy."""
    assert_died(inner_deaths[place], INSIDE[place][0])


def assert_died(death: Death, component: str) -> None:
    assert death.returncode == 1, death.log
    died = [line for line in death.log.splitlines() if "component died; stopping" in line]
    assert len(died) == 1, death.log
    assert f"component={component}" in died[0]
    assert "RuntimeError: injected fault in" in death.log  # the traceback is logged
    assert f"because='{component} died'" in death.log
    assert not death.socket.exists()


def test_a_clean_stop_exits_0_and_removes_the_socket(tmp_path: Path) -> None:
    out_file = tmp_path / "out.log"
    with out_file.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "hinedockd.app", "--config",
                                 str(config(tmp_path))], stdout=sink, stderr=subprocess.STDOUT)
    try:
        # The loops that retry have met their expected failures: the engine tried
        # twice (its backoff ran), SNMP polled.
        wait_for(lambda: (text := out_file.read_text()).count("events stream lost") >= 2
                 and "SNMP poll failed" in text, what="the retrying loops at work")
        assert proc.poll() is None, "the daemon ended by itself"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = out_file.read_text()
    assert proc.returncode == 0, out
    assert "hinedockd stopping" in out and "because='asked to'" in out
    assert "component" not in out  # no component died or ended
    assert not (tmp_path / "hinedockd.sock").exists()
