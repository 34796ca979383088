"""What the Hinemos repository should hold for one Docker host (SPEC §3). Pure.

| object | facility ID | name | valid | node name / host name | variables |
| host node | H | H | true | H | — |
| container node | template (default `H-<name>`) | container name | running | ID[:12] | DOCKER_* |

Scopes: `docker_container` (all container nodes), `docker_host` (all host nodes),
`docker_map` (parent of one scope per host), `H_scope` under it (that host's
container nodes). Label `hinemosAssignScopeId=a,b` adds existing scopes allowed by
`label_scopes`; built-in scopes and the daemon's own can never be named by a label.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from hinedockd.config import HinemosConfig, HostConfig
from hinedockd.model import FACILITY_ID_MAX, FACILITY_ID_RE, Container, ContainerState

NAME_MAX = 128
VARIABLE_MAX = 1024  # node variable values are capped (commands can be long)
LABEL = "hinemosAssignScopeId"
CONTAINER_SCOPE, HOST_SCOPE, MAP_SCOPE = "docker_container", "docker_host", "docker_map"
# The manager's fixed built-in scopes (FacilitySelector.isBuildinScope, 7.1; the RPA
# and cloud roots once activated), and the tree's root. Every scope under OWNER (a
# role's) and under OS (a platform's) is built in too: the reconciler asks the
# manager for those (`ROLE_PARENT`, `OS_PARENT`).
BUILT_IN_SCOPES = frozenset({"_ROOT_", "REGISTERED", "UNREGISTERED", "INTERNAL", "OWNER", "OS",
                             "NODE_CONFIGURATION", "UNALLOCATED", "_RPA", "_RPA_NO_MGR_WINACTOR",
                             "_RPA_NO_MGR_UIPATH", "_PRIVATE_CLOUD", "_PUBLIC_CLOUD"})
ROLE_PARENT, OS_PARENT = "OWNER", "OS"


def host_scope(host_id: str) -> str:
    return f"{host_id}_scope"


@dataclass(frozen=True)
class NodeSpec:
    facility_id: str
    facility_name: str
    node_name: str
    ip_v4: str
    valid: bool
    owner_role_id: str
    platform: str = "LINUX"
    hostnames: tuple[str, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()  # sorted by name; no empty values
    description: str = ""

    def variable(self, name: str) -> str | None:
        return dict(self.variables).get(name)


@dataclass(frozen=True)
class ScopeSpec:
    facility_id: str
    facility_name: str
    parent: str  # "" = top level


@dataclass
class Desired:
    host_id: str
    scopes: list[ScopeSpec]
    nodes: dict[str, NodeSpec]  # facility ID -> spec (the host node first)
    members: dict[str, set[str]]  # scope -> node facility IDs that must be in it
    owned_prefix: str  # container nodes of this host have IDs starting with this
    warnings: list[str] = field(default_factory=list)


def safe_facility_id(wanted: str) -> str:
    """A facility ID Hinemos accepts, deterministically: characters outside
    `[A-Za-z0-9-_.@]` become `_` and a hash of the original is appended (so two
    names never collide); too long IDs are cut and get the hash too."""
    if FACILITY_ID_RE.match(wanted) and len(wanted) <= FACILITY_ID_MAX:
        return wanted
    digest = hashlib.sha1(wanted.encode()).hexdigest()[:8]
    clean = re.sub(r"[^A-Za-z0-9_.@-]", "_", wanted)[:FACILITY_ID_MAX - 9]
    return f"{clean}-{digest}"


def _text(value: str, limit: int) -> str:
    clean = "".join(c if c.isprintable() else " " for c in value).strip()
    return clean if len(clean) <= limit else clean[:limit - 3] + "..."


def container_facility_id(template: str, host_id: str, c: Container) -> str:
    return safe_facility_id(template.format(host=host_id, name=c.name, id=c.short_id))


def owned_prefix(template: str, host_id: str) -> str:
    """The fixed start of every container node ID of this host (the template up to
    its first per-container field), used to tell the daemon's nodes from others."""
    head = re.split(r"\{(?:name|id)\}", template, maxsplit=1)[0]
    return safe_facility_id(head.format(host=host_id)) if head else ""


def label_scopes(c: Container, allowed: Iterable[str], own: set[str]) -> tuple[list[str],
                                                                               list[str]]:
    """Scopes named by the container's label that the allow-list permits, and warnings
    for the rest."""
    raw = c.labels.get(LABEL, "")
    ok, warnings = [], []
    for name in (s.strip() for s in raw.split(",")):
        if not name:
            continue
        if name in BUILT_IN_SCOPES or name in own:
            warnings.append(f"{c.name}: label scope {name!r} is reserved; skipped")
        elif not FACILITY_ID_RE.match(name) or len(name) > FACILITY_ID_MAX:
            warnings.append(f"{c.name}: label scope {_text(name, 64)!r} is not a facility ID;"
                            " skipped")
        elif not any(fnmatch.fnmatchcase(name, pattern) for pattern in allowed):
            warnings.append(f"{c.name}: label scope {name!r} is not allowed by label_scopes;"
                            " skipped")
        elif name not in ok:
            ok.append(name)
    return ok, warnings


def container_node(host: HostConfig, c: Container, cfg: HinemosConfig) -> NodeSpec:
    variables = {
        "DOCKER_CONTAINER_ID": c.short_id,
        "DOCKER_COMMAND": _text(c.command, VARIABLE_MAX),
        "DOCKER_PORTS": _text(",".join(c.ports), VARIABLE_MAX),
        "DOCKER_IMAGE": _text(c.image, VARIABLE_MAX),
        "DOCKER_STATUS": str(c.state),  # the value, not the enum (logs showed its repr)
        "DOCKER_HOST": host.facility_id,
        "DOCKER_HEALTH": c.health or "",  # only where the container has a health check
    }
    return NodeSpec(
        facility_id=container_facility_id(cfg.container_facility_id, host.facility_id, c),
        facility_name=_text(c.name, NAME_MAX) or c.short_id,
        node_name=c.short_id,
        ip_v4=host.address,
        valid=c.state == ContainerState.RUNNING,
        owner_role_id=cfg.owner_role_id,
        hostnames=(c.short_id,),
        # Hinemos rejects empty values: absent, as in the report (DOCKER_PORTS when none).
        variables=tuple(sorted((k, v) for k, v in variables.items() if v)),
    )


def host_node(host: HostConfig, cfg: HinemosConfig) -> NodeSpec:
    return NodeSpec(facility_id=host.facility_id, facility_name=host.facility_id,
                    node_name=host.facility_id, ip_v4=host.address, valid=True,
                    owner_role_id=cfg.owner_role_id, hostnames=(host.facility_id,))


def desired(host: HostConfig, containers: Iterable[Container], cfg: HinemosConfig) -> Desired:
    hid = host.facility_id
    own = {CONTAINER_SCOPE, HOST_SCOPE, MAP_SCOPE, host_scope(hid)}
    scopes = [ScopeSpec(s, s, "") for s in (CONTAINER_SCOPE, HOST_SCOPE, MAP_SCOPE)]
    scopes.append(ScopeSpec(host_scope(hid), host_scope(hid), MAP_SCOPE))
    d = Desired(hid, scopes, {hid: host_node(host, cfg)},
                {HOST_SCOPE: {hid}, CONTAINER_SCOPE: set(), host_scope(hid): set()},
                owned_prefix(cfg.container_facility_id, hid))
    for c in sorted(containers, key=lambda c: (c.name, c.id)):
        node = container_node(host, c, cfg)
        if node.facility_id in d.nodes:
            d.warnings.append(f"{c.name}: facility ID {node.facility_id!r} already used by "
                              "another container or the host; skipped")
            continue
        if node.facility_id != cfg.container_facility_id.format(host=hid, name=c.name,
                                                                 id=c.short_id):
            d.warnings.append(f"{c.name}: facility ID mapped to {node.facility_id!r}")
        d.nodes[node.facility_id] = node
        d.members[CONTAINER_SCOPE].add(node.facility_id)
        d.members[host_scope(hid)].add(node.facility_id)
        extra, warnings = label_scopes(c, cfg.label_scopes, own)
        d.warnings.extend(warnings)
        for scope in extra:
            d.members.setdefault(scope, set()).add(node.facility_id)
    return d
