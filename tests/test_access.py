"""Two levels on the daemon's socket, for real: a member of the socket's group (the
Hinemos agent's user) reads figures and cannot start a job; root can; so can a member
of `[daemon] job_groups`. The reader is `nobody` (group `nogroup`), running the client,
which is stdlib only, with the system's Python from the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, assert_hinemos_lines
from tests.realparts import Daemon, docker, run_container, start_daemon, wait_started

NOBODY, NOGROUP = 65534, 65534
PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A directory `nobody` may enter (pytest's own are root's alone)."""
    d = Path(tempfile.mkdtemp(prefix="hinedockd-access-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0:
        pytest.skip("runs the client as another user: needs root")
    # The checkout may sit where nobody may not read (root's home): the client, stdlib
    # only, is copied beside the socket.
    tree = Path(socket).parent / "src"
    if not tree.exists():
        shutil.copytree(ROOT / "hinedockd", tree / "hinedockd",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for path in [tree, *tree.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    return subprocess.run([PYTHON, "-m", "hinedockd.client.cli", *args], capture_output=True,
                          text=True, timeout=30, cwd=tree, user=NOBODY, group=NOGROUP,
                          extra_groups=[], env={"HINEDOCK_SOCKET": socket,
                                                "PYTHONPATH": str(tree), "PATH": "/usr/bin"})


def daemon(d: Path, socket_dir: Path, job_groups: str = "") -> Iterator[Daemon]:
    return start_daemon(d, daemon_extra=f'socket_group = "nogroup"\n{job_groups}',
                        socket=str(socket_dir / "hinedockd.sock"))


def test_a_reader_reads_and_cannot_run_a_job(engine: None, tmp_path: Path,
                                             socket_dir: Path) -> None:
    cid = run_container("acc", "sleep", "3600")
    for dm in daemon(tmp_path, socket_dir):
        wait_started(dm, cid)
        r = as_nobody(dm.socket, "states", "-c", cid[:12])
        assert r.returncode == 0, r.stderr
        assert assert_hinemos_lines(r.stdout) == [(f"state:{cid[:12]}", 0.0)]
        for job in (("job", "stop", "-c", cid[:12], "-t", "1"),
                    ("job", "exec", "-c", cid[:12], "--", "id"),
                    ("job", "download", "-c", cid[:12], "/etc", str(socket_dir))):
            r = as_nobody(dm.socket, *job)
            assert r.returncode == 1 and "jobs need root" in r.stderr, (job, r)
            assert r.stdout == ""
        assert docker("inspect", "-f", "{{.State.Running}}", cid) == "true"
        assert not list(socket_dir.glob("*.tar"))
        r = dm.run("hinedock", "job", "exec", "-c", cid[:12], "--", "echo", "root may")
        assert (r.returncode, r.stdout) == (0, "root may\n")
        assert "uid=65534" not in dm.log.read_text()  # nothing the reader tried ran
    docker("rm", "-f", cid)


def test_a_member_of_job_groups_may_run_jobs(engine: None, tmp_path: Path,
                                             socket_dir: Path) -> None:
    cid = run_container("acc2", "sleep", "3600")
    for dm in daemon(tmp_path, socket_dir, 'job_groups = ["nogroup"]'):
        wait_started(dm, cid)
        r = as_nobody(dm.socket, "job", "exec", "-c", cid[:12], "--", "echo", "allowed")
        assert (r.returncode, r.stdout) == (0, "allowed\n"), r.stderr
    docker("rm", "-f", cid)


def test_an_unknown_job_group_is_a_config_error(tmp_path: Path) -> None:
    from hinedockd.config import ConfigError, load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text('[daemon]\njob_groups = ["no_such_group_xyz"]\n')
    with pytest.raises(ConfigError, match=r"job_groups.*no group 'no_such_group_xyz'"):
        load_config(cfg)
