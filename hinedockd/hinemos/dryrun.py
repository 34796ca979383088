"""The `dry-run` backend (the embedded default): a repository in memory that starts
empty, so the first pass logs every node and scope the daemon would create, and
later passes log only what would change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import structlog

from hinedockd.hinemos.backend import unless_not_found
from hinedockd.hinemos.desired import ScopeSpec
from hinedockd.hinemos.memory import MemoryRepository
from hinedockd.hinemos.nodes import Node

log = structlog.get_logger("hinedockd.hinemos.dryrun")


class MemoryBackend:
    name = "dry-run"

    def __init__(self, repo: MemoryRepository | None = None, log_writes: bool = True) -> None:
        self.repo = repo or MemoryRepository()
        self.log_writes = log_writes
        self.reads = 0
        self.writes = 0

    def _wrote(self, what: str, **fields: object) -> None:
        self.writes += 1
        if self.log_writes:
            log.info(f"dry-run: would {what}", **fields)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def _read(self, op: Callable[[], Any]) -> Any:
        self.reads += 1
        return op()

    async def scope_exists(self, scope_id: str) -> bool:
        found = await unless_not_found(self._read(lambda: self.repo.get_scope(scope_id)))
        return found is not None

    async def add_scope(self, scope: ScopeSpec, owner_role_id: str) -> None:
        self.repo.add_scope(scope.parent, {"facilityId": scope.facility_id,
                                           "facilityName": scope.facility_name,
                                           "facilityType": 0, "ownerRoleId": owner_role_id})
        self._wrote("add scope", scope=scope.facility_id, parent=scope.parent or "(top)")

    async def members(self, scope_id: str) -> set[str] | None:
        self.reads += 1
        if scope_id not in self.repo.facilities:
            return None
        return {f["facilityId"] for f in self.repo.facility_list(scope_id)
                if f["facilityType"] == 1}

    async def subscopes(self, scope_id: str) -> set[str]:
        self.reads += 1
        return {f["facilityId"] for f in self.repo.facility_list(scope_id)
                if f["facilityType"] == 0}

    async def get_node(self, facility_id: str) -> Node | None:
        node: Node | None = await unless_not_found(
            self._read(lambda: self.repo.get_node(facility_id)))
        return node

    async def node_stamps(self, scope_id: str) -> dict[str, str] | None:
        nodes = await self._read(lambda: self.repo.node_list(scope_id))
        return {n["facilityId"]: str(n.get("modifyDatetime")) for n in nodes}

    async def add_node(self, node: Node) -> Node | None:
        self.repo.add_node(node)
        self._wrote("add node", node=node["facilityId"], valid=node.get("valid"),
                    variables={v["nodeVariableName"]: v["nodeVariableValue"]
                               for v in node.get("nodeVariableInfo") or []})
        return self.repo.get_node(node["facilityId"])

    async def modify_node(self, node: Node) -> None:
        self.repo.modify_node(node)
        self._wrote("modify node", node=node["facilityId"], valid=node.get("valid"))

    async def set_valid(self, facility_id: str, valid: bool) -> None:
        self.repo.set_valid(facility_id, valid)
        self._wrote("set valid", node=facility_id, valid=valid)

    async def delete_nodes(self, facility_ids: Sequence[str]) -> None:
        self.repo.delete_nodes(facility_ids)
        self._wrote("delete nodes", nodes=list(facility_ids))

    async def assign(self, scope_id: str, facility_ids: Sequence[str]) -> None:
        self.repo.assign(scope_id, facility_ids)
        self._wrote("assign nodes to scope", scope=scope_id, nodes=list(facility_ids))
