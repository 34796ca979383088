"""The packages build, and the DEB installs and runs from /opt/hinedockd: the daemon
checks the shipped config, the client and the report's commands answer --help."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0 or not shutil.which("dpkg-deb"):
        pytest.skip("building and installing the DEB needs root and dpkg (CI has both)")
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(["bash", str(ROOT / "packaging" / "build.sh"), str(out)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    yield out


def test_wheel_sdist_deb_rpm_are_built(packages: Path) -> None:
    names = {p.name for p in packages.iterdir()}
    assert {"hinedockd-0.1.0-py3-none-any.whl", "hinedockd-0.1.0.tar.gz"} <= names
    assert any(n.endswith(".deb") for n in names)
    if shutil.which("rpmbuild"):
        rpm = next(packages.glob("*.rpm"))
        listing = subprocess.run(["rpm", "-qpl", str(rpm)], capture_output=True, text=True)
        assert "/opt/hinedockd/bin/hinedockd" in listing.stdout
        assert "/lib/systemd/system/hinedockd.service" in listing.stdout


def test_the_deb_installs_and_runs(packages: Path) -> None:
    deb = next(packages.glob("*.deb"))
    r = subprocess.run(["dpkg", "-i", str(deb)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    try:
        check = subprocess.run(["/opt/hinedockd/bin/hinedockd", "--config",
                                "/etc/hinedockd/config.toml", "--check-config"],
                               capture_output=True, text=True)
        assert check.returncode == 0 and "OK" in check.stdout, check.stderr
        for cmd in ("/opt/hinedockd/bin/hinedock", "/opt/hinedockd/compat/"
                    "MonitorDockerHostStatus.py", "/opt/hinedockd/compat/JobDockerContainerRm.py"):
            r = subprocess.run([cmd, "--help"], capture_output=True, text=True)
            assert r.returncode == 0 and "usage" in r.stdout.lower(), (cmd, r.stderr)
        assert Path("/lib/systemd/system/hinedockd.service").exists()
        assert subprocess.run(["getent", "passwd", "hinedockd"]).returncode == 0
    finally:
        subprocess.run(["dpkg", "-r", "hinedockd"], capture_output=True)
    assert not Path("/opt/hinedockd/bin/hinedockd").exists()
