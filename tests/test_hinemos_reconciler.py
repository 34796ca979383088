"""Desired state (pure) and the reconciler against the in-memory repository and the
fake REST manager: creates, updates, valid flags, deletions, scopes, idempotence,
an operator's own edits, and a manager that goes away."""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from hinedockd.config import HinemosConfig, HostConfig
from hinedockd.hinemos.backend import Backend, HinemosError, HinemosUnavailable
from hinedockd.hinemos.claims import Claims
from hinedockd.hinemos.desired import desired, safe_facility_id
from hinedockd.hinemos.dryrun import MemoryBackend
from hinedockd.hinemos.memory import MemoryRepository
from hinedockd.hinemos.nodes import node_fields
from hinedockd.hinemos.reconciler import Reconciler
from hinedockd.hinemos.rest import RestBackend
from hinedockd.hinemos.soap import SoapBackend
from hinedockd.model import Container, ContainerState
from hinedockd.testing.hinemos import FakeRestManager, FakeSoapManager

H1 = HostConfig(facility_id="docker_host1", url="tcp://10.0.200.123:2375", address="10.0.200.123")
H2 = HostConfig(facility_id="docker_host2", url="tcp://10.0.200.204:2375", address="10.0.200.204")
CFG = HinemosConfig(label_scopes=("web*",))


def box(name: str, state: ContainerState = ContainerState.RUNNING, cid: str = "",
        **kw: object) -> Container:
    cid = cid or (name.encode().hex() * 64)[:64]
    return Container(id=cid, name=name, state=state, image="httpd:2.4",
                     command="httpd -D FOREGROUND", **kw)  # type: ignore[arg-type]


def test_desired_state_follows_the_spec_table() -> None:
    a = box("conteiner_A", ports=("0.0.0.0:8080->80/tcp",), labels={"hinemosAssignScopeId":
                                                                    " web1 , web2,REGISTERED"})
    b = box("conteiner_B", state=ContainerState.EXITED)
    d = desired(H1, [a, b], CFG)
    host = d.nodes["docker_host1"]
    assert (host.node_name, host.ip_v4, host.valid, host.hostnames) == (
        "docker_host1", "10.0.200.123", True, ("docker_host1",))
    na = d.nodes["docker_host1-conteiner_A"]
    assert (na.facility_name, na.node_name, na.valid, na.hostnames, na.platform) == (
        "conteiner_A", a.id[:12], True, (a.id[:12],), "LINUX")
    assert dict(na.variables) == {
        "DOCKER_CONTAINER_ID": a.id[:12], "DOCKER_COMMAND": "httpd -D FOREGROUND",
        "DOCKER_PORTS": "0.0.0.0:8080->80/tcp", "DOCKER_IMAGE": "httpd:2.4",
        "DOCKER_STATUS": "running", "DOCKER_HOST": "docker_host1"}
    nb = d.nodes["docker_host1-conteiner_B"]
    assert not nb.valid and nb.variable("DOCKER_PORTS") is None  # absent, never ""
    assert nb.variable("DOCKER_HEALTH") is None  # no health check: absent
    checked = desired(H1, [replace(b, health="unhealthy")], CFG)
    assert checked.nodes["docker_host1-conteiner_B"].variable("DOCKER_HEALTH") == "unhealthy"
    assert d.members["docker_container"] == {"docker_host1-conteiner_A",
                                             "docker_host1-conteiner_B"}
    assert d.members["docker_host1_scope"] == d.members["docker_container"]
    assert d.members["docker_host"] == {"docker_host1"}
    assert d.members["web1"] == d.members["web2"] == {"docker_host1-conteiner_A"}
    assert "REGISTERED" not in d.members
    assert any("reserved" in w for w in d.warnings)
    assert [s.facility_id for s in d.scopes] == ["docker_container", "docker_host",
                                                 "docker_map", "docker_host1_scope"]
    assert d.scopes[-1].parent == "docker_map"


def test_labels_outside_the_allow_list_and_bad_ids_are_skipped() -> None:
    d = desired(H1, [box("x", labels={"hinemosAssignScopeId": "db1,web1,docker_map,a b"})],
                CFG)
    assert set(d.members) == {"docker_host", "docker_container", "docker_host1_scope", "web1"}
    assert len(d.warnings) == 3


def test_facility_ids_are_mapped_deterministically() -> None:
    assert safe_facility_id("docker_host1-web1") == "docker_host1-web1"
    odd = safe_facility_id("docker host1/web 1")
    assert odd == safe_facility_id("docker host1/web 1") and " " not in odd
    assert odd != safe_facility_id("docker_host1_web_1")
    assert len(safe_facility_id("x" * 600)) <= 512
    cfg = dataclasses.replace(CFG, container_facility_id="{host}/{name}")
    d = desired(H1, [box("w")], cfg)
    (fid,) = d.members["docker_container"]
    assert fid.startswith("docker_host1_w-") and any("mapped" in w for w in d.warnings)


@pytest.fixture
def memory() -> MemoryBackend:
    return MemoryBackend(MemoryRepository(), log_writes=False)


async def test_create_update_delete_and_idempotence(memory: MemoryBackend) -> None:
    r = Reconciler(memory, CFG)
    a, b = box("conteiner_A"), box("conteiner_B")
    first = await r.reconcile(H1, [a, b])
    repo = memory.repo
    assert first.writes > 0
    node = repo.get_node("docker_host1-conteiner_A")
    assert node["valid"] is True and node["nodeName"] == a.id[:12]
    assert {"docker_container", "docker_host1_scope", "REGISTERED"} <= {
        s for s, f in repo.facilities.items() if f["facilityType"] == 0
        and "docker_host1-conteiner_A" in f["members"]}
    assert repo.facilities["docker_host1_scope"]["parent"] == "docker_map"
    again = await r.reconcile(H1, [a, b])
    assert again.writes == 0  # a second full sync writes nothing
    paused = dataclasses.replace(a, state=ContainerState.PAUSED)
    await r.reconcile(H1, [paused, b], full=False)
    node = repo.get_node("docker_host1-conteiner_A")
    assert node["valid"] is False
    assert {v["nodeVariableName"]: v["nodeVariableValue"] for v in node["nodeVariableInfo"]}[
        "DOCKER_STATUS"] == "paused"
    recreated = box("conteiner_A", cid="f" * 64)
    await r.reconcile(H1, [recreated, b], full=False)
    node = repo.get_node("docker_host1-conteiner_A")
    assert node["nodeName"] == "f" * 12 and node["nodeHostnameInfo"] == [{"hostname": "f" * 12}]
    await r.reconcile(H1, [recreated], full=False)
    assert "docker_host1-conteiner_B" not in repo.facilities


async def test_create_costs_three_writes(memory: MemoryBackend) -> None:
    r = Reconciler(memory, CFG)
    await r.reconcile(H1, [box("a")])
    before = memory.writes
    await r.reconcile(H1, [box("a"), box("b")], full=False)
    assert memory.writes - before == 3  # addNode, assign docker_container, assign H_scope


async def test_two_hosts_share_scopes_without_duplicates(memory: MemoryBackend) -> None:
    r = Reconciler(memory, CFG)
    await r.reconcile(H1, [box("a")])
    await r.reconcile(H2, [box("a")])  # the 2015 scripts crashed here (FacilityDuplicate)
    repo = memory.repo
    assert repo.facilities["docker_host"]["members"] == {"docker_host1", "docker_host2"}
    assert {"docker_host1-a", "docker_host2-a"} <= repo.facilities["docker_container"]["members"]


async def test_operator_changes_survive(memory: MemoryBackend) -> None:
    r = Reconciler(memory, CFG)
    repo = memory.repo
    repo.add_scope("", {"facilityId": "web1", "facilityName": "web1", "facilityType": 0,
                        "ownerRoleId": "ALL_USERS"})
    repo.add_scope("", {"facilityId": "ops", "facilityName": "ops", "facilityType": 0,
                        "ownerRoleId": "ALL_USERS"})
    a = box("a", labels={"hinemosAssignScopeId": "web1,web9"})
    result = await r.reconcile(H1, [a])
    assert any("web9" in w and "does not exist" in w for w in result.warnings)
    assert "web9" not in repo.facilities  # never created for a label
    repo.assign("ops", ["docker_host1-a"])  # by hand
    node = repo.get_node("docker_host1-a")
    node["description"] = "owned by team X"
    node["nodeVariableInfo"].append({"nodeVariableName": "TEAM", "nodeVariableValue": "x"})
    repo.modify_node(node)
    await r.reconcile(H1, [dataclasses.replace(a, image="httpd:2.5")])
    node = repo.get_node("docker_host1-a")
    assert node["description"] == "owned by team X"
    assert {"TEAM", "DOCKER_IMAGE"} <= {v["nodeVariableName"] for v in node["nodeVariableInfo"]}
    assert "docker_host1-a" in repo.facilities["ops"]["members"]
    assert "docker_host1-a" in repo.facilities["web1"]["members"]
    repo.add_node({"facilityId": "docker_host1-handmade", "facilityName": "h", "nodeName": "h",
                   "ipAddressVersion": 4, "ipAddressV4": "10.0.0.1", "platformFamily": "LINUX",
                   "ownerRoleId": "ALL_USERS", "valid": True})
    await r.reconcile(H1, [])  # every container gone
    assert "docker_host1-a" not in repo.facilities
    assert "docker_host1-handmade" in repo.facilities  # not ours: not in docker_host1_scope


async def serve(api: str) -> tuple[FakeRestManager | FakeSoapManager, Backend]:
    """The API's fake manager, started, and the daemon's backend for it, started."""
    fake: FakeRestManager | FakeSoapManager
    backend: Backend
    if api == "rest":
        fake = FakeRestManager()
        base = await fake.start()
        backend = RestBackend(HinemosConfig(api="rest", url=f"{base}/HinemosWeb/api"), "hinemos")
    else:
        fake = FakeSoapManager()
        base = await fake.start()
        backend = SoapBackend(HinemosConfig(api="soap", url=f"{base}/HinemosWS"), "hinemos")
    await backend.start()
    return fake, backend


@pytest.fixture
async def rest() -> AsyncIterator[tuple[FakeRestManager, RestBackend]]:
    fake, backend = await serve("rest")
    assert isinstance(fake, FakeRestManager) and isinstance(backend, RestBackend)
    yield fake, backend
    await backend.close()
    await fake.stop()


@pytest.fixture(params=["rest", "soap"])
async def remote(request: pytest.FixtureRequest
                 ) -> AsyncIterator[tuple[FakeRestManager | FakeSoapManager, Backend]]:
    """Either API's fake manager and the daemon's backend for it."""
    fake, backend = await serve(request.param)
    yield fake, backend
    await backend.close()
    await fake.stop()


async def test_rest_backend_converges_after_the_manager_was_away(
        rest: tuple[FakeRestManager, RestBackend]) -> None:
    fake, backend = rest
    r = Reconciler(backend, CFG)
    a, b = box("a"), box("b")
    await r.reconcile(H1, [a, b])
    assert {"docker_host1-a", "docker_host1-b"} <= set(fake.repo.nodes())
    await fake.go_down()
    with pytest.raises(HinemosUnavailable):
        await r.reconcile(H1, [a])  # b is gone, but nothing can be read: nothing deleted
    assert "docker_host1-b" in fake.repo.nodes()
    await fake.come_back()
    fake.expire_tokens()  # the manager restarted: the daemon logs in again
    await r.reconcile(H1, [a])
    assert "docker_host1-b" not in fake.repo.nodes()
    writes = len(fake.writes)
    await r.reconcile(H1, [a])
    assert len(fake.writes) == writes
    assert fake.calls.count("login") == 2


async def test_random_faults_never_duplicate_or_delete_wrongly(
        rest: tuple[FakeRestManager, RestBackend]) -> None:
    fake, backend = rest
    r = Reconciler(backend, CFG)
    boxes = [box(f"c{i}") for i in range(20)]
    fake.fail_rate = 0.1
    for _ in range(40):
        try:
            await r.reconcile(H1, boxes)
            break
        except Exception:
            continue
    fake.fail_rate = 0.0
    await r.reconcile(H1, boxes)
    assert set(fake.repo.nodes()) == {"docker_host1", *(f"docker_host1-c{i}" for i in range(20))}
    assert fake.repo.facilities["docker_host1_scope"]["members"] == {
        f"docker_host1-c{i}" for i in range(20)}


WSDL_5_0_1 = Path(__file__).resolve().parents[2] / "shared" / "hinemos" / (
    "RepositoryEndpointService_5.0.1.wsdl")


@pytest.fixture(scope="module")
def soap_requests() -> list[bytes]:
    """Every SOAP request the client sends in this module, validated at the end."""
    return []


@pytest.fixture
async def soap(soap_requests: list[bytes]) -> AsyncIterator[tuple[FakeSoapManager, SoapBackend]]:
    fake = FakeSoapManager()
    base = await fake.start()
    backend = SoapBackend(HinemosConfig(api="soap", url=f"{base}/HinemosWS"), "hinemos")
    await backend.start()
    yield fake, backend
    await backend.close()
    await fake.stop()
    soap_requests.extend(fake.requests)


async def test_soap_backend_syncs_like_the_others(
        soap: tuple[FakeSoapManager, SoapBackend]) -> None:
    fake, backend = soap
    r = Reconciler(backend, CFG)
    a = box("a", labels={"hinemosAssignScopeId": "web1"})
    fake.repo.add_scope("", {"facilityId": "web1", "facilityName": "web1", "facilityType": 0,
                             "ownerRoleId": "ALL_USERS"})
    await r.reconcile(H1, [a, box("b", state=ContainerState.EXITED)])
    node = fake.repo.get_node("docker_host1-a")
    assert node["nodeName"] == a.id[:12] and node["valid"] is True
    assert not fake.repo.get_node("docker_host1-b")["valid"]
    assert "docker_host1-a" in fake.repo.facilities["web1"]["members"]
    writes = len(fake.writes)
    await r.reconcile(H1, [a, box("b", state=ContainerState.EXITED)])
    assert len(fake.writes) == writes  # idempotent over SOAP too
    await r.reconcile(H1, [dataclasses.replace(a, state=ContainerState.PAUSED)], full=False)
    # valid and DOCKER_STATUS change together: one whole-node write; b is gone: one delete.
    assert fake.writes[writes:] == ["modifyNode", "deleteNode"]
    assert fake.repo.get_node("docker_host1-a")["valid"] is False
    assert "docker_host1-b" not in fake.repo.facilities


async def test_soap_faults_and_missing_auth(soap: tuple[FakeSoapManager, SoapBackend]) -> None:
    fake, backend = soap
    assert await backend.get_node("nope") is None  # FacilityNotFound
    r = Reconciler(backend, CFG)
    await r.reconcile(H1, [box("a")])
    await backend.set_valid("docker_host1-a", False)
    assert fake.repo.get_node("docker_host1-a")["valid"] is False
    with pytest.raises(HinemosError) as e:
        await backend.assign("no_such_scope", ["x"])
    assert e.value.kind == "InvalidSetting"
    anonymous = SoapBackend(HinemosConfig(api="soap", url=f"http://127.0.0.1:{fake.port}"
                                          "/HinemosWS", user="nobody"), "wrong")
    await anonymous.start()  # the WSDL needs no auth
    with pytest.raises(HinemosError) as e:
        await anonymous.get_node("x")
    assert e.value.kind == "InvalidUserPass"
    await anonymous.close()


def test_every_soap_request_validates_against_the_5_0_1_schema(
        soap_requests: list[bytes]) -> None:
    if not WSDL_5_0_1.exists():
        pytest.skip(f"{WSDL_5_0_1.name} not found beside the project (shared/hinemos)")
    from lxml import etree

    wsdl = etree.parse(str(WSDL_5_0_1))
    embedded = wsdl.find(".//{http://www.w3.org/2001/XMLSchema}schema")
    # A standalone copy that declares the namespaces the WSDL root declared (tns:…).
    standalone = etree.Element(embedded.tag, attrib=dict(embedded.attrib),
                               nsmap=embedded.nsmap)
    standalone.extend(list(embedded))
    schema = etree.XMLSchema(standalone)
    assert soap_requests, "the SOAP tests above sent nothing"
    ops = set()
    for raw in soap_requests:
        doc = etree.fromstring(raw)
        ops.add(etree.QName(doc).localname)
        assert schema.validate(doc), f"{raw[:300]!r}: {schema.error_log}"
    assert {"addNode", "getNode", "assignNodeScope", "addScope", "setValid"} <= ops


async def test_a_fault_during_node_writes_surfaces_as_itself(
        rest: tuple[FakeRestManager, RestBackend]) -> None:
    fake, backend = rest
    r = Reconciler(backend, CFG)
    await r.reconcile(H1, [])
    fake.fail_rate = 1.0
    with pytest.raises(HinemosError) as e:
        await r.reconcile(H1, [box(f"n{i}") for i in range(10)], full=False)
    assert e.value.kind == "HinemosUnknown"


class DiesBeforeAssigning(MemoryBackend):
    """A pass cut (the daemon killed, the manager gone) after its adds."""

    async def assign(self, scope_id: str, facility_ids: Sequence[str]) -> None:
        raise HinemosUnavailable("cut here")


async def test_a_node_added_by_a_cut_pass_is_not_orphaned(tmp_path: Path) -> None:
    repo, path = MemoryRepository(), tmp_path / "claims.json"
    operator_node = desired(H1, [box("ops")], CFG).nodes["docker_host1-ops"]
    repo.add_node(node_fields(operator_node))  # ours by its name, but never claimed
    cut = Reconciler(DiesBeforeAssigning(repo, log_writes=False), CFG, claims=Claims(path))
    with pytest.raises(HinemosUnavailable):
        await cut.reconcile(H1, [box("a"), box("b")])
    assert {"docker_host1-a", "docker_host1-b"} <= set(repo.facilities)  # in no scope yet
    # A new process (same claims file); "a" went while it was down.
    later = Reconciler(MemoryBackend(repo, log_writes=False), CFG, claims=Claims(path))
    await later.reconcile(H1, [box("b")])
    assert "docker_host1-a" not in repo.facilities
    assert "docker_host1-b" in repo.facilities["docker_host1_scope"]["members"]
    assert "docker_host1-ops" in repo.facilities  # not claimed: never deleted
    assert json.loads(path.read_text()) == {}  # every claim settled


@pytest.mark.parametrize("api", ["rest", "soap"])
async def test_both_apis_keep_to_the_call_pace(api: str) -> None:
    """A pass over 40 new containers at `max_calls_per_second = 20`: every call the
    manager got left through the pace, and no second saw more than 21 leave (one more:
    a timer may fire a clock tick early). Timed where calls leave, not where the fake
    gets them: a busy fake serves a backlog in a burst."""
    fake = FakeRestManager() if api == "rest" else FakeSoapManager()
    base = await fake.start()
    cfg = replace(CFG, api=api, max_calls_per_second=20.0,  # type: ignore[arg-type]
                  url=f"{base}/HinemosWeb/api" if api == "rest" else f"{base}/HinemosWS")
    backend = RestBackend(cfg, "hinemos") if api == "rest" else SoapBackend(cfg, "hinemos")
    times: list[float] = []
    paced = backend.pacer.wait

    async def timed_wait() -> None:
        await paced()
        times.append(time.monotonic())

    backend.pacer.wait = timed_wait  # type: ignore[method-assign]
    try:
        await backend.start()
        await Reconciler(backend, cfg).reconcile(H1, [box(f"c{i}") for i in range(40)])
    finally:
        await backend.close()
        await fake.stop()
    assert len(times) == len(fake.calls) > 40 and len(fake.repo.nodes()) >= 40
    busiest = max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))
    assert busiest <= 21, f"{busiest} calls within one second"


async def test_a_full_pass_reads_again_only_what_the_manager_wrote_since(
        remote: tuple[FakeRestManager | FakeSoapManager, Backend]) -> None:
    """One list of the host scope (getNodeList, each node's modifyDatetime: 7.1's REST
    and 6.2's SOAP alike) instead of a read per node; an operator's edit, a node taken
    out of the scope and a node deleted by hand are each found and put right by the
    next full pass."""
    fake, backend = remote
    r = Reconciler(backend, CFG)
    boxes = [box(f"c{i}") for i in range(6)]
    await r.reconcile(H1, boxes)  # adds, then a pass that reads what it wrote
    await r.reconcile(H1, boxes)
    calls, writes = len(fake.calls), len(fake.writes)
    await r.reconcile(H1, boxes)
    new = fake.calls[calls:]
    assert len(fake.writes) == writes and new.count("getNodeList") == 1
    assert new.count("getNode") == 1, new  # the host's own node (not in its scope)

    edited = fake.repo.get_node("docker_host1-c1")  # an operator's edits
    edited["nodeVariableInfo"] = [v for v in edited["nodeVariableInfo"]
                                  if v["nodeVariableName"] != "DOCKER_IMAGE"]
    edited["description"] = "team X"
    fake.repo.modify_node(edited)
    fake.repo.set_valid("docker_host1-c2", False)
    fake.repo.facilities["docker_host1_scope"]["members"].discard("docker_host1-c3")
    fake.repo.delete_nodes(["docker_host1-c4"])
    calls = len(fake.calls)
    await r.reconcile(H1, boxes)
    new = fake.calls[calls:]
    assert new.count("getNode") == 1 + 3, new  # host, c1, c2, and c3 after its add failed
    c1 = fake.repo.get_node("docker_host1-c1")
    assert c1["description"] == "team X"
    assert "DOCKER_IMAGE" in {v["nodeVariableName"] for v in c1["nodeVariableInfo"]}
    assert fake.repo.get_node("docker_host1-c2")["valid"] is True
    assert "docker_host1-c3" in fake.repo.facilities["docker_host1_scope"]["members"]
    assert "docker_host1-c4" in fake.repo.facilities["docker_host1_scope"]["members"]


async def test_the_list_answer_is_read_as_the_manager_writes_it(
        rest: tuple[FakeRestManager, RestBackend]) -> None:
    """GetNodeListResponse: modifyDatetime as yyyy/MM/dd HH:mm:ss.SSS, the same string
    a node's own read gives (RestBeanConvertDatetime on both)."""
    _fake, backend = rest
    await Reconciler(backend, CFG).reconcile(H1, [box("a")])
    stamps = await backend.node_stamps("docker_host1_scope")
    node = await backend.get_node("docker_host1-a")
    assert stamps is not None and node is not None
    assert stamps == {"docker_host1-a": node["modifyDatetime"]}
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3}", stamps["docker_host1-a"])
    assert await backend.node_stamps("no_such_scope") == {}


async def test_the_soap_list_answer_stamps_as_a_node_read_does() -> None:
    """getNodeList over SOAP (6.2): modifyDatetime a long, as getNode gives it."""
    fake, backend = await serve("soap")
    try:
        await Reconciler(backend, CFG).reconcile(H1, [box("a")])
        stamps = await backend.node_stamps("docker_host1_scope")
        node = await backend.get_node("docker_host1-a")
        assert stamps is not None and node is not None
        assert stamps == {"docker_host1-a": str(node["modifyDatetime"])}
        assert stamps["docker_host1-a"].isdigit()
    finally:
        await backend.close()
        await fake.stop()


async def test_scopes_all_hosts_share_are_read_once_for_their_full_passes(
        rest: tuple[FakeRestManager, RestBackend]) -> None:
    """docker_container holds every host's containers: each host's full pass reading it
    whole grows with hosts × containers. Read once for all within half the full-pass
    period, kept current by every host's writes; an operator's change is put right
    once it is read again."""
    fake, backend = rest
    r = Reconciler(backend, CFG)
    one, two = [box("a"), box("b")], [box("c", cid="c" * 64)]
    await r.reconcile(H1, one)
    await r.reconcile(H2, two)  # assigns c to the docker_container set H1's pass read
    calls, writes = len(fake.calls), len(fake.writes)
    await r.reconcile(H1, one)
    await r.reconcile(H2, two)
    assert len(fake.writes) == writes  # nothing unchanged written, the set kept current
    lists = fake.calls[calls:].count("getFacilityList")
    assert lists == 2, fake.calls[calls:]  # each host's own scope, nothing shared
    fake.repo.facilities["docker_container"]["members"].discard("docker_host1-a")
    await r.reconcile(H1, one)
    assert "docker_host1-a" not in fake.repo.facilities["docker_container"]["members"]
    r.scopes.shared_seconds = 0  # half the full-pass period has gone by
    await r.reconcile(H1, one)
    assert "docker_host1-a" in fake.repo.facilities["docker_container"]["members"]


async def test_hosts_passing_at_once_share_one_read_and_write_nothing_twice(
        rest: tuple[FakeRestManager, RestBackend]) -> None:
    """Five hosts' first passes at once (a daemon's start): each shared scope added
    once and read once, every host's assignments kept in it; the next round writes
    nothing."""
    fake, backend = rest
    r = Reconciler(backend, CFG)
    hosts = [HostConfig(facility_id=f"h{i}", url=f"tcp://10.0.0.{i}:2375",
                        address=f"10.0.0.{i}") for i in range(1, 6)]
    boxes = {h.facility_id: [box(f"c{h.facility_id}{j}", cid=(f"{h.facility_id}{j}" * 64)[:64])
                             for j in range(5)] for h in hosts}
    await asyncio.gather(*(r.reconcile(h, boxes[h.facility_id]) for h in hosts))
    # each shared scope added once: not five adds and four refused as duplicates
    assert fake.refusals == {}, fake.refusals
    writes = len(fake.writes)
    await asyncio.gather(*(r.reconcile(h, boxes[h.facility_id]) for h in hosts))
    assert fake.writes[writes:] == []
    members = fake.repo.facilities["docker_container"]["members"]
    assert len(members) == 25 and len(fake.repo.facilities["docker_host"]["members"]) == 5
