"""The small interface every repository backend (SOAP, REST, dry-run) offers the
reconciler, and the errors they raise. Nodes travel as dicts with Hinemos' own
field names (`facilityId`, `nodeVariableInfo`, …), the same in SOAP and REST
(`nodes.py`); `factory.py` builds the backend a config names."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, Protocol, TypeVar

from hinedockd.hinemos.desired import ScopeSpec
from hinedockd.hinemos.nodes import Node, unreadable

T = TypeVar("T")


class HinemosError(Exception):
    """A fault from the manager: `kind` is its name (FacilityNotFound, InvalidSetting…)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class HinemosUnavailable(Exception):
    """The manager could not be reached or did not answer in time."""


def not_understood(what: str, why: str) -> HinemosError:
    """An answer the backend cannot read: a fault like the manager's own (retried with
    backoff by the sync, shown in `hinedock status`), not a bug that stops the daemon."""
    return HinemosError("HinemosUnknown", f"{what}: answer not understood: {why}")


def read_node(doc: Any, facility_id: str) -> Node:
    why = unreadable(doc)
    if why is not None:
        raise not_understood(f"getNode {facility_id}", why)
    node: Node = doc
    return node


def read_facilities(items: Any, scope_id: str) -> list[dict[str, Any]]:
    """getFacilityList's answer: facilities, each with a facilityId (None: none)."""
    if items is None:
        return []
    if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("facilityId"), str) for i in items):
        raise not_understood(f"getFacilityList {scope_id}", "not a list of facilities")
    return items


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

    async def subscopes(self, scope_id: str) -> set[str]:
        """Facility IDs of the scopes directly under a scope (none when it is unknown)."""
        ...

    async def get_node(self, facility_id: str) -> Node | None: ...

    async def node_stamps(self, scope_id: str) -> dict[str, str] | None:
        """Each node directly in the scope and its modifyDatetime, in one call (so a
        full pass reads again only what changed); None when the API cannot say."""
        ...

    async def add_node(self, node: Node) -> Node | None:
        """The node as the manager holds it once added, if it answers with it (REST:
        addNode reads it back, RepositoryControllerBean.java of 7.1)."""
        ...

    async def modify_node(self, node: Node) -> None:
        """`node` is a whole object (read, then changed): modifyNode overwrites all."""
        ...

    async def set_valid(self, facility_id: str, valid: bool) -> None: ...

    async def delete_nodes(self, facility_ids: Sequence[str]) -> None: ...

    async def assign(self, scope_id: str, facility_ids: Sequence[str]) -> None: ...
