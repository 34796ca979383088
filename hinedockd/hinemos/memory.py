"""A repository in memory that behaves as the Hinemos manager does (HINEMOS.md §1.5-1.7,
§3c): the facility tree with its built-in scopes, the validation rules, the faults,
and `modifyNode`'s whole-object semantics. The dry-run backend and the fake SOAP and
REST managers of the tests all stand on it. It follows the manager's source
(hinemos/hinemos, branches 6.2 and master), not the daemon's idea of it:

- built-in scopes: `FacilitySelector.isBuildinScope` (HinemosManager/src_repository/
  com/clustercontrol/repository/factory/FacilitySelector.java): REGISTERED,
  UNREGISTERED, INTERNAL, OWNER, OS, NODE_CONFIGURATION, every OS scope (their IDs
  are the platform IDs) and every role scope (their IDs are the role IDs);
- a new node also goes into REGISTERED, its owner role's scope and its platform's
  scope (`FacilityModifier.addNode`, …/repository/factory/FacilityModifier.java);
- assignNodeScope: `RepositoryValidator.validateaAssignNodeScope` (InvalidSetting for
  an unknown scope or node), then `RepositoryControllerBean.checkIsBuildInScope`,
  whose `getScopePK` fails for a node's ID: HinemosUnknown for a built-in scope or a
  node (…/repository/util/RepositoryValidator.java, …/session/RepositoryControllerBean.java);
- getScope answers for a node's ID too; deleteNode of an unknown ID is
  FacilityNotFound and deletes nothing (RepositoryControllerBean.deleteNode)."""

from __future__ import annotations

import copy
import ipaddress
import time
from collections.abc import Sequence
from typing import Any

from hinedockd.hinemos.backend import HinemosError
from hinedockd.hinemos.nodes import Node
from hinedockd.model import FACILITY_ID_MAX, FACILITY_ID_RE

BUILT_IN = ("REGISTERED", "UNREGISTERED", "INTERNAL", "OWNER", "OS", "NODE_CONFIGURATION")
ROLES = frozenset({"ALL_USERS", "ADMINISTRATORS", "INTERNAL"})
# Role scopes under OWNER (INTERNAL's is the top-level INTERNAL scope).
ROLE_SCOPES = ("ADMINISTRATORS", "ALL_USERS")
PLATFORMS = ("LINUX", "WINDOWS", "SOLARIS", "OTHER")  # OS scopes under OS
# What getNodeList gives of each node (FacilitySelector.copyToNodeInfo, 6.2 and 7.1).
NODE_LIST_FIELDS = ("facilityId", "facilityName", "ipAddressVersion", "ipAddressV4",
                    "ipAddressV6", "platformFamily", "description", "ownerRoleId",
                    "createDatetime", "modifyDatetime")
# What the server fills in when a field is not sent (Java defaults); e.g. an empty
# snmpCommunity becomes "public" (§1.7.7).
NODE_DEFAULTS: dict[str, Any] = {"snmpCommunity": "public", "snmpPort": 161,
                                 "snmpVersion": "2c", "description": "", "administrator": "",
                                 "contact": "", "nodeNoteInfo": []}


def _fault(kind: str, message: str) -> HinemosError:
    return HinemosError(kind, message)


class MemoryRepository:
    def __init__(self) -> None:
        # facility ID -> facility dict; scopes carry "parent" and "members"
        self.facilities: dict[str, dict[str, Any]] = {}
        self._last_stamp = 0
        for parent, ids in (("", BUILT_IN), ("OWNER", ROLE_SCOPES), ("OS", PLATFORMS)):
            for sid in ids:
                self.facilities[sid] = {"facilityId": sid, "facilityName": sid,
                                        "facilityType": 0, "builtInFlg": True,
                                        "parent": parent, "members": set(),
                                        "ownerRoleId": "ADMINISTRATORS", "valid": True}

    # ---- checks (§1.5) ----------------------------------------------------------

    def _check_facility(self, f: dict[str, Any], kind: int) -> None:
        fid = f.get("facilityId")
        if (not fid or not isinstance(fid, str) or len(fid) > FACILITY_ID_MAX
                or not FACILITY_ID_RE.match(fid) or fid == "_ROOT_"):
            raise _fault("InvalidSetting", f"invalid facility ID {fid!r}")
        name = f.get("facilityName")
        if not name or len(str(name)) > 128:
            raise _fault("InvalidSetting", '$[MESSAGE_PLEASE_INPUT:"$[FACILITY_NAME]"]')
        if len(str(f.get("description") or "")) > 256:
            raise _fault("InvalidSetting", "description too long")
        if f.get("ownerRoleId") is None:
            raise _fault("InvalidSetting", "please set owner role id")
        if f["ownerRoleId"] not in ROLES:
            raise _fault("InvalidSetting", f"no such role {f['ownerRoleId']!r}")
        if f.get("facilityType", 1 if kind == 1 else None) != kind:
            raise _fault("InvalidSetting", f"facilityType must be {kind}")

    def _check_node(self, n: Node) -> None:
        self._check_facility(n, 1)
        if n.get("platformFamily") not in PLATFORMS:
            raise _fault("InvalidSetting", f"unknown platform {n.get('platformFamily')!r}")
        if str(n.get("ipAddressVersion")) not in ("4", "IPV4"):
            raise _fault("InvalidSetting", "ipAddressVersion must be 4")
        try:
            ipaddress.IPv4Address(str(n.get("ipAddressV4")))
        except ValueError:
            raise _fault("InvalidSetting", f"bad ipAddressV4 {n.get('ipAddressV4')!r}") from None
        if not n.get("nodeName") or len(str(n["nodeName"])) > 128:
            raise _fault("InvalidSetting", '$[MESSAGE_PLEASE_INPUT:"$[NODE_NAME]"]')
        if n.get("valid") is None:
            raise _fault("HinemosUnknown", "node's valid is invalid")
        hosts = [h.get("hostname") for h in n.get("nodeHostnameInfo") or [] if h.get("hostname")]
        if len(hosts) != len(set(hosts)):
            raise _fault("InvalidSetting", "duplicate host names")
        names = [v.get("nodeVariableName") for v in n.get("nodeVariableInfo") or []
                 if v.get("nodeVariableName")]
        if len(names) != len(set(names)):
            raise _fault("InvalidSetting", "duplicate node variable names")
        for v in n.get("nodeVariableInfo") or []:
            if v.get("nodeVariableName") and not v.get("nodeVariableValue"):
                raise _fault("InvalidSetting", "node variable value must not be empty")

    def _scope(self, sid: str, fault: str = "HinemosUnknown") -> dict[str, Any]:
        f = self.facilities.get(sid)
        if f is None or f["facilityType"] != 0:
            raise _fault(fault, f"Scope does not exist! ({sid})" if fault == "InvalidSetting"
                         else f"facility {sid} not found")
        return f

    def _node(self, fid: str, fault: str = "FacilityNotFound") -> dict[str, Any]:
        f = self.facilities.get(fid)
        if f is None or f["facilityType"] != 1:
            raise _fault(fault, f"facility {fid} not found")
        return f

    # ---- operations -------------------------------------------------------------

    def get_scope(self, sid: str) -> dict[str, Any]:
        """getScope: any facility, a node's too (only an unknown ID is not found)."""
        f = self.facilities.get(sid)
        if f is None:
            raise _fault("FacilityNotFound", f"facility {sid} not found")
        return {k: v for k, v in f.items() if k not in ("parent", "members")}

    def add_scope(self, parent: str, scope: dict[str, Any]) -> None:
        self._check_facility(scope, 0)
        if scope["facilityId"] in self.facilities:
            raise _fault("FacilityDuplicate", f"FacilityInfo, primaryKey = {scope['facilityId']}")
        if parent:
            self._scope(parent, "InvalidSetting")
        self.facilities[scope["facilityId"]] = {**scope, "parent": parent or "",
                                                "members": set(), "builtInFlg": False}

    def facility_list(self, parent: str) -> list[dict[str, Any]]:
        """Direct children of a scope: its child scopes and its nodes (getFacilityList)."""
        scope = self.facilities.get(parent)
        if scope is None or scope["facilityType"] != 0:
            return []
        children = [f for f in self.facilities.values()
                    if f["facilityType"] == 0 and f.get("parent") == parent]
        nodes = [self.facilities[n] for n in sorted(scope["members"])]
        return [{k: v for k, v in f.items() if k not in ("parent", "members")}
                for f in children + nodes]

    def get_node(self, fid: str) -> Node:
        return copy.deepcopy(self._node(fid))

    def _stamp(self, node: Node) -> None:
        """The manager sets a node's modifyDatetime (ms) at every write: add, modify,
        and the valid flag (its REST setValid is a modifyNode, RepositoryRestEndpoints
        .java of 7.1). Never the same twice here."""
        self._last_stamp = max(int(time.time() * 1000), self._last_stamp + 1)
        node["modifyDatetime"] = self._last_stamp

    def node_list(self, parent: str) -> list[Node]:
        """The nodes directly in a scope, as getNodeList(parent, ONE_LEVEL) gives them:
        FacilitySelector.copyToNodeInfo's fields, modifyDatetime among them."""
        scope = self.facilities.get(parent)
        if scope is None or scope["facilityType"] != 0:
            return []
        return [{k: self.facilities[n].get(k) for k in NODE_LIST_FIELDS}
                for n in sorted(scope["members"])]

    def add_node(self, node: Node) -> None:
        node = {**NODE_DEFAULTS, **copy.deepcopy(node), "facilityType": 1}
        node.setdefault("valid", True)
        self._check_node(node)
        if node["facilityId"] in self.facilities:
            existing = self.facilities[node["facilityId"]]
            if existing.get("ownerRoleId") != node["ownerRoleId"]:
                raise _fault("InvalidSetting", "owned by another role")  # §1.7.8
            raise _fault("FacilityDuplicate", f"FacilityInfo, primaryKey = {node['facilityId']}")
        self._stamp(node)
        self.facilities[node["facilityId"]] = node
        for sid in ("REGISTERED", node["ownerRoleId"], node["platformFamily"]):
            self.facilities[sid]["members"].add(node["facilityId"])

    def modify_node(self, node: Node) -> None:
        """Overwrites every field and list with what is sent; what is not sent takes the
        server default (the read-modify-write trap of §1.6.3)."""
        current = self._node(str(node.get("facilityId")), "HinemosUnknown")
        new = {**NODE_DEFAULTS, **copy.deepcopy(node), "facilityType": 1,
               "ownerRoleId": current["ownerRoleId"]}
        if "valid" not in node or node["valid"] is None:
            new["valid"] = True  # 6.2 re-enables a node modified without `valid`
        self._check_node(new)
        self._stamp(new)
        self.facilities[new["facilityId"]] = new

    def set_valid(self, fid: str, valid: bool) -> None:
        node = self._node(fid)
        node["valid"] = bool(valid)
        self._stamp(node)

    def delete_nodes(self, fids: Sequence[str]) -> None:
        for fid in fids:
            self._node(fid)
        for fid in fids:
            del self.facilities[fid]
            for f in self.facilities.values():
                if f["facilityType"] == 0:
                    f["members"].discard(fid)

    def assign(self, sid: str, fids: Sequence[str]) -> None:
        if sid not in self.facilities:
            raise _fault("InvalidSetting", f"Scope does not exist! facilityId = {sid}")
        for fid in fids:
            self._node(fid, "InvalidSetting")
        scope = self._scope(sid)  # a node's ID: HinemosUnknown, as getScopePK fails
        if scope.get("builtInFlg"):
            raise _fault("HinemosUnknown", f"this facility is built in scope. (facilityId = "
                                           f"{sid})")
        scope["members"].update(fids)

    def nodes(self) -> list[str]:
        return sorted(k for k, f in self.facilities.items() if f["facilityType"] == 1)
