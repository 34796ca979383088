"""Jobs against the real engines (Docker and Podman) through the daemon: exec (stdout
and stderr apart, exit status, a long quiet command), a 200 MB download with the
daemon's memory flat, the state rules over a prefix selection, remove with and
without -f, bad arguments."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realparts import (
    ENGINE_URLS,
    ENGINES,
    Daemon,
    docker,
    run_container,
    start_daemon,
    wait_for,
)


@pytest.fixture(scope="module")
def daemon(engine_cli: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    yield from start_daemon(tmp_path_factory.mktemp(f"hinedockd-jobs-{engine_cli}"),
                            host_url=ENGINE_URLS[engine_cli])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def seen(daemon: Daemon, name: str, state: str) -> None:
    wait_for(lambda: daemon.run("hinedock", "states", "-n", name).stdout.strip().endswith(
        "," + {"running": "0", "exited": "4", "created": "3"}[state]), what=f"{name} {state}")


def test_exec_keeps_streams_apart_and_returns_the_status(daemon: Daemon, engine_cli: str) -> None:
    run_container("job1", "sleep", "3600", cli=engine_cli)
    seen(daemon, "hdt_job1", "running")
    r = daemon.run("hinedock", "job", "exec", "-n", "hdt_job1", "--", "sh", "-c",
                   "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout) == (3, "out\n") and "err\n" in r.stderr
    r = daemon.run("hinedock", "job", "exec", "-n", "hdt_job1", "--shell", "echo", "$((6*7))")
    assert (r.returncode, r.stdout) == (0, "42\n")
    r = daemon.run("JobDockerContainerCommand.py", "-n", "hdt_job1", "find /root")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "/root"
    log = daemon.log.read_text()
    assert ("job" in log and "uid=0" in log) or "uid=" in log


def test_a_long_quiet_command_completes(daemon: Daemon, engine_cli: str) -> None:
    run_container("job2", "sleep", "3600", cli=engine_cli)
    seen(daemon, "hdt_job2", "running")
    r = daemon.run("hinedock", "job", "exec", "-n", "hdt_job2", "--", "sh", "-c",
                   "sleep 20; echo done")
    assert (r.returncode, r.stdout) == (0, "done\n"), r.stderr


def test_download_streams_200_mb_with_flat_memory(daemon: Daemon, engine_cli: str,
                                                   tmp_path: Path) -> None:
    run_container("job3", "sh", "-c", "mkdir -p /data && echo small > /data/small && "
                  "dd if=/dev/urandom of=/data/big bs=1M count=200 2>/dev/null && "
                  "chmod 640 /data/big && sleep 3600", cli=engine_cli)
    seen(daemon, "hdt_job3", "running")
    wait_for(lambda: daemon.run("hinedock", "job", "exec", "-n", "hdt_job3", "--", "sh", "-c",
                                "test $(wc -c < /data/big) -eq 209715200").returncode == 0,
             within=60, what="200 MB written")
    pid = int(daemon.status_all()["pid"])
    before = rss_mb(pid)
    # 200 MB through the VM's emulated network takes minutes
    r = daemon.run("FileDockerContainerDownload.py", "-n", "hdt_job3", "/data/big",
                   str(tmp_path), timeout=600 if ENGINES[engine_cli].in_vm else 60)
    after = rss_mb(pid)
    assert r.returncode == 0, r.stderr
    target = tmp_path / "hdt_job3_data_big.tar"
    assert r.stdout.splitlines()[0] == str(target)
    owner = ENGINES[engine_cli].archive_owner
    assert f"-rw-r----- {owner} 209715200" in r.stdout and r.stdout.rstrip().endswith("big")
    assert target.stat().st_size > 200 << 20
    with tarfile.open(target) as tar:
        member = tar.getmember("big")
        assert (member.size, member.mode & 0o777, member.uid) == (200 << 20, 0o640, 0)
    assert after - before < 50, f"daemon RSS grew by {after - before:.0f} MB"
    # A scheduled job with a fixed DESTINATION: the report's command runs again and
    # replaces the archive (exit 0, as the report documents 0 and 1 only); a small file,
    # as the VM moves 200 MB in over a minute.
    small = tmp_path / "hdt_job3_data_small.tar"
    inodes = []
    for _ in range(2):
        r = daemon.run("FileDockerContainerDownload.py", "-n", "hdt_job3", "/data/small",
                       str(tmp_path))
        assert r.returncode == 0, r.stderr
        inodes.append(small.stat().st_ino)
    assert inodes[0] != inodes[1]  # the second archive renamed in over the first
    with tarfile.open(small) as tar:
        content = tar.extractfile("small")
        assert content is not None and content.read() == b"small\n"
    r = daemon.run("hinedock", "job", "download", "-n", "hdt_job3", "/data/big", str(tmp_path))
    assert r.returncode == 9 and "exists (--force to overwrite)" in r.stderr
    r = daemon.run("hinedock", "job", "download", "-n", "hdt_job3", "--force", "/nonexistent",
                   str(tmp_path))
    assert r.returncode == 9 and "nonexistent" in r.stderr
    r = daemon.run("FileDockerContainerDownload.py", "-n", "hdt_job3", "/nonexistent",
                   str(tmp_path))
    assert r.returncode == 1 and "nonexistent" in r.stderr
    assert not list(tmp_path.glob("*.part"))


def test_state_rules_over_a_prefix_selection(daemon: Daemon, engine_cli: str) -> None:
    a = run_container("mix_a", "sleep", "3600", cli=engine_cli)
    b = run_container("mix_b", "sh", "-c", "exit 0", cli=engine_cli)
    docker("rm", "-f", "hdt_mix_c", check=False, cli=engine_cli)
    c = docker("create", "--name", "hdt_mix_c", "localbusybox:latest", "/no/such/program",
               cli=engine_cli)
    seen(daemon, "hdt_mix_b", "exited")
    seen(daemon, "hdt_mix_c", "created")
    r = daemon.run("JobDockerContainerStart.py", "-n", "hdt_mix_*")
    lines = r.stdout.splitlines()
    assert r.returncode == 9, r
    assert f"{a[:12]} hdt_mix_a Skipped (running)" in lines
    assert f"{b[:12]} hdt_mix_b Success" in lines
    failed = next(line for line in lines if line.startswith(f"{c[:12]} hdt_mix_c Failed: "))
    assert "no/such/program" in failed
    r = daemon.run("JobDockerContainerStop.py", "-n", "hdt_mix_a", "-t", "1")
    assert (r.returncode, r.stdout) == (0, f"{a[:12]} hdt_mix_a Success\n")
    r = daemon.run("JobDockerContainerRestart.py", "-n", "hdt_mix_a")
    assert (r.returncode, r.stdout) == (0, f"{a[:12]} hdt_mix_a Skipped (exited)\n")


def test_remove_needs_force_for_a_running_container(daemon: Daemon, engine_cli: str) -> None:
    cid = run_container("rm1", "sleep", "3600", cli=engine_cli)
    seen(daemon, "hdt_rm1", "running")
    r = daemon.run("JobDockerContainerRm.py", "-n", "hdt_rm1")
    assert (r.returncode, r.stdout) == (9, f"{cid[:12]} hdt_rm1 Failed: running\n")
    assert docker("ps", "-q", "--filter", "name=^hdt_rm1$", cli=engine_cli) == cid[:12]
    r = daemon.run("JobDockerContainerRm.py", "--force", "--volumes", "-n", "hdt_rm1")
    assert (r.returncode, r.stdout) == (0, f"{cid[:12]} hdt_rm1 Success\n")
    assert docker("ps", "-aq", "--filter", "name=^hdt_rm1$", cli=engine_cli) == ""


def test_bad_arguments_are_exit_1_with_a_message(daemon: Daemon, engine_cli: str) -> None:
    for cmd, args, message in [
        ("JobDockerContainerStart.py", ("-c", "abc", "-n", "x"), "not both"),
        ("JobDockerContainerStart.py", (), "give -c CONTAINER_ID or -n CONTAINER_NAME"),
        ("JobDockerContainerStop.py", ("-i", "nohost", "-n", "x"), "unknown host"),
        ("JobDockerContainerStop.py", ("-n", "x", "-t", "soon"), "whole seconds"),
        ("JobDockerContainerCommand.py", ("-n", "x"), "one argument"),
        ("hinedock", ("job", "exec", "-n", "hdt_job1"), "no command"),
        ("hinedock", ("job", "fly"), "ACTION is one of"),
        ("FileDockerContainerDownload.py", ("-n", "x", "/a"), "SOURCE"),
    ]:
        r = daemon.run(cmd, *args)
        assert r.returncode == 1, (cmd, args, r)
        assert message in r.stderr, (cmd, args, r.stderr)
        assert r.stdout == ""
    assert os.path.exists(daemon.socket)


def test_exec_overall_timeout(daemon: Daemon, engine_cli: str) -> None:
    run_container("job4", "sleep", "3600", cli=engine_cli)
    seen(daemon, "hdt_job4", "running")
    r = daemon.run("hinedock", "job", "exec", "-n", "hdt_job4", "--timeout", "2", "--", "sh",
                   "-c", "echo early; sleep 30")
    assert r.returncode == 1 and "--timeout reached" in r.stderr and r.stdout == "early\n"
