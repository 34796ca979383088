"""A component that dies of a bug ends the daemon (exit 1, so that systemd's
`Restart=on-failure` restarts it) with the component named in the log; a clean
stop exits 0. Each run is the real daemon as its own process, with one component's
loop replaced by one that raises; no engine or manager is needed (the engine URL
leads nowhere: a host whose engine is away is an expected failure, not a death)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.realparts import daemon_in, wait_for

# component name in the log -> the coroutine function whose failure is injected
# (the deepest loop of that component that is easy to name)
INJECT = {
    "host:docker_host1": "hinedockd.docker.host:Host._health_loop",
    "syslog": "hinedockd.messages.hub:SyslogHub._state_reports",
    "hinemos": "hinedockd.hinemos.sync:HostSync.run",
    "persist": "hinedockd.persist:Persister.run",
    "logs": "hinedockd.messages.containerlogs:ContainerLogs.run",
    "snmp:docker_host1": "hinedockd.snmp:SnmpSource.run",
    "watchdog": "hinedockd.app:watchdog",
}

RUN_WITH_FAULT = """
import asyncio, importlib, sys
from hinedockd import app
module_name, _, qualname = sys.argv[1].partition(":")
owner = importlib.import_module(module_name)
*path, name = qualname.split(".")
for part in path:
    owner = getattr(owner, part)

async def injected(*args, **kwargs):
    await asyncio.sleep(0.5)
    raise RuntimeError("injected fault in " + qualname)

setattr(owner, name, injected)
sys.exit(app.main(["--config", sys.argv[2]]))
"""


def config(d: Path) -> Path:
    """docker_host1 at an address where no engine answers, an SNMP agent likewise,
    a file syslog target with a state report every second: every component runs."""
    return daemon_in(d, host_url="tcp://127.0.0.1:1", daemon_extra="""
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


@pytest.fixture(scope="module")
def deaths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Death]:
    """One daemon per component, all at once (each takes a second or two to start)."""
    runs = {}
    for component, target in INJECT.items():
        d = tmp_path_factory.mktemp("died")
        proc = subprocess.Popen([sys.executable, "-c", RUN_WITH_FAULT, target,
                                 str(config(d))], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        runs[component] = (proc, d)
    out = {}
    for component, (proc, d) in runs.items():
        log, _ = proc.communicate(timeout=60)
        out[component] = Death(proc.returncode, log, d / "hinedockd.sock")
    return out


@pytest.mark.parametrize("component", sorted(INJECT))
def test_a_component_that_dies_ends_the_daemon(component: str,
                                               deaths: dict[str, Death]) -> None:
    death = deaths[component]
    assert death.returncode == 1, death.log
    died = [line for line in death.log.splitlines() if "component died; stopping" in line]
    assert len(died) == 1, death.log
    assert f"component={component}" in died[0]
    assert "RuntimeError: injected fault in" in death.log  # the traceback is logged
    assert f"because='{component} died'" in death.log
    assert not death.socket.exists()


def test_a_clean_stop_exits_0_and_removes_the_socket(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "hinedockd.app", "--config",
                             str(config(tmp_path))], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: (tmp_path / "hinedockd.sock").exists(), what="the socket")
        time.sleep(2)  # long enough for every loop to have run once
        assert proc.poll() is None, "the daemon ended by itself"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "hinedockd stopping" in out and "because='asked to'" in out
    assert "component" not in out  # no component died or ended
    assert not (tmp_path / "hinedockd.sock").exists()
