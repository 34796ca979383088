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


# What the daemon owns on a node it manages (README "Hinemos repository sync"):
# these fields, its host name (a container node's is the 12-char ID), and on a
# container node the DOCKER_* variables. Every other field and list entry is the
# operator's: it survives every write, and no difference in it causes one.
OWNED_FIELDS = ("facilityName", "nodeName", "ipAddressV4", "platformFamily", "valid")
CONTAINER_VARIABLES = frozenset({"DOCKER_CONTAINER_ID", "DOCKER_COMMAND", "DOCKER_PORTS",
                                 "DOCKER_IMAGE", "DOCKER_STATUS", "DOCKER_HOST",
                                 "DOCKER_HEALTH"})


def variables(node: Node) -> dict[str, str]:
    return {str(v.get("nodeVariableName")): str(v.get("nodeVariableValue"))
            for v in node.get("nodeVariableInfo") or [] if v.get("nodeVariableName")}


def _hostnames(node: Node) -> set[str]:
    return {str(h.get("hostname")) for h in node.get("nodeHostnameInfo") or []
            if h.get("hostname")}


def owned_variables(spec: NodeSpec) -> frozenset[str]:
    """The variable names the daemon owns on this node: the DOCKER_* set on a
    container node (also those it sets no value for, e.g. DOCKER_PORTS when no port
    is published); on the host node none but those it writes."""
    names = frozenset(k for k, _ in spec.variables)
    return CONTAINER_VARIABLES | names if "DOCKER_CONTAINER_ID" in names else names


def _stale_hostnames(current: Node, spec: NodeSpec) -> set[str]:
    """Host names the daemon put there before and wants no more: a re-created
    container's node drops the old container's ID (its DOCKER_CONTAINER_ID)."""
    old = variables(current).get("DOCKER_CONTAINER_ID") if spec.variable(
        "DOCKER_CONTAINER_ID") else None
    return {old} - set(spec.hostnames) if old else set()


def differences(current: Node, spec: NodeSpec) -> set[str]:
    """Which of the daemon's fields of `current` differ from `spec` ("valid" alone
    can be fixed with setValid; anything else needs a whole-object modifyNode).
    What the operator added is not looked at."""
    want = node_fields(spec)
    diff = {k for k in OWNED_FIELDS if current.get(k) != want[k]}
    if str(current.get("ipAddressVersion")) not in ("4", "IPV4"):
        diff.add("ipAddressVersion")
    names = _hostnames(current)
    if not set(spec.hostnames) <= names or _stale_hostnames(current, spec) & names:
        diff.add("nodeHostnameInfo")
    owned = owned_variables(spec)
    if {k: v for k, v in variables(current).items() if k in owned} != dict(spec.variables):
        diff.add("nodeVariableInfo")
    return diff


def merged(current: Node, spec: NodeSpec) -> Node:
    """Read-modify-write: the whole node as the manager holds it now, with the
    daemon's part replaced (modifyNode overwrites every field and list). Host names
    and variables are merged by name: the operator's stay, the daemon's are set."""
    want = node_fields(spec)
    node = {**current, **want}
    node["ownerRoleId"] = current.get("ownerRoleId") or spec.owner_role_id  # immutable
    drop = set(spec.hostnames) | _stale_hostnames(current, spec)
    node["nodeHostnameInfo"] = [h for h in current.get("nodeHostnameInfo") or []
                                if h.get("hostname") not in drop] + want["nodeHostnameInfo"]
    owned = owned_variables(spec)
    node["nodeVariableInfo"] = [v for v in current.get("nodeVariableInfo") or []
                                if v.get("nodeVariableName") not in owned
                                ] + want["nodeVariableInfo"]
    return node


def unreadable(doc: Any) -> str | None:
    """Why a manager's node answer cannot be read (`differences` and `merged` would
    fail on it), or None. The answer is the manager's, of a version the daemon may not
    know: a shape it cannot read is the manager's fault to report, not a bug to stop on."""
    if not isinstance(doc, dict):
        return f"a node that is not an object ({type(doc).__name__})"
    if not isinstance(doc.get("facilityId"), str):
        return "a node without a facilityId"
    for key, name in (("nodeVariableInfo", "nodeVariableName"),
                      ("nodeHostnameInfo", "hostname")):
        items = doc.get(key)
        if items is not None and not (isinstance(items, list)
                                      and all(isinstance(i, dict) for i in items)):
            return f"a node whose {key} is not a list of objects"
        if any(not isinstance(i.get(name, ""), str) for i in items or ()):
            return f"a node whose {key} has a {name} that is not a string"
    return None
