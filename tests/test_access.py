"""Two levels on the daemon's socket, for real: a member of the socket's group (the
Hinemos agent's user) reads figures and cannot start a job; root can; so can a member
of `[daemon] job_groups`. The reader is `nobody` (group `nogroup`), running the client,
which is stdlib only, with the system's Python from the source tree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import assert_hinemos_lines
from tests.realparts import Daemon, as_nobody, docker, run_container, start_daemon, wait_started


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
        lines = [line for line in dm.log.read_text().splitlines() if "uid=65534" in line]
        # nothing the reader tried ran (no job audit line), and each refusal is logged
        assert not [line for line in lines if "result=" in line], lines
        assert sorted(line.split("job=")[1].split()[0] for line in lines
                      if "job refused" in line) == ["download", "exec", "stop"], lines
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
