"""The `rest` backend: Hinemos 7.x REST API (HINEMOS.md §2) over aiohttp.

Login with user and password for a bearer token; log in again on a 401 (the token
expired). An error is named by the manager's own `ExceptionBody` (`exception`: the
fault's class name, HinemosManager/src_rest/com/clustercontrol/rest/exception/
{HinemosRestExceptionMapper,ExceptionBody}.java), as the SOAP API names it; the
status alone only where there is no body. A 404 that is not the manager's
FacilityNotFound (`UrlNotFound`, or a server that is not the REST API at all) means
`[hinemos] url` is wrong, and says what it should be."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

from hinedockd.config import HinemosConfig
from hinedockd.hinemos.backend import (
    HinemosError,
    HinemosUnavailable,
    not_understood,
    read_facilities,
    read_node,
    unless_not_found,
)
from hinedockd.hinemos.desired import ScopeSpec
from hinedockd.hinemos.nodes import Node
from hinedockd.hinemos.pacer import Pacer

REPO = "RepositoryRestEndpoints/repository"
STATUS_FAULTS = {400: "InvalidSetting", 401: "InvalidUserPass", 403: "InvalidRole",
                 409: "FacilityDuplicate", 500: "HinemosUnknown"}
REST_URL_FORM = "http://HOST:8080/HinemosWeb/api"
# Response fields that a modify request does not take.
READ_ONLY = frozenset({"facilityId", "ownerRoleId", "facilityType", "createUserId",
                       "createDatetime", "modifyUserId", "modifyDatetime", "builtInFlg",
                       "displaySortOrder", "notReferFlg"})


def to_rest(node: Node) -> Node:
    out = {k: v for k, v in node.items() if k != "facilityType"}
    if str(out.get("ipAddressVersion")) in ("4", "IPV4"):
        out["ipAddressVersion"] = "IPV4"
    return out


class RestBackend:
    name = "rest"

    def __init__(self, cfg: HinemosConfig, password: str) -> None:
        self.base = cfg.url.rstrip("/")
        self.user, self._password = cfg.user, password
        self.session: aiohttp.ClientSession | None = None
        self.timeout = aiohttp.ClientTimeout(total=cfg.timeout_seconds,
                                             connect=min(5.0, cfg.timeout_seconds))
        self.token = ""
        self.pacer = Pacer(cfg.max_calls_per_second)
        self.reads = 0
        self.writes = 0

    async def start(self) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=self.timeout)
        await self._login()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def _login(self) -> None:
        body = await self._send("POST", "AccessRestEndpoints/access/login",
                                {"userId": self.user, "password": self._password}, auth=False)
        try:
            self.token = body["token"]["tokenId"]
        except (KeyError, TypeError):
            raise HinemosError("HinemosUnknown", "login answer without a token") from None

    async def _send(self, method: str, path: str, json: Any = None,
                    params: dict[str, str] | None = None, auth: bool = True) -> Any:
        assert self.session is not None, "start() first"
        await self.pacer.wait()
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        try:
            async with self.session.request(method, f"{self.base}/{path}", json=json,
                                            params=params, headers=headers) as resp:
                text = await resp.text()
                if resp.status // 100 == 2:
                    return await resp.json(content_type=None) if text.strip() else None
                status = resp.status
        except TimeoutError as e:
            raise HinemosUnavailable(f"{method} {path}: no answer within "
                                     f"{self.timeout.total:g} s") from e
        except (aiohttp.ClientError, OSError) as e:
            raise HinemosUnavailable(f"{method} {path}: {str(e) or type(e).__name__}") from e
        message, exception = text, ""
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
            body = orjson.loads(text)
            message = str(body.get("message", text))
            exception = str(body.get("exception") or "").rsplit(".", 1)[-1]
        if exception == "UrlNotFound" or (status == 404 and not exception):
            raise HinemosError("UrlNotFound", f"{method} {self.base}/{path}: no such URL on "
                               f"the manager; [hinemos] url for 7.x is {REST_URL_FORM}")
        kind = exception or STATUS_FAULTS.get(status, "HinemosUnknown" if status < 500 else "")
        if not kind:  # 502/503/504: a proxy in front of a manager that is away
            raise HinemosUnavailable(f"{method} {path}: HTTP {status}")
        raise HinemosError(kind, message[:500])

    async def _call(self, method: str, path: str, json: Any = None,
                    params: dict[str, str] | None = None, write: bool = False) -> Any:
        if write:
            self.writes += 1
        else:
            self.reads += 1
        if not self.token:
            await self._login()
        try:
            return await self._send(method, f"{REPO}/{path}", json, params)
        except HinemosError as e:
            if e.kind != "InvalidUserPass":
                raise
            await self._login()  # the token expired
            return await self._send(method, f"{REPO}/{path}", json, params)

    async def _get_or_none(self, path: str) -> Any:
        return await unless_not_found(self._call("GET", path))

    async def scope_exists(self, scope_id: str) -> bool:
        return await self._get_or_none(f"scope/{scope_id}") is not None

    async def add_scope(self, scope: ScopeSpec, owner_role_id: str) -> None:
        await self._call("POST", "scope", {"parentFacilityId": scope.parent, "scopeInfo": {
            "facilityId": scope.facility_id, "facilityName": scope.facility_name,
            "description": "", "ownerRoleId": owner_role_id}}, write=True)

    async def _children(self, scope_id: str) -> list[dict[str, Any]]:
        """The facilities directly under a scope (getFacilityList), scopes and nodes."""
        items = await self._call("GET", "facility", params={"parentFacilityId": scope_id})
        return read_facilities(items, scope_id)

    async def members(self, scope_id: str) -> set[str] | None:
        items = await self._children(scope_id)
        nodes = {i["facilityId"] for i in items if i.get("facilityType") == "TYPE_NODE"}
        if not items and not await self.scope_exists(scope_id):
            return None
        return nodes

    async def subscopes(self, scope_id: str) -> set[str]:
        return {i["facilityId"] for i in await self._children(scope_id)
                if i.get("facilityType") == "TYPE_SCOPE"}

    async def get_node(self, facility_id: str) -> Node | None:
        found = await self._get_or_none(f"node/{facility_id}")
        return None if found is None else read_node(found, facility_id)

    async def node_stamps(self, scope_id: str) -> dict[str, str] | None:
        """getNodeList (`node_withoutNodeConfigInfo`, ONE_LEVEL): each node's basic
        fields, modifyDatetime among them (FacilitySelector.copyToNodeInfo, 7.1)."""
        answer = await self._call("GET", "node_withoutNodeConfigInfo", params={
            "parentFacilityId": scope_id, "level": "ONE_LEVEL"})
        try:
            return {str(n["facilityId"]): str(n.get("modifyDatetime"))
                    for n in answer["nodeInfoList"] or []}
        except (KeyError, TypeError):
            raise not_understood(f"getNodeList {scope_id}", "no nodeInfoList") from None

    async def add_node(self, node: Node) -> Node | None:
        answer = await self._call("POST", "node", to_rest(node), write=True)
        return answer if isinstance(answer, dict) and "facilityId" in answer else None

    async def modify_node(self, node: Node) -> None:
        body = {k: v for k, v in to_rest(node).items() if k not in READ_ONLY}
        await self._call("PUT", f"node/{node['facilityId']}", body, write=True)

    async def set_valid(self, facility_id: str, valid: bool) -> None:
        await self._call("PUT", f"node_valid/{facility_id}", {"flg": valid}, write=True)

    async def delete_nodes(self, facility_ids: Sequence[str]) -> None:
        await self._call("DELETE", "node", params={"facilityIds": ",".join(facility_ids)},
                         write=True)

    async def assign(self, scope_id: str, facility_ids: Sequence[str]) -> None:
        await self._call("PUT", f"facilityRelation/{scope_id}",
                         {"facilityIdList": list(facility_ids)}, write=True)
