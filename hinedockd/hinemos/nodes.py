"""A node as the manager holds it, and as the daemon wants it. Pure.

A node is a dict with Hinemos' own field names (`facilityId`, `nodeVariableInfo`,
…), the same in SOAP and REST. `differences` says which managed fields must change;
`merged` is the read-modify-write object for `modifyNode`, which overwrites every
field and list.
"""

from __future__ import annotations

from typing import Any

from hinedockd.hinemos.desired import NodeSpec

Node = dict[str, Any]


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
