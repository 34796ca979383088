"""The `soap` backend: Hinemos 5.x/6.x RepositoryEndpoint through zeep (HINEMOS.md §1).

- The WSDL is read once, at start, from the manager's own `?wsdl` (5.x and 6.x
  differ; the live one is the authority); parsing is synchronous, so in a thread.
- zeep over httpx, basic auth sent with every request (Hinemos never asks for it).
- `AsyncClient.create_service()` returns a sync proxy: `AsyncServiceProxy` instead,
  with the configured address (the WSDL says localhost).
- Parameters are `arg0…`; nodes travel as whole objects (read-modify-write).
- Faults: `detail[0].tag` names them; HTTP and network errors mean "unavailable".
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import zeep
import zeep.exceptions
import zeep.helpers
import zeep.transports
from zeep.proxy import AsyncServiceProxy

from hinedockd.config import HinemosConfig
from hinedockd.hinemos.backend import (
    HinemosError,
    HinemosUnavailable,
    read_facilities,
    read_node,
    unless_not_found,
)
from hinedockd.hinemos.desired import ScopeSpec
from hinedockd.hinemos.nodes import Node
from hinedockd.hinemos.pacer import Pacer

NS = "http://repository.ws.clustercontrol.com"
ONE_LEVEL = 1  # RepositoryControllerBean.ONE_LEVEL (6.2): direct members only


def fault_kind(fault: zeep.exceptions.Fault) -> str:
    detail = fault.detail
    if detail is not None and len(detail):
        tag = str(detail[0].tag)
        return tag.rsplit("}", 1)[-1]
    return "HinemosUnknown"


def _plain(obj: Any) -> Any:
    """zeep objects -> dicts and lists, Nones dropped (zeep omits them when sending)."""
    data = zeep.helpers.serialize_object(obj, dict)
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


class SoapBackend:
    name = "soap"

    def __init__(self, cfg: HinemosConfig, password: str) -> None:
        self.endpoint = f"{cfg.url.rstrip('/')}/RepositoryEndpoint"
        self.auth = httpx.BasicAuth(cfg.user, password)
        self.timeout = cfg.timeout_seconds
        self.client: zeep.AsyncClient | None = None
        self.service: Any = None
        self._http: httpx.AsyncClient | None = None
        self.pacer = Pacer(cfg.max_calls_per_second)
        self.reads = 0
        self.writes = 0

    async def start(self) -> None:
        if self.service is not None:
            return
        self._http = httpx.AsyncClient(auth=self.auth, timeout=self.timeout)
        try:
            self.client = await asyncio.to_thread(self._load, self._http)
        except (httpx.HTTPError, OSError, zeep.exceptions.Error) as e:
            raise HinemosUnavailable(f"cannot read {self.endpoint}?wsdl: {e}") from e
        binding = next(iter(self.client.wsdl.bindings.values()))
        self.service = AsyncServiceProxy(self.client, binding, address=self.endpoint)

    def _load(self, http: httpx.AsyncClient) -> zeep.AsyncClient:
        """Fetch and parse the WSDL (synchronous in zeep: run in a thread)."""
        with httpx.Client(auth=self.auth, timeout=self.timeout) as wsdl_http:
            transport = zeep.transports.AsyncTransport(client=http, wsdl_client=wsdl_http)
            return zeep.AsyncClient(f"{self.endpoint}?wsdl", transport=transport)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def _call(self, op: str, *args: Any, write: bool = False) -> Any:
        if write:
            self.writes += 1
        else:
            self.reads += 1
        kwargs = {f"arg{i}": a for i, a in enumerate(args)}
        await self.pacer.wait()
        try:
            return await getattr(self.service, op)(**kwargs)
        except zeep.exceptions.Fault as e:
            raise HinemosError(fault_kind(e), str(e.message or "")) from None
        except zeep.exceptions.TransportError as e:
            if e.status_code == 401:
                raise HinemosError("InvalidUserPass", "HTTP 401") from None
            raise HinemosUnavailable(f"{op}: HTTP {e.status_code}") from e
        except httpx.TimeoutException as e:
            raise HinemosUnavailable(f"{op}: no answer within {self.timeout:g} s") from e
        except (httpx.HTTPError, OSError) as e:
            raise HinemosUnavailable(f"{op}: {str(e) or type(e).__name__}") from e
        except zeep.exceptions.Error as e:  # e.g. an HTML error page from a proxy
            raise HinemosUnavailable(f"{op}: unexpected answer: {e}") from e

    def _type(self, name: str, data: Node) -> Any:
        assert self.client is not None
        return self.client.get_type(f"{{{NS}}}{name}")(**data)

    async def scope_exists(self, scope_id: str) -> bool:
        return await unless_not_found(self._call("getScope", scope_id)) is not None

    async def add_scope(self, scope: ScopeSpec, owner_role_id: str) -> None:
        info = self._type("scopeInfo", {"facilityId": scope.facility_id,
                                        "facilityName": scope.facility_name, "facilityType": 0,
                                        "ownerRoleId": owner_role_id, "valid": True})
        await self._call("addScope", scope.parent, info, write=True)

    async def _children(self, scope_id: str) -> list[dict[str, Any]]:
        """The facilities directly under a scope (getFacilityList), scopes and nodes."""
        return read_facilities(_plain(await self._call("getFacilityList", scope_id)), scope_id)

    async def members(self, scope_id: str) -> set[str] | None:
        items = await self._children(scope_id)
        nodes = {i["facilityId"] for i in items if i.get("facilityType") == 1}
        if not items and not await self.scope_exists(scope_id):
            return None
        return nodes

    async def subscopes(self, scope_id: str) -> set[str]:
        return {i["facilityId"] for i in await self._children(scope_id)
                if i.get("facilityType") == 0}

    async def get_node(self, facility_id: str) -> Node | None:
        found = await unless_not_found(self._call("getNode", facility_id))
        return None if found is None else read_node(_plain(found), facility_id)

    async def node_stamps(self, scope_id: str) -> dict[str, str] | None:
        """getNodeList(scope, ONE_LEVEL = 1): each node's basic fields, modifyDatetime
        among them (RepositoryEndpoint.getNodeList -> FacilitySelector.copyToNodeInfo,
        6.2; its setValid is a modifyNode, so a flag flipped by hand moves the stamp
        too). A node listed without a stamp ("None") never matches a copy, so it is
        read; every node is read when the answer is not a list of nodes."""
        answer = _plain(await self._call("getNodeList", scope_id, ONE_LEVEL))
        if not isinstance(answer, list):
            return None
        return {str(n["facilityId"]): str(n.get("modifyDatetime")) for n in answer
                if isinstance(n, dict) and n.get("facilityId") is not None}

    async def add_node(self, node: Node) -> Node | None:
        await self._call("addNode", self._type("nodeInfo", node), write=True)
        return None

    async def modify_node(self, node: Node) -> None:
        await self._call("modifyNode", self._type("nodeInfo", node), write=True)

    async def set_valid(self, facility_id: str, valid: bool) -> None:
        await self._call("setValid", facility_id, valid, write=True)

    async def delete_nodes(self, facility_ids: Sequence[str]) -> None:
        await self._call("deleteNode", list(facility_ids), write=True)

    async def assign(self, scope_id: str, facility_ids: Sequence[str]) -> None:
        await self._call("assignNodeScope", scope_id, list(facility_ids), write=True)
