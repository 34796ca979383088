"""The small interface every repository backend (SOAP, REST, dry-run) offers the
reconciler, and the errors they raise. Nodes travel as dicts with Hinemos' own
field names (`facilityId`, `nodeVariableInfo`, …), the same in SOAP and REST."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, Protocol, TypeVar

from hinedockd.hinemos.desired import NodeSpec, ScopeSpec

Node = dict[str, Any]
T = TypeVar("T")


class HinemosError(Exception):
    """A fault from the manager: `kind` is its name (FacilityNotFound, InvalidSetting…)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class HinemosUnavailable(Exception):
    """The manager could not be reached or did not answer in time."""


async def unless_not_found(call: Awaitable[T]) -> T | None:
    """The call's result, or None when the manager says FacilityNotFound."""
    try:
        return await call
    except HinemosError as e:
        if e.kind == "FacilityNotFound":
            return None
        raise


class Backend(Protocol):
    name: str
    reads: int
    writes: int

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def scope_exists(self, scope_id: str) -> bool: ...

    async def add_scope(self, scope: ScopeSpec, owner_role_id: str) -> None: ...

    async def members(self, scope_id: str) -> set[str] | None:
        """Node facility IDs directly in the scope; None when the scope does not exist."""
        ...

    async def get_node(self, facility_id: str) -> Node | None: ...

    async def add_node(self, node: Node) -> None: ...

    async def modify_node(self, node: Node) -> None:
        """`node` is a whole object (read, then changed): modifyNode overwrites all."""
        ...

    async def set_valid(self, facility_id: str, valid: bool) -> None: ...

    async def delete_nodes(self, facility_ids: Sequence[str]) -> None: ...

    async def assign(self, scope_id: str, facility_ids: Sequence[str]) -> None: ...


def node_fields(spec: NodeSpec) -> Node:
    """The fields of a node that the daemon manages, in Hinemos' names."""
    return {
        "facilityId": spec.facility_id,
        "facilityName": spec.facility_name,
        "facilityType": 1,
        "ownerRoleId": spec.owner_role_id,
        "valid": spec.valid,
        "nodeName": spec.node_name,
        "ipAddressVersion": 4,
        "ipAddressV4": spec.ip_v4,
        "platformFamily": spec.platform,
        "nodeHostnameInfo": [{"hostname": h} for h in spec.hostnames],
        "nodeVariableInfo": [{"nodeVariableName": k, "nodeVariableValue": v}
                             for k, v in spec.variables],
    }


def variables(node: Node) -> dict[str, str]:
    return {str(v.get("nodeVariableName")): str(v.get("nodeVariableValue"))
            for v in node.get("nodeVariableInfo") or [] if v.get("nodeVariableName")}


def _hostnames(node: Node) -> set[str]:
    return {str(h.get("hostname")) for h in node.get("nodeHostnameInfo") or []
            if h.get("hostname")}


def differences(current: Node, spec: NodeSpec) -> set[str]:
    """Which managed fields of `current` differ from `spec` ("valid" alone can be
    fixed with setValid; anything else needs a whole-object modifyNode)."""
    want = node_fields(spec)
    diff = {k for k in ("facilityName", "nodeName", "ipAddressV4", "platformFamily", "valid")
            if current.get(k) != want[k]}
    if str(current.get("ipAddressVersion")) not in ("4", "IPV4"):
        diff.add("ipAddressVersion")
    if _hostnames(current) != set(spec.hostnames):
        diff.add("nodeHostnameInfo")
    if variables(current) != dict(spec.variables):
        diff.add("nodeVariableInfo")
    return diff


def merged(current: Node, spec: NodeSpec) -> Node:
    """Read-modify-write: the whole node as read, with the managed fields replaced.
    Host names and variables that others added are kept; ours are set."""
    node = {**current, **node_fields(spec)}
    node["ownerRoleId"] = current.get("ownerRoleId") or spec.owner_role_id  # immutable
    ours = {k for k, _ in spec.variables} | {
        "DOCKER_CONTAINER_ID", "DOCKER_COMMAND", "DOCKER_PORTS", "DOCKER_IMAGE", "DOCKER_STATUS",
        "DOCKER_HOST"}
    others = [v for v in current.get("nodeVariableInfo") or []
              if v.get("nodeVariableName") not in ours]
    node["nodeVariableInfo"] = others + node_fields(spec)["nodeVariableInfo"]
    return node
