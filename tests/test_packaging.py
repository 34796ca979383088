"""The packages an operator installs offline: built twice (releases 1 and 2), then the
RPM (with this machine's rpm, `--nodeps`: python3.11 is here under Debian's package
name) and the DEB are each installed into the real filesystem inside a network
namespace of their own (no network at all, so the post-install script can only use the
wheels the package carries), upgraded, and removed; the config and the state directory
outlive both. A failed environment build leaves the one in use as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.root, pytest.mark.slow]
TOP = Path("/opt/hinedockd")
CONFIG = Path("/etc/hinedockd/config.toml")
STATE = Path("/var/lib/hinedockd")


def sh(*argv: str, offline: bool = False, check: bool = True,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = ("unshare", "--net", *argv) if offline else argv
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0 or not check, (argv, r.stdout[-2000:], r.stderr[-3000:])
    return r


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Path]]:
    if os.geteuid() != 0 or not shutil.which("dpkg-deb") or not shutil.which("unshare"):
        pytest.skip("building and installing the packages needs root, dpkg and unshare "
                    "(CI has them)")
    out = {}
    for release in (1, 2):
        out[release] = tmp_path_factory.mktemp(f"dist{release}")
        sh("bash", str(ROOT / "packaging" / "build.sh"), str(out[release]),
           env={"RELEASE": str(release)})
    yield out


@pytest.fixture
def clean_machine() -> Iterator[None]:
    """Neither package installed before or after, the config and state as they were."""
    def purge() -> None:
        sh("dpkg", "--purge", "hinedockd", check=False)
        sh("rpm", "-e", "--nodeps", "hinedockd", check=False)
        CONFIG.unlink(missing_ok=True)
        (STATE / "kept").unlink(missing_ok=True)

    purge()
    yield
    purge()


def installed_and_working(python_tag: str) -> Path:
    """What an operator checks after installing: the environment from the wheelhouse,
    the shipped config checks out, the client and the report's commands answer."""
    venv = TOP / "current"
    assert venv.is_symlink() and (venv / "bin" / "hinedockd").exists()
    assert list((venv / "lib").glob(f"python{python_tag}*/site-packages/aiohttp"))
    check = sh(str(TOP / "bin" / "hinedockd"), "--config", str(CONFIG), "--check-config")
    assert "OK" in check.stdout
    for cmd in ("bin/hinedock", "compat/MonitorDockerHostStatus.py",
                "compat/JobDockerContainerRm.py"):
        assert "usage" in sh(str(TOP / cmd), "--help").stdout.lower(), cmd
    assert oct(CONFIG.stat().st_mode & 0o777) == "0o640"
    assert sh("getent", "passwd", "hinedockd").returncode == 0
    return venv.resolve()


def edit_config_and_state() -> None:
    with CONFIG.open("a") as f:
        f.write("# the operator's edit\n")
    (STATE / "kept").write_text("cursor")


def kept_config_and_state() -> None:
    assert CONFIG.read_text().endswith("# the operator's edit\n")
    assert (STATE / "kept").read_text() == "cursor"


def test_what_the_builds_say_they_are(builds: dict[int, Path]) -> None:
    names = {p.name for p in builds[1].iterdir()}
    assert {"hinedockd-0.1.0-py3-none-any.whl", "hinedockd-0.1.0.tar.gz",
            "hinedockd_0.1.0-1_amd64.deb"} <= names
    if shutil.which("rpmbuild"):
        assert {"hinedockd-0.1.0-1.el8.x86_64.rpm", "hinedockd-0.1.0-1.el9.x86_64.rpm"} <= names
        rpm = builds[1] / "hinedockd-0.1.0-1.el9.x86_64.rpm"
        assert "python3.11" in sh("rpm", "-qpR", str(rpm)).stdout.split()
        listing = sh("rpm", "-qpl", str(rpm)).stdout.split()
        assert "/usr/lib/systemd/system/hinedockd.service" in listing
        wheels = [f for f in listing if f.startswith(f"{TOP}/wheelhouse/")]
        assert any("aiohttp" in w and "cp311-cp311-manylinux" in w for w in wheels), wheels
        assert "/etc/hinedockd/config.toml" not in listing  # made once, never replaced
    info = sh("dpkg-deb", "-I", str(builds[1] / "hinedockd_0.1.0-1_amd64.deb")).stdout
    assert "Depends: python3 (>= 3.11) | python3.11" in info
    files = sh("dpkg-deb", "-c", str(builds[1] / "hinedockd_0.1.0-1_amd64.deb")).stdout
    assert "cp311-cp311-manylinux" in files and "cp312-cp312-manylinux" in files


@pytest.mark.skipif(not shutil.which("rpm"), reason="needs the rpm tool")
def test_the_rpm_installs_offline_upgrades_and_leaves_config_and_state(
        builds: dict[int, Path], clean_machine: None) -> None:
    rpm1 = builds[1] / "hinedockd-0.1.0-1.el9.x86_64.rpm"
    rpm2 = builds[2] / "hinedockd-0.1.0-2.el9.x86_64.rpm"
    sh("rpm", "-i", "--nodeps", str(rpm1), offline=True)
    first = installed_and_working("3.11")
    edit_config_and_state()
    sh("rpm", "-U", "--nodeps", str(rpm2), offline=True)
    second = installed_and_working("3.11")
    assert second != first and first.exists()  # the one before kept for its running daemon
    assert sh("rpm", "-q", "hinedockd").stdout.strip() == "hinedockd-0.1.0-2.el9.x86_64"
    kept_config_and_state()
    sh("rpm", "-e", "hinedockd")
    assert not TOP.exists()
    kept_config_and_state()


def test_the_deb_installs_offline_upgrades_and_leaves_config_and_state(
        builds: dict[int, Path], clean_machine: None) -> None:
    sh("dpkg", "-i", str(builds[1] / "hinedockd_0.1.0-1_amd64.deb"), offline=True)
    first = installed_and_working("3.11")
    edit_config_and_state()
    sh("dpkg", "-i", str(builds[2] / "hinedockd_0.1.0-2_amd64.deb"), offline=True)
    assert installed_and_working("3.11") != first
    kept_config_and_state()
    sh("dpkg", "-r", "hinedockd")
    assert not (TOP / "current").exists() and not (TOP / "venvs").exists()
    kept_config_and_state()
    sh("dpkg", "--purge", "hinedockd")
    assert not CONFIG.exists() and (STATE / "kept").exists()  # purge: the config goes too


def test_a_failed_environment_build_leaves_the_one_in_use(
        builds: dict[int, Path], clean_machine: None, tmp_path: Path) -> None:
    sh("dpkg", "-i", str(builds[1] / "hinedockd_0.1.0-1_amd64.deb"), offline=True)
    in_use = installed_and_working("3.11")
    # A copy of the installed tree whose wheelhouse lacks one dependency.
    top = tmp_path / "top"
    shutil.copytree(TOP / "wheelhouse", top / "wheelhouse")
    for wheel in (top / "wheelhouse").glob("yarl-*"):
        wheel.unlink()
    (top / "current").symlink_to(in_use)
    r = sh(str(TOP / "libexec" / "make-venv"), offline=True, check=False,
           env={"HINEDOCKD_TOP": str(top)})
    assert r.returncode == 1 and "left as it was" in r.stderr, r.stderr
    assert (top / "current").resolve() == in_use
    assert not list((top / "venvs").iterdir())  # the half-made one is gone
