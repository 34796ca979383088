"""The daemon never undoes an operator's work and never stalls a host on one label,
on every backend (the in-memory repository, the fake REST 7.x and SOAP 6.x managers,
all following the manager's own rules: hinedockd/hinemos/memory.py says where)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from hinedockd.config import HinemosConfig, HostConfig
from hinedockd.hinemos.backend import Backend, HinemosError
from hinedockd.hinemos.dryrun import MemoryBackend
from hinedockd.hinemos.memory import MemoryRepository
from hinedockd.hinemos.nodes import variables
from hinedockd.hinemos.reconciler import Reconciler
from hinedockd.hinemos.rest import RestBackend
from hinedockd.hinemos.soap import SoapBackend
from hinedockd.model import Container, ContainerState
from hinedockd.testing.hinemos import FakeRestManager, FakeSoapManager

H1 = HostConfig(facility_id="docker_host1", url="tcp://10.0.200.123:2375", address="10.0.200.123")
CFG = HinemosConfig(label_scopes=("*",))


def box(name: str, label: str = "") -> Container:
    labels = {"hinemosAssignScopeId": label} if label else {}
    return Container(id=(name.encode().hex() * 64)[:64], name=name,
                     state=ContainerState.RUNNING, image="httpd:2.4", command="httpd",
                     labels=labels)


@dataclass
class Manager:
    repo: MemoryRepository
    backend: Backend
    refused: list[str]  # writes the (fake) manager refused


@pytest.fixture(params=["memory", "rest", "soap"])
async def manager(request: pytest.FixtureRequest) -> AsyncIterator[Manager]:
    if request.param == "memory":
        backend = MemoryBackend(MemoryRepository(), log_writes=False)
        yield Manager(backend.repo, backend, [])
        return
    fake: FakeRestManager | FakeSoapManager
    if request.param == "rest":
        fake = FakeRestManager()
        base = await fake.start()
        remote: Backend = RestBackend(HinemosConfig(api="rest", url=f"{base}/HinemosWeb/api"),
                                      "hinemos")
    else:
        fake = FakeSoapManager()
        base = await fake.start()
        remote = SoapBackend(HinemosConfig(api="soap", url=f"{base}/HinemosWS"), "hinemos")
    await remote.start()
    yield Manager(fake.repo, remote, fake.refused_writes)
    await remote.close()
    await fake.stop()
    assert fake.refused_writes == [], "the daemon sent a write the manager refuses"
    if isinstance(fake, FakeRestManager):
        assert fake.ignored_fields == [], "the daemon sent fields the manager drops"


def operator_edits(repo: MemoryRepository, facility_id: str) -> None:
    """An operator adds a host name and a variable in the Hinemos client."""
    node = repo.get_node(facility_id)
    node["nodeHostnameInfo"] = [*node.get("nodeHostnameInfo", []), {"hostname": "ops-alias"}]
    node["nodeVariableInfo"] = [*node.get("nodeVariableInfo", []),
                                {"nodeVariableName": "BACKUP", "nodeVariableValue": "daily"}]
    repo.modify_node(node)


def has_operators_part(repo: MemoryRepository, facility_id: str) -> bool:
    node = repo.get_node(facility_id)
    return ("ops-alias" in {h["hostname"] for h in node.get("nodeHostnameInfo", [])}
            and variables(node).get("BACKUP") == "daily")


async def test_an_operators_host_names_and_variables_survive_and_cost_no_write(
        manager: Manager) -> None:
    r = Reconciler(manager.backend, CFG)
    await r.reconcile(H1, [box("web1")])
    for fid in ("docker_host1", "docker_host1-web1"):
        operator_edits(manager.repo, fid)
    writes = manager.backend.writes
    for _ in range(3):
        result = await r.reconcile(H1, [box("web1")], full=True)
        assert result.failures == []
    assert manager.backend.writes == writes, "a pass rewrote nodes the operator edited"
    # A change of the daemon's own part is written, and the operator's part kept.
    stopped = Container(**{**box("web1").__dict__, "state": ContainerState.EXITED})
    await r.reconcile(H1, [stopped, box("web2")], full=True)
    assert manager.repo.get_node("docker_host1-web1")["valid"] is False
    assert all(has_operators_part(manager.repo, fid)
               for fid in ("docker_host1", "docker_host1-web1"))


async def test_labels_the_manager_would_refuse_cost_one_warning_and_no_call(
        manager: Manager) -> None:
    r = Reconciler(manager.backend, CFG)
    await r.reconcile(H1, [box("plain")])
    bad = {"os": "WINDOWS", "owner": "OWNER", "role": "ADMINISTRATORS",
           "node": "docker_host1-plain"}
    boxes = [box("plain"), box("gone"), *(box(name, label) for name, label in bad.items())]
    result = await r.reconcile(H1, boxes, full=True)
    assert result.failures == []
    for name, scope in bad.items():
        said = [w for w in result.warnings if repr(scope) in w]
        assert len(said) == 1 and name in said[0], result.warnings
        assert f"docker_host1-{name}" not in manager.repo.facilities[scope].get("members", ())
        assert f"docker_host1-{name}" in manager.repo.facilities  # the node itself synced
    # The host goes on: a removed container's node is deleted in the next pass.
    result = await r.reconcile(H1, [b for b in boxes if b.name != "gone"], full=False)
    assert "docker_host1-gone" not in manager.repo.facilities and result.failures == []


async def test_a_refused_write_holds_up_no_other_node(manager: Manager,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    r = Reconciler(manager.backend, CFG)
    await r.reconcile(H1, [box("old")])
    refuse_for = "docker_host1-cursed"
    add_node: Callable[[dict[str, Any]], None] = manager.repo.add_node

    def refusing(node: dict[str, Any]) -> None:
        if node.get("facilityId") == refuse_for:
            raise HinemosError("HinemosUnknown", "refused for this test")
        add_node(node)

    monkeypatch.setattr(manager.repo, "add_node", refusing)
    result = await r.reconcile(H1, [box("cursed"), box("fine")], full=True)
    assert len(result.failures) == 1 and refuse_for in result.failures[0]
    assert "docker_host1-fine" in manager.repo.facilities
    assert "docker_host1-old" not in manager.repo.facilities  # deleted all the same
    monkeypatch.undo()
    assert manager.refused in ([], ["addNode"])  # refused on purpose, once (fakes log it)
    manager.refused.clear()
    result = await r.reconcile(H1, [box("cursed"), box("fine")], full=False)
    assert result.failures == [] and refuse_for in manager.repo.facilities


async def test_a_url_that_is_not_the_rest_api_says_so() -> None:
    async with FakeRestManager() as fake, FakeSoapManager() as soap:
        for url in (f"{fake.base_url()}/HinemosWS",  # the manager's 404: UrlNotFound
                    f"{soap.base_url()}/HinemosWeb/api"):  # not a Hinemos REST server
            backend = RestBackend(HinemosConfig(api="rest", url=url), "hinemos")
            with pytest.raises(HinemosError) as caught:
                await backend.start()
            await backend.close()
            assert caught.value.kind == "UrlNotFound"
            assert "[hinemos] url for 7.x is http://HOST:8080/HinemosWeb/api" in str(caught.value)


async def test_rest_errors_are_named_by_the_managers_exception() -> None:
    async with FakeRestManager() as fake:
        backend = RestBackend(HinemosConfig(api="rest", url=f"{fake.base_url()}/HinemosWeb/api"),
                              "hinemos")
        await backend.start()
        try:
            assert await backend.get_node("nobody") is None  # FacilityNotFound, by name
            with pytest.raises(HinemosError) as caught:
                await backend.delete_nodes(["nobody"])
            assert caught.value.kind == "FacilityNotFound"
            with pytest.raises(HinemosError) as caught:
                await backend.assign("WINDOWS", ["nobody"])
            assert caught.value.kind == "InvalidSetting"  # the node is checked first
        finally:
            await backend.close()
