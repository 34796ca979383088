"""What the daemon owns on a node, and what it never touches (hinemos/nodes.py). Pure.

An operator's host names, variables and other fields survive every write, and do
not cause one: after an operator's edit, "is there anything to write?" is no."""

from __future__ import annotations

import copy
import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from hinedockd.hinemos.desired import NodeSpec
from hinedockd.hinemos.nodes import (
    CONTAINER_VARIABLES,
    Node,
    differences,
    merged,
    node_fields,
)

CONTAINER = NodeSpec(
    facility_id="docker_host1-web1", facility_name="web1", node_name="4dfd0a12b9de",
    ip_v4="10.0.200.123", valid=True, owner_role_id="ALL_USERS", hostnames=("4dfd0a12b9de",),
    variables=(("DOCKER_COMMAND", "httpd"), ("DOCKER_CONTAINER_ID", "4dfd0a12b9de"),
               ("DOCKER_HOST", "docker_host1"), ("DOCKER_IMAGE", "busybox"),
               ("DOCKER_STATUS", "running")))
HOST = NodeSpec(facility_id="docker_host1", facility_name="docker_host1",
                node_name="docker_host1", ip_v4="10.0.200.123", valid=True,
                owner_role_id="ALL_USERS", hostnames=("docker_host1",))

names = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"), min_size=1,
                max_size=12)
operator_variables = st.dictionaries(names.filter(lambda n: n not in CONTAINER_VARIABLES),
                                     st.text(min_size=1, max_size=8), max_size=4)
operator_hostnames = st.lists(st.from_regex(r"[a-z][a-z0-9.-]{0,15}", fullmatch=True),
                              max_size=3)


def as_manager_holds_it(spec: NodeSpec) -> Node:
    """The node as the manager answers after the daemon's add, with fields of its own."""
    return {**node_fields(spec), "description": "", "administrator": "", "contact": "",
            "nodeNoteInfo": [], "createUserId": "hinemos"}


def edited(node: Node, hostnames: list[str], variables: dict[str, str]
           ) -> Node:
    """An operator adds host names, variables and a contact in the client."""
    node = copy.deepcopy(node)
    node["nodeHostnameInfo"] = [*node["nodeHostnameInfo"],
                                *({"hostname": h} for h in hostnames)]
    node["nodeVariableInfo"] = [*node["nodeVariableInfo"],
                                *({"nodeVariableName": k, "nodeVariableValue": v}
                                  for k, v in variables.items())]
    node["contact"] = "ops@example.com"
    return node


def hostnames(node: Node) -> list[str]:
    return [h["hostname"] for h in node["nodeHostnameInfo"]]


def variables(node: Node) -> dict[str, str]:
    return {v["nodeVariableName"]: v["nodeVariableValue"]
            for v in node["nodeVariableInfo"]}


@given(st.sampled_from([CONTAINER, HOST]), operator_hostnames, operator_variables)
def test_an_operators_edit_needs_no_write(spec: NodeSpec, names: list[str],
                                          variables_: dict[str, str]) -> None:
    node = edited(as_manager_holds_it(spec), names, variables_)
    assert differences(node, spec) == set()


@given(st.sampled_from([CONTAINER, HOST]), operator_hostnames, operator_variables)
def test_a_write_keeps_the_operators_part(spec: NodeSpec, names: list[str],
                                          variables_: dict[str, str]) -> None:
    node = edited(as_manager_holds_it(spec), names, variables_)
    changed = dataclasses.replace(spec, facility_name="renamed", valid=False)
    assert differences(node, changed) == {"facilityName", "valid"}
    out = merged(node, changed)
    assert out["facilityName"] == "renamed" and out["valid"] is False
    assert out["contact"] == "ops@example.com"
    assert set(names) <= set(hostnames(out)) and set(spec.hostnames) <= set(hostnames(out))
    assert variables_.items() <= variables(out).items()
    assert dict(spec.variables).items() <= variables(out).items()
    assert differences(out, changed) == set()  # written once, then settled


def test_a_recreated_container_replaces_its_old_id_and_variables() -> None:
    node = edited(as_manager_holds_it(CONTAINER), ["web1.example.com"], {"ROLE": "web"})
    new = dataclasses.replace(
        CONTAINER, node_name="9f8e7d6c5b4a", hostnames=("9f8e7d6c5b4a",),
        variables=(("DOCKER_CONTAINER_ID", "9f8e7d6c5b4a"), ("DOCKER_HOST", "docker_host1"),
                   ("DOCKER_IMAGE", "busybox:2"), ("DOCKER_STATUS", "created")))
    assert differences(node, new) == {"nodeName", "nodeHostnameInfo", "nodeVariableInfo"}
    out = merged(node, new)
    assert hostnames(out) == ["web1.example.com", "9f8e7d6c5b4a"]
    # DOCKER_COMMAND is the daemon's: gone when the new container has none to give
    assert variables(out) == {"ROLE": "web", **dict(new.variables)}


def test_the_daemons_own_variables_are_put_back() -> None:
    node = as_manager_holds_it(CONTAINER)
    node["nodeVariableInfo"] = [v for v in node["nodeVariableInfo"]
                                if v["nodeVariableName"] != "DOCKER_STATUS"]
    node["nodeHostnameInfo"] = []
    assert differences(node, CONTAINER) == {"nodeVariableInfo", "nodeHostnameInfo"}
    out = merged(node, CONTAINER)
    assert variables(out) == dict(CONTAINER.variables) and hostnames(out) == ["4dfd0a12b9de"]


def test_an_operator_variable_named_like_the_daemons_is_the_daemons_on_a_container_only(
        ) -> None:
    host = edited(as_manager_holds_it(HOST), [], {"DOCKER_HOST": "set by hand"})
    assert differences(host, HOST) == set()  # the host node: only what the daemon wrote
    box = edited(as_manager_holds_it(CONTAINER), [], {})
    box["nodeVariableInfo"] = [*box["nodeVariableInfo"],
                               {"nodeVariableName": "DOCKER_PORTS", "nodeVariableValue": "1"}]
    assert differences(box, CONTAINER) == {"nodeVariableInfo"}  # DOCKER_* is the daemon's
