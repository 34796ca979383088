"""The daemon (its own process) on the real engines (Docker and Podman) keeps a fake
Hinemos manager's repository in step with the containers, through the SOAP API
(5.x/6.x) and the REST API (7.x), within seconds."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from hinedockd.hinemos.nodes import variables
from hinedockd.testing.hinemos import FakeManager, FakeRestManager, FakeSoapManager
from tests.conftest import eventually
from tests.realparts import (
    CHECK,
    ENGINE_URLS,
    ENGINES,
    HealthTimer,
    daemon_in,
    docker,
    hinemos_table,
    run_container,
)

API_PATHS = {"soap": "HinemosWS", "rest": "HinemosWeb/api"}


@pytest.fixture(params=["soap", "rest"])
async def manager(engine_cli: str, request: pytest.FixtureRequest) -> AsyncIterator[FakeManager]:
    fake: FakeManager = FakeSoapManager() if request.param == "soap" else FakeRestManager()
    fake.api = request.param  # type: ignore[attr-defined]
    await fake.start()
    fake.repo.add_scope("", {"facilityId": "web1", "facilityName": "web1", "facilityType": 0,
                             "ownerRoleId": "ALL_USERS"})
    yield fake
    await fake.stop()


def write_config(d: Path, api: str, url: str, engine_cli: str) -> Path:
    """The daemon's config for the local engine and a manager at `url`."""
    return daemon_in(d, hinemos_table(d, api, url) + "full_sync_seconds = 10\n",
                     host_url=ENGINE_URLS[engine_cli]).config


def manager_url(manager: FakeManager) -> str:
    return f"http://127.0.0.1:{manager.port}/{API_PATHS[manager.api]}"  # type: ignore[attr-defined]


@pytest.fixture
def daemon(manager: FakeManager, engine_cli: str,
           tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    cfg = write_config(tmp_path, manager.api, manager_url(manager),  # type: ignore[attr-defined]
                       engine_cli)
    log = open(tmp_path / "daemon.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "hinedockd.app", "--config", str(cfg)],
                            stdout=log, stderr=subprocess.STDOUT)
    yield proc
    proc.terminate()
    proc.wait(15)
    log.close()
    print((tmp_path / "daemon.log").read_text()[-4000:])


async def sh(cli: str, *args: str) -> str:
    return await asyncio.to_thread(docker, *args, cli=cli)


async def test_containers_become_nodes_and_follow_their_lifecycle(
        manager: FakeManager, engine_cli: str, daemon: subprocess.Popen[bytes]) -> None:
    repo = manager.repo
    fid = "docker_host1-hdt_hin1"

    def node() -> dict[str, Any] | None:
        f = repo.facilities.get(fid)
        return f if f and f["facilityType"] == 1 else None

    await eventually(lambda: "docker_host1" in repo.facilities, within=30)
    cid = await asyncio.to_thread(run_container, "hin1", "sleep", "3600",
                                  extra=("-l", "hinemosAssignScopeId=web1,web9", "-p",
                                         "127.0.0.1:18080:8080"), cli=engine_cli)

    def in_step() -> bool:
        n = node()
        return (n is not None and n["valid"] is True and n["nodeName"] == cid[:12]
                and all(fid in repo.facilities.get(scope, {}).get("members", ())
                        for scope in ("docker_container", "docker_host1_scope", "web1")))

    await eventually(in_step)  # the add and its scope assignments are separate calls
    n = node()
    assert n is not None
    assert (n["facilityName"], n["nodeName"], n["ipAddressV4"], n["platformFamily"]) == (
        "hdt_hin1", cid[:12], "127.0.0.1", "LINUX")
    assert n["nodeHostnameInfo"] == [{"hostname": cid[:12]}]
    assert variables(n) == {"DOCKER_CONTAINER_ID": cid[:12], "DOCKER_COMMAND": "sleep 3600",
                            "DOCKER_PORTS": "127.0.0.1:18080->8080/tcp",
                            # the engine's own name (Podman's is fully qualified)
                            "DOCKER_IMAGE": ENGINES[engine_cli].image,
                            "DOCKER_STATUS": "running",
                            "DOCKER_HOST": "docker_host1"}
    for scope in ("docker_container", "docker_host1_scope", "web1"):
        assert fid in repo.facilities[scope]["members"], scope
    assert repo.facilities["docker_host1_scope"]["parent"] == "docker_map"
    assert "docker_host1" in repo.facilities["docker_host"]["members"]
    assert "web9" not in repo.facilities  # a missing label scope is skipped, not created

    await sh(engine_cli, "pause", cid)
    await eventually(lambda: variables(node() or {"nodeVariableInfo": []}).get(
        "DOCKER_STATUS") == "paused")
    assert node()["valid"] is False  # type: ignore[index]
    await sh(engine_cli, "unpause", cid)
    await sh(engine_cli, "stop", "-t", "1", cid)
    await eventually(lambda: variables(node() or {"nodeVariableInfo": []}).get(
        "DOCKER_STATUS") == "exited")
    await sh(engine_cli, "rm", cid)
    again = await asyncio.to_thread(run_container, "hin1", "sleep", "3600", cli=engine_cli)
    await eventually(lambda: (node() or {}).get("nodeName") == again[:12])
    assert variables(node())["DOCKER_CONTAINER_ID"] == again[:12]  # type: ignore[arg-type]
    await sh(engine_cli, "rm", "-f", again)
    await eventually(lambda: node() is None)


async def test_a_health_check_is_on_its_node_and_follows_each_change(
        manager: FakeManager, engine_cli: str, daemon: subprocess.Popen[bytes]) -> None:
    repo = manager.repo
    fid = "docker_host1-hdt_hin_health"

    def health() -> str | None:
        f = repo.facilities.get(fid)
        return variables(f).get("DOCKER_HEALTH") if f else None

    await eventually(lambda: "docker_host1" in repo.facilities, within=30)
    cid = await asyncio.to_thread(run_container, "hin_health", *CHECK.command,
                                  extra=CHECK.options, cli=engine_cli)
    with HealthTimer(engine_cli, cid):
        await eventually(lambda: health() == "healthy", within=20)
        await eventually(lambda: health() == "unhealthy", within=20)
    plain = await asyncio.to_thread(run_container, "hin_plain", "sleep", "3600", cli=engine_cli)
    await eventually(lambda: "docker_host1-hdt_hin_plain" in repo.facilities)
    # No check, no variable (Hinemos refuses empty values).
    assert "DOCKER_HEALTH" not in variables(repo.facilities["docker_host1-hdt_hin_plain"])
    await sh(engine_cli, "rm", "-f", cid, plain)


async def test_manager_away_then_back_converges(manager: FakeManager, engine_cli: str,
                                                daemon: subprocess.Popen[bytes]) -> None:
    repo = manager.repo
    await eventually(lambda: "docker_host1" in repo.facilities, within=30)
    gone = await asyncio.to_thread(run_container, "hin_gone", "sleep", "3600", cli=engine_cli)
    await eventually(lambda: "docker_host1-hdt_hin_gone" in repo.facilities)
    await manager.go_down()
    new = await asyncio.to_thread(run_container, "hin_new", "sleep", "3600", cli=engine_cli)
    await sh(engine_cli, "rm", "-f", gone)
    await asyncio.sleep(3)  # the daemon retries with backoff meanwhile
    await manager.come_back()
    # Retries back off up to 30 s and a call may wait up to 30 s for a half-open
    # connection: converging may take a couple of those.
    await eventually(lambda: "docker_host1-hdt_hin_new" in repo.facilities
                     and "docker_host1-hdt_hin_gone" not in repo.facilities, within=180)
    assert repo.facilities["docker_host1-hdt_hin_new"]["nodeName"] == new[:12]
    assert list(repo.facilities).count("docker_host1-hdt_hin_new") == 1
    await sh(engine_cli, "rm", "-f", new)


async def report_command(name: str, config: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / name), "--config", str(config), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_report_repository_commands(manager: FakeManager, engine_cli: str,
                                          tmp_path: Path) -> None:
    api = manager.api  # type: ignore[attr-defined]
    cfg = write_config(tmp_path, api, "http://127.0.0.1:1/unused",  # -m gives the real one
                       engine_cli)
    url = manager_url(manager)
    cid = await asyncio.to_thread(run_container, "oneshot", "sleep", "3600", cli=engine_cli)
    rc, out, err = await report_command("RepositoryDockerNodeAdd.py", cfg, "-m", url)
    assert rc == 0, err
    assert "開始しました。" in out and f"Id:{cid[:12]} Name:hdt_oneshot Status:running" in out
    assert "ノード docker_host1-hdt_oneshot を作成しました。" in out
    assert manager.repo.get_node("docker_host1-hdt_oneshot")["valid"] is True
    rc, out, _ = await report_command("RepositoryDockerNodeAdd.py", cfg, "-m", url, "-i",
                                      "127.0.0.1", "-f", "docker_host1")
    assert rc == 0 and "作成しました" not in out  # a second run adds nothing
    await sh(engine_cli, "stop", "-t", "1", cid)
    rc, out, _ = await report_command("RepositoryDockerNodeUpdate.py", cfg, "-m", url)
    assert rc == 0 and "ノード docker_host1-hdt_oneshot を更新しました。" in out
    assert manager.repo.get_node("docker_host1-hdt_oneshot")["valid"] is False
    await sh(engine_cli, "rm", cid)
    rc, out, _ = await report_command("RepositoryDockerNodeDelete.py", cfg, "-m", url)
    assert rc == 0 and "ノード docker_host1-hdt_oneshot を削除しました。" in out
    assert "docker_host1-hdt_oneshot" not in manager.repo.facilities
    rc, _, err = await report_command("RepositoryDockerNodeAdd.py", cfg, "-m",
                                      f"http://127.0.0.1:1/{API_PATHS[api]}")
    assert rc == 1 and "失敗しました" in err


async def test_labels_the_manager_refuses_hold_up_nothing_and_operators_edits_stay(
        manager: FakeManager, engine_cli: str, daemon: subprocess.Popen[bytes]) -> None:
    """Containers labelled with a platform scope, OWNER, a role scope and a node's ID
    beside plain ones: the plain ones sync, a removal is deleted, no call is refused;
    an operator's host name and variable on the host node stay."""
    repo = manager.repo
    await eventually(lambda: "docker_host1" in repo.facilities, within=30)
    host = repo.get_node("docker_host1")
    host["nodeHostnameInfo"] = [*host.get("nodeHostnameInfo", []), {"hostname": "dh1.ops"}]
    host["nodeVariableInfo"] = [{"nodeVariableName": "RACK", "nodeVariableValue": "B2"}]
    repo.modify_node(host)
    labels = {"lbl_os": "WINDOWS", "lbl_owner": "OWNER", "lbl_role": "ADMINISTRATORS",
              "lbl_node": "docker_host1"}
    for name, scope in labels.items():
        await asyncio.to_thread(run_container, name, "sleep", "3600",
                                extra=("-l", f"hinemosAssignScopeId={scope}"), cli=engine_cli)
    gone = await asyncio.to_thread(run_container, "lbl_gone", "sleep", "3600", cli=engine_cli)
    await eventually(lambda: all(f"docker_host1-hdt_{n}" in repo.facilities
                                 for n in [*labels, "lbl_gone"]), within=30)
    await sh(engine_cli, "rm", "-f", gone)
    await eventually(lambda: "docker_host1-hdt_lbl_gone" not in repo.facilities)
    assert manager.refused_writes == []
    for name, scope in labels.items():
        assert f"docker_host1-hdt_{name}" not in repo.facilities[scope].get("members", ())
    host = repo.get_node("docker_host1")
    assert {"hostname": "dh1.ops"} in host["nodeHostnameInfo"]
    assert variables(host) == {"RACK": "B2"}
    for name in labels:
        await sh(engine_cli, "rm", "-f", f"hdt_{name}")
