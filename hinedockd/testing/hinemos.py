"""Fake Hinemos managers for the tests: the REST API of 7.x (HINEMOS.md §2) and the
SOAP API of 5.x/6.x (§1), both over the same in-memory repository, which follows
the manager's rules (validation, faults, built-in scopes, modifyNode's whole-object
writes). Faults that a real manager produces only by accident can be switched on:
down (connection refused), slow (a delay per call), faulting at random."""

from __future__ import annotations

import asyncio
import base64
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hinedockd.hinemos.backend import HinemosError
from hinedockd.hinemos.memory import MemoryRepository
from hinedockd.hinemos.nodes import Node
from hinedockd.testing.server import FakeServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REST_STATUS = {"InvalidSetting": 400, "UsedFacility": 400, "InvalidUserPass": 401,
               "InvalidRole": 403, "FacilityNotFound": 404, "FacilityDuplicate": 409,
               "UrlNotFound": 404, "HinemosUnknown": 500}
USER, PASSWORD = "hinemos", "hinemos"


class FakeManager(FakeServer):
    """What both fakes share: the repository, the user, the fault switches, the log."""

    def __init__(self, repo: MemoryRepository | None = None) -> None:
        super().__init__()
        self.repo = repo or MemoryRepository()
        self.delay = 0.0  # seconds added to every call
        self.write_delay = 0.0  # and to every write, before it is applied
        self.fail_rate = 0.0  # share of calls answered with HinemosUnknown
        self.calls: list[str] = []  # operation names, in order
        self.writes: list[str] = []
        self.refused_writes: list[str] = []  # writes the repository answered with a fault
        self.refusals: dict[str, int] = {}  # their faults, "op: kind: message" -> how many
        self.down = False
        # What a benchmark reads (`GET /_fake/stats`): when each call came (monotonic),
        # and the bytes of requests and answers.
        self.call_times: list[float] = []
        self.bytes_in = self.bytes_out = 0
        self.app.middlewares.append(self._availability)
        self.app.middlewares.append(self._traffic)
        self.app.add_routes([web.get("/_fake/stats", self._stats)])

    @web.middleware
    async def _availability(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.down and request.transport is not None:
            request.transport.abort()  # a kept-alive connection to a manager that is away
            raise web.HTTPServiceUnavailable()
        return await handler(request)

    @web.middleware
    async def _traffic(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path != "/_fake/stats":
            self.bytes_in += request.content_length or 0
            body = getattr(response, "body", None)
            self.bytes_out += len(body) if isinstance(body, bytes) else 0
        return response

    async def _stats(self, request: web.Request) -> web.Response:
        """Calls and writes so far, the most calls in any one second (of those after
        `?after=` a time of the system's monotonic clock, if given), bytes each way,
        and the facilities by kind."""
        after = float(request.query.get("after", "-inf"))
        per_second: dict[int, int] = {}
        for t in (t for t in self.call_times if t > after):
            per_second[int(t)] = per_second.get(int(t), 0) + 1
        kinds = [f.get("facilityType") for f in self.repo.facilities.values()]
        return web.json_response({
            "calls": len(self.calls), "writes": len(self.writes),
            "writes_by_operation": dict(Counter(self.writes)),
            "refused_writes": len(self.refused_writes),
            "refusals": dict(sorted(self.refusals.items(), key=lambda kv: -kv[1])[:10]),
            "peak_calls_per_second": max(per_second.values(), default=0),
            "first_call": self.call_times[0] if self.call_times else None,
            "last_call": self.call_times[-1] if self.call_times else None,
            "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
            "nodes": kinds.count(1), "scopes": kinds.count(0)})

    async def go_down(self) -> None:
        """The manager stops: connections are refused until `come_back`."""
        self.down = True
        await self.unlisten()

    async def come_back(self) -> None:
        self.down = False
        await self.listen()

    async def operate(self, name: str, write: bool, op: Callable[[], Any]) -> Any:
        """Every operation goes through here: delay, random faults, the call log."""
        if self.delay or (write and self.write_delay):
            await asyncio.sleep(self.delay + (self.write_delay if write else 0.0))
        self.calls.append(name)
        self.call_times.append(time.monotonic())
        if self.fail_rate and random.random() < self.fail_rate:
            raise HinemosError("HinemosUnknown", "injected fault")
        try:
            result = op()
        except HinemosError as e:
            if write:
                self.refused_writes.append(name)
                why = f"{name}: {e.kind}: {e.message}"[:200]
                self.refusals[why] = self.refusals.get(why, 0) + 1
            raise
        if write:
            self.writes.append(name)
        return result


# ---- REST (7.x) -----------------------------------------------------------------


# The fields AddNodeRequest takes (HinemosManager/src_rest/com/clustercontrol/rest/
# endpoint/repository/dto/AddNodeRequest.java, 7.1); ModifyNodeRequest takes the same
# but facilityId and ownerRoleId. The manager's JSON reader ignores any other field
# (FAIL_ON_UNKNOWN_PROPERTIES off, rest/util/RestObjectMapperWrapper.java): the fake
# records them, so a test can show the daemon sends nothing the manager drops.
ADD_NODE_FIELDS = frozenset({
    "autoDeviceSearch", "administrator", "cloudService", "cloudScope", "cloudResourceType",
    "cloudResourceId", "cloudResourceName", "cloudLocation", "cloudLogPriority", "contact",
    "hardwareType", "ipAddressV4", "ipAddressV6", "ipAddressVersion", "ipmiIpAddress",
    "ipmiLevel", "ipmiPort", "ipmiProtocol", "ipmiRetries", "ipmiTimeout", "ipmiUser",
    "ipmiUserPassword", "jobPriority", "jobMultiplicity", "nodeName", "platformFamily",
    "snmpCommunity", "snmpPort", "snmpRetryCount", "snmpTimeout", "snmpVersion",
    "snmpSecurityLevel", "snmpUser", "snmpAuthPassword", "snmpPrivPassword",
    "snmpAuthProtocol", "snmpPrivProtocol", "sshUser", "sshUserPassword",
    "sshPrivateKeyFilepath", "sshPrivateKeyPassphrase", "sshPort", "sshTimeout",
    "subPlatformFamily", "wbemPort", "wbemProtocol", "wbemRetryCount", "wbemTimeout",
    "wbemUser", "wbemUserPassword", "winrmPort", "winrmProtocol", "winrmRetries",
    "winrmTimeout", "winrmUser", "winrmUserPassword", "winrmVersion", "rpaLogDir",
    "rpaManagementToolType", "rpaResourceId", "rpaUser", "rpaExecEnvId", "agentAwakePort",
    "nodeOsInfo", "nodeCpuInfo", "nodeDeviceInfo", "nodeDiskInfo", "nodeFilesystemInfo",
    "nodeHostnameInfo", "nodeMemoryInfo", "nodeNetworkInterfaceInfo", "nodeNoteInfo",
    "nodeVariableInfo", "nodeNetstatInfo", "nodeProcessInfo", "nodePackageInfo",
    "nodeProductInfo", "nodeLicenseInfo", "nodeCustomInfo", "ownerRoleId", "facilityId",
    "facilityName", "description", "iconImage", "valid",
})
MODIFY_NODE_FIELDS = ADD_NODE_FIELDS - {"facilityId", "ownerRoleId"}
IP_VERSIONS = {"IPV4": 4, "IPV6": 6}  # IpaddressVersionEnum; another name is a 400


# The fields NodeInfoResponse has that ModifyNodeRequest does not take (dto/
# NodeInfoResponse.java): a read-modify-write that echoes them back has them dropped.
RESPONSE_ONLY = {"createUserId": "hinemos", "createDatetime": "2026/12/02 09:00:00.000",
                 "modifyUserId": "hinemos", "modifyDatetime": "2026/12/02 09:00:00.000",
                 "builtInFlg": False, "displaySortOrder": 100, "notReferFlg": False}


def _rest_time(ms: object) -> object:
    """A datetime as REST answers it (RestBeanConvertDatetime): yyyy/MM/dd HH:mm:ss.SSS."""
    if not isinstance(ms, int):
        return ms
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(ms // 1000)) + f".{ms % 1000:03d}"


def _rest_node(n: Node) -> Node:
    """NodeInfoResponse: no facilityType (FacilityInfoResponse, in lists, has one)."""
    out = {k: v for k, v in n.items() if k not in ("parent", "members", "facilityType")}
    out["ipAddressVersion"] = "IPV4" if str(n.get("ipAddressVersion")) in ("4", "IPV4") else "IPV6"
    for k in ("createDatetime", "modifyDatetime"):
        if k in out:
            out[k] = _rest_time(out[k])
    return {**RESPONSE_ONLY, **out}


# FacilityInfoResponse (dto/FacilityInfoResponse.java, 7.1): what getFacilityList gives
# of each child, a node's own fields (its variables, its address…) not among them.
FACILITY_RESPONSE = ("facilityId", "facilityName", "facilityType", "description",
                   "displaySortOrder", "iconImage", "valid", "createUserId", "createDatetime",
                   "modifyUserId", "modifyDatetime", "builtInFlg", "notReferFlg", "ownerRoleId")


def _rest_facility(f: Node) -> Node:
    out = {k: _rest_time(v) if k.endswith("Datetime") else v
           for k, v in {**RESPONSE_ONLY, **f}.items() if k in FACILITY_RESPONSE}
    out["facilityType"] = "TYPE_NODE" if f.get("facilityType") == 1 else "TYPE_SCOPE"
    return out


def _from_rest(body: Node, known: frozenset[str], ignored: list[str]) -> Node:
    """A node request as the manager reads it: unknown fields dropped (and recorded),
    an enum by its name."""
    ignored.extend(sorted(k for k in body if k not in known))
    node = {k: v for k, v in body.items() if k in known}
    version = node.get("ipAddressVersion")
    if version is not None:
        if version not in IP_VERSIONS:
            raise HinemosError("InvalidSetting", f"ipAddressVersion: no such name {version!r}")
        node["ipAddressVersion"] = IP_VERSIONS[version]
    node["facilityType"] = 1
    return node


class FakeRestManager(FakeManager):
    def __init__(self, repo: MemoryRepository | None = None,
                 token_lifetime: float = 3600.0) -> None:
        super().__init__(repo)
        self.tokens: dict[str, float] = {}
        self.token_lifetime = token_lifetime
        self.ignored_fields: list[str] = []  # sent by the client, dropped by the manager
        self.app.middlewares.append(self._url_not_found)
        r = "/HinemosWeb/api/RepositoryRestEndpoints/repository"
        a = "/HinemosWeb/api/AccessRestEndpoints/access"
        self.app.add_routes([
            web.post(f"{a}/login", self._login),
            web.get(f"{r}/scope/{{id}}", self._w(self._get_scope)),
            web.post(f"{r}/scope", self._w(self._add_scope)),
            web.get(f"{r}/facility", self._w(self._facility)),
            web.get(f"{r}/node/{{id}}", self._w(self._get_node)),
            web.get(f"{r}/node_withoutNodeConfigInfo", self._w(self._node_list)),
            web.post(f"{r}/node", self._w(self._add_node)),
            web.put(f"{r}/node/{{id}}", self._w(self._modify_node)),
            web.delete(f"{r}/node", self._w(self._delete_node)),
            web.put(f"{r}/node_valid/{{id}}", self._w(self._set_valid)),
            web.put(f"{r}/facilityRelation/{{id}}", self._w(self._assign)),
        ])

    def expire_tokens(self) -> None:
        self.tokens.clear()

    @web.middleware
    async def _url_not_found(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """An unknown URL: 404 with the manager's ExceptionBody naming UrlNotFound
        (rest/exception/HinemosRestExceptionMapper.java turns JAX-RS's NotFound into it)."""
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return self._error(HinemosError("UrlNotFound", f"{request.path} not found"))

    async def _login(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body.get("userId") != USER or body.get("password") != PASSWORD:
            return self._error(HinemosError("InvalidUserPass", "login failed"))
        token = secrets.token_hex(16)
        self.tokens[token] = asyncio.get_running_loop().time() + self.token_lifetime
        self.calls.append("login")
        self.call_times.append(time.monotonic())
        return web.json_response({"token": {"tokenId": token, "expirationDate": "",
                                            "validTermMinites": 1440}, "managerInfo": {}})

    @staticmethod
    def _error(e: HinemosError) -> web.Response:
        status = REST_STATUS.get(e.kind, 500)
        return web.json_response({"status": status, "message": e.message,
                                  "exception": f"com.clustercontrol.fault.{e.kind}"},
                                 status=status)

    def _w(self, fn: Callable[[web.Request], Awaitable[Any]]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            auth = request.headers.get("Authorization", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
            if self.tokens.get(token, 0) < asyncio.get_running_loop().time():
                return self._error(HinemosError("InvalidUserPass", "token invalid or expired"))
            try:
                result = await fn(request)
            except HinemosError as e:
                return self._error(e)
            return web.json_response(result) if result is not None else web.Response()
        return handler

    async def _get_scope(self, request: web.Request) -> Any:
        return await self.operate("getScope", False,
                                  lambda: self.repo.get_scope(request.match_info["id"]))

    async def _add_scope(self, request: web.Request) -> Any:
        body = await request.json()
        scope = {**body["scopeInfo"], "facilityType": 0}
        await self.operate("addScope", True,
                           lambda: self.repo.add_scope(body.get("parentFacilityId", ""), scope))

    async def _facility(self, request: web.Request) -> Any:
        parent = request.query.get("parentFacilityId", "")
        items = await self.operate("getFacilityList", False,
                                   lambda: self.repo.facility_list(parent))
        return [_rest_facility(i) for i in items]

    async def _node_list(self, request: web.Request) -> Any:
        """getNodeList (RepositoryRestEndpoints.java, 7.1): with parentFacilityId and
        level, the nodes under that scope as NodeInfoResponseP2, in GetNodeListResponse.
        Only ONE_LEVEL is followed here (what the daemon asks); ALL is refused."""
        parent, level = request.query.get("parentFacilityId"), request.query.get("level")
        if level not in (None, "ONE_LEVEL", "ALL") or level == "ALL" or parent is None:
            raise HinemosError("InvalidSetting", f"the fake answers ONE_LEVEL only: {level}")
        nodes = await self.operate("getNodeList", False, lambda: self.repo.node_list(parent))
        items = [{**{k: _rest_time(v) if k.endswith("Datetime") else v
                     for k, v in node.items()},
                  "ipAddressVersion": "IPV6" if node.get("ipAddressVersion") == 6 else "IPV4"}
                 for node in nodes]
        return {"total": len(items), "nodeInfoList": items}

    async def _get_node(self, request: web.Request) -> Any:
        node = await self.operate("getNode", False,
                                  lambda: self.repo.get_node(request.match_info["id"]))
        return _rest_node(node)

    async def _add_node(self, request: web.Request) -> Any:
        """addNode answers the node as stored, read back (getNode after the commit,
        RepositoryControllerBean.addNode of 7.1), modifyDatetime included."""
        node = _from_rest(await request.json(), ADD_NODE_FIELDS, self.ignored_fields)
        await self.operate("addNode", True, lambda: self.repo.add_node(node))
        return _rest_node(self.repo.get_node(node["facilityId"]))

    async def _modify_node(self, request: web.Request) -> Any:
        body = _from_rest(await request.json(), MODIFY_NODE_FIELDS, self.ignored_fields)
        node = {**body, "facilityId": request.match_info["id"]}
        await self.operate("modifyNode", True, lambda: self.repo.modify_node(node))

    async def _delete_node(self, request: web.Request) -> Any:
        ids = [i for i in request.query.get("facilityIds", "").split(",") if i]
        await self.operate("deleteNode", True, lambda: self.repo.delete_nodes(ids))

    async def _set_valid(self, request: web.Request) -> Any:
        body = await request.json()
        await self.operate("setValid", True,
                           lambda: self.repo.set_valid(request.match_info["id"], body["flg"]))

    async def _assign(self, request: web.Request) -> Any:
        body = await request.json()
        await self.operate("assignNodeScope", True, lambda: self.repo.assign(
            request.match_info["id"], body["facilityIdList"]))


def basic_auth_ok(header: str) -> bool:
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return (user, password) == (USER, PASSWORD)


# ---- SOAP (5.x / 6.x) -------------------------------------------------------------

NS = "http://repository.ws.clustercontrol.com"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
# Our own WSDL for the fake: the operations the daemon uses, and the fields it reads
# and writes plus a few it must carry through read-modify-write. Element order is
# alphabetical within each type, base type first, as JAX-WS writes Hinemos' schema.
FACILITY_FIELDS = [("builtInFlg", "boolean"), ("createDatetime", "long"),
                   ("createUserId", "string"), ("description", "string"),
                   ("displaySortOrder", "int"), ("facilityId", "string"),
                   ("facilityName", "string"), ("facilityType", "int"),
                   ("iconImage", "string"), ("modifyDatetime", "long"),
                   ("modifyUserId", "string"), ("notReferFlg", "boolean"),
                   ("ownerRoleId", "string"), ("valid", "boolean")]
NODE_FIELDS = [("administrator", "string"), ("contact", "string"), ("ipAddressV4", "string"),
               ("ipAddressV6", "string"), ("ipAddressVersion", "int"),
               ("nodeHostnameInfo", "tns:nodeHostnameInfo*"), ("nodeName", "string"),
               ("nodeVariableInfo", "tns:nodeVariableInfo*"), ("platformFamily", "string"),
               ("snmpCommunity", "string"), ("snmpPort", "int"), ("snmpVersion", "string")]
LISTS = {"nodeHostnameInfo", "nodeVariableInfo"}
TYPES = {name: kind for name, kind in FACILITY_FIELDS + NODE_FIELDS}
# operation -> (parameters, return type or None, writes?)
OPERATIONS: dict[str, tuple[list[tuple[str, str]], str | None, bool]] = {
    "getScope": ([("arg0", "xs:string")], "tns:scopeInfo", False),
    "addScope": ([("arg0", "xs:string"), ("arg1", "tns:scopeInfo")], None, True),
    "getFacilityList": ([("arg0", "xs:string")], "tns:facilityInfo*", False),
    "getNode": ([("arg0", "xs:string")], "tns:nodeInfo", False),
    "getNodeList": ([("arg0", "xs:string"), ("arg1", "xs:int")], "tns:nodeInfo*", False),
    "addNode": ([("arg0", "tns:nodeInfo")], None, True),
    "modifyNode": ([("arg0", "tns:nodeInfo")], None, True),
    "setValid": ([("arg0", "xs:string"), ("arg1", "xs:boolean")], None, True),
    "deleteNode": ([("arg0", "xs:string*")], None, True),
    "assignNodeScope": ([("arg0", "xs:string"), ("arg1", "xs:string*")], None, True),
}
FAULTS = ("InvalidUserPass", "InvalidRole", "HinemosUnknown", "InvalidSetting",
          "FacilityDuplicate", "FacilityNotFound", "UsedFacility")


def _xs_element(name: str, kind: str, required: bool = False) -> str:
    many = kind.endswith("*")
    kind = kind.rstrip("*")
    kind = kind if ":" in kind else f"xs:{kind}"
    occurs = ' maxOccurs="unbounded"' if many else ""
    return f'<xs:element name="{name}" type="{kind}" minOccurs="{1 if required else 0}"{occurs}/>'


def fake_wsdl(address: str) -> str:
    seq = "".join
    types = [
        f'<xs:complexType name="facilityInfo"><xs:sequence>'
        f'{seq(_xs_element(n, k) for n, k in FACILITY_FIELDS)}</xs:sequence></xs:complexType>',
        '<xs:complexType name="scopeInfo"><xs:complexContent><xs:extension '
        'base="tns:facilityInfo"><xs:sequence/></xs:extension></xs:complexContent>'
        '</xs:complexType>',
        f'<xs:complexType name="nodeInfo"><xs:complexContent><xs:extension '
        f'base="tns:facilityInfo"><xs:sequence>{seq(_xs_element(n, k) for n, k in NODE_FIELDS)}'
        f'</xs:sequence></xs:extension></xs:complexContent></xs:complexType>',
        '<xs:complexType name="nodeHostnameInfo"><xs:sequence>'
        f'{_xs_element("hostname", "string")}</xs:sequence></xs:complexType>',
        '<xs:complexType name="nodeVariableInfo"><xs:sequence>'
        f'{_xs_element("nodeVariableName", "string")}{_xs_element("nodeVariableValue", "string")}'
        '</xs:sequence></xs:complexType>',
    ]
    for fault in FAULTS:
        types.append(f'<xs:element name="{fault}" type="tns:{fault}"/><xs:complexType '
                     f'name="{fault}"><xs:sequence>{_xs_element("message", "string")}'
                     f'{_xs_element("facilityId", "string")}</xs:sequence></xs:complexType>')
    messages, port_ops, binding_ops = [], [], []
    for op, (params, ret, _) in OPERATIONS.items():
        body = seq(_xs_element(n, k, required=not k.endswith("*")) for n, k in params)
        out = _xs_element("return", ret) if ret else ""
        types.append(f'<xs:element name="{op}" type="tns:{op}"/><xs:complexType name="{op}">'
                     f'<xs:sequence>{body}</xs:sequence></xs:complexType>'
                     f'<xs:element name="{op}Response" type="tns:{op}Response"/>'
                     f'<xs:complexType name="{op}Response"><xs:sequence>{out}</xs:sequence>'
                     f'</xs:complexType>')
        messages.append(f'<message name="{op}"><part name="parameters" element="tns:{op}"/>'
                        f'</message><message name="{op}Response"><part name="parameters" '
                        f'element="tns:{op}Response"/></message>')
        port_ops.append(f'<operation name="{op}"><input message="tns:{op}"/>'
                        f'<output message="tns:{op}Response"/></operation>')
        binding_ops.append(f'<operation name="{op}"><soap:operation soapAction=""/>'
                           '<input><soap:body use="literal"/></input>'
                           '<output><soap:body use="literal"/></output></operation>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" '
        'xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f'xmlns:tns="{NS}" targetNamespace="{NS}" name="RepositoryEndpointService">'
        f'<types><xs:schema version="1.0" targetNamespace="{NS}">{seq(types)}</xs:schema></types>'
        f'{seq(messages)}<portType name="RepositoryEndpoint">{seq(port_ops)}</portType>'
        '<binding name="RepositoryEndpointPortBinding" type="tns:RepositoryEndpoint">'
        '<soap:binding transport="http://schemas.xmlsoap.org/soap/http" style="document"/>'
        f'{seq(binding_ops)}</binding><service name="RepositoryEndpointService">'
        '<port name="RepositoryEndpointPort" binding="tns:RepositoryEndpointPortBinding">'
        f'<soap:address location="{address}"/></port></service></definitions>')


def _value(el: Any, kind: str) -> Any:
    text = el.text or ""
    kind = kind.rstrip("*").split(":")[-1]
    if kind == "boolean":
        return text == "true"
    if kind in ("int", "long"):
        return int(text)
    return text


def _from_xml(el: Any) -> Node:
    """A facilityInfo/nodeInfo element -> a dict with Hinemos' field names."""
    out: Node = {}
    for child in el:
        name = child.tag.rsplit("}", 1)[-1]
        if name in LISTS:
            out.setdefault(name, []).append({c.tag.rsplit("}", 1)[-1]: c.text or ""
                                             for c in child})
        else:
            out[name] = _value(child, TYPES.get(name, "string"))
    return out


def _to_xml(tag: str, data: Node, fields: list[tuple[str, str]]) -> str:
    from xml.sax.saxutils import escape

    parts = [f"<{tag}>"]
    for name, kind in fields:
        if name not in data or data[name] is None:
            continue
        value = data[name]
        if name in LISTS:
            for item in value:
                inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in item.items())
                parts.append(f"<{name}>{inner}</{name}>")
        elif kind == "boolean":
            parts.append(f"<{name}>{'true' if value else 'false'}</{name}>")
        else:
            parts.append(f"<{name}>{escape(str(value))}</{name}>")
    parts.append(f"</{tag}>")
    return "".join(parts)


class FakeSoapManager(FakeManager):
    """RepositoryEndpoint at /HinemosWS/RepositoryEndpoint (`?wsdl` unauthenticated);
    every other call needs the basic auth header (InvalidUserPass fault without)."""

    def __init__(self, repo: MemoryRepository | None = None) -> None:
        super().__init__(repo)
        self.requests: list[bytes] = []  # every SOAP body, for schema validation
        self.app.add_routes([web.get("/HinemosWS/RepositoryEndpoint", self._wsdl),
                             web.post("/HinemosWS/RepositoryEndpoint", self._post)])

    async def _wsdl(self, request: web.Request) -> web.Response:
        address = f"http://{request.host}/HinemosWS/RepositoryEndpoint"
        return web.Response(text=fake_wsdl(address), content_type="text/xml")

    @staticmethod
    def _envelope(body: str, status: int = 200) -> web.Response:
        return web.Response(
            text=f'<S:Envelope xmlns:S="{SOAP_ENV}"><S:Body>{body}</S:Body></S:Envelope>',
            status=status, content_type="text/xml", charset="utf-8")

    def _fault(self, e: HinemosError, facility_id: str = "") -> web.Response:
        from xml.sax.saxutils import escape

        fid = f"<facilityId>{escape(facility_id)}</facilityId>" if facility_id else ""
        return self._envelope(
            f"<S:Fault><faultcode>S:Server</faultcode><faultstring>{escape(e.message)}"
            f'</faultstring><detail><ns2:{e.kind} xmlns:ns2="{NS}"><message>'
            f"{escape(e.message)}</message>{fid}</ns2:{e.kind}></detail></S:Fault>", 500)

    async def _post(self, request: web.Request) -> web.Response:
        from lxml import etree

        raw = await request.read()
        if not basic_auth_ok(request.headers.get("Authorization", "")):
            return self._fault(HinemosError("InvalidUserPass", "Authorization does not exist"))
        try:
            envelope = etree.fromstring(raw)
            call = envelope.find(f"{{{SOAP_ENV}}}Body")[0]
        except (etree.XMLSyntaxError, TypeError, IndexError):
            return self._fault(HinemosError("HinemosUnknown", "malformed request"))
        self.requests.append(etree.tostring(call))
        op = call.tag.rsplit("}", 1)[-1]
        if op not in OPERATIONS:
            return self._fault(HinemosError("HinemosUnknown", f"no operation {op}"))
        args = {c.tag: c for c in call}
        lists = {c.tag: [x.text or "" for x in call if x.tag == c.tag] for c in call}
        try:
            result = await self.operate(op, OPERATIONS[op][2],
                                        lambda: self._dispatch(op, args, lists))
        except HinemosError as e:
            fid = args["arg0"].text if "arg0" in args and op in ("getNode", "getScope") else ""
            return self._fault(e, fid or "")
        return self._envelope(f'<ns2:{op}Response xmlns:ns2="{NS}">{result or ""}'
                              f"</ns2:{op}Response>")

    def _dispatch(self, op: str, args: dict[str, Any], lists: dict[str, list[str]]) -> str:
        repo = self.repo
        text = {k: (v.text or "") for k, v in args.items()}
        if op == "getScope":
            return _to_xml("return", repo.get_scope(text["arg0"]), FACILITY_FIELDS)
        if op == "addScope":
            repo.add_scope(text["arg0"], _from_xml(args["arg1"]))
        elif op == "getFacilityList":
            return "".join(_to_xml("return", f, FACILITY_FIELDS)
                           for f in repo.facility_list(text["arg0"]))
        elif op == "getNode":
            return _to_xml("return", repo.get_node(text["arg0"]), FACILITY_FIELDS + NODE_FIELDS)
        elif op == "getNodeList":
            # RepositoryEndpoint.getNodeList (6.2): copyToNodeInfo's fields of each node
            # under the scope; the fake knows ONE_LEVEL (1) only, what the daemon asks.
            if text["arg1"] != "1":
                raise HinemosError("HinemosUnknown", f"the fake has no level {text['arg1']}")
            return "".join(_to_xml("return", n, FACILITY_FIELDS + NODE_FIELDS)
                           for n in repo.node_list(text["arg0"]))
        elif op == "addNode":
            repo.add_node(_from_xml(args["arg0"]))
        elif op == "modifyNode":
            repo.modify_node(_from_xml(args["arg0"]))
        elif op == "setValid":
            repo.set_valid(text["arg0"], text["arg1"] == "true")
        elif op == "deleteNode":
            repo.delete_nodes(lists.get("arg0", []))
        elif op == "assignNodeScope":
            repo.assign(text["arg0"], lists.get("arg1", []))
        return ""
