"""The systemd side: the unit verifies, and the daemon speaks the notify protocol
(READY, STATUS, WATCHDOG) to $NOTIFY_SOCKET, here a datagram socket of the test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.realparts import DOCKER_SOCK


def test_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (ROOT / "systemd" / "hinedockd.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "NoNewPrivileges=yes" in unit
    # The packaged path does not exist here: point ExecStart at this environment's daemon.
    exe = Path(sys.executable).parent / "hinedockd"
    def problems(text: str) -> list[str]:
        copy = tmp_path / "hinedockd.service"
        copy.write_text(text.replace("/opt/hinedockd/bin/hinedockd", str(exe)))
        r = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
        return [line for line in r.stderr.splitlines() if r.returncode or any(
            word in line for word in ("Unknown", "Invalid", "Failed", "not executable"))]

    assert problems(unit) == []
    # The check can fail: a misspelt key is caught.
    assert problems(unit.replace("Restart=on-failure", "Restart=on-failure\nRestrat=always"))


def test_notify_protocol(engine: None, tmp_path: Path) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(20)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[daemon]
socket = "{tmp_path}/h.sock"
state_dir = "{tmp_path}/state"
[[hosts]]
facility_id = "docker_host1"
url = "unix://{DOCKER_SOCK}"
address = "127.0.0.1"
""")
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen([sys.executable, "-m", "hinedockd.app", "--config", str(cfg)],
                            env=env, stdout=subprocess.DEVNULL)
    try:
        messages = [notify.recv(4096).decode() for _ in range(4)]
    finally:
        proc.terminate()
        proc.wait(15)
    assert messages[0].startswith("READY=1\nSTATUS=")
    assert sum("WATCHDOG=1" in m for m in messages) >= 2
    assert any("hosts connected" in m for m in messages)
    notify.close()
