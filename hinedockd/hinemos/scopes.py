"""The scopes of a pass, for all the hosts of one daemon: made when missing (one host
at a time looks and adds), label scopes the manager would refuse named, and the
members of the scopes all hosts share read once for all of them.

Why once for all: each host's full pass read `docker_container`, which holds every
host's containers: 50 hosts x 10,000 entries a cycle (95 MB a minute, bench/fleet.py).
Why one host at a time: at a daemon's start every host's first pass found the shared
scopes missing and added them (10 hosts: 11 adds refused as FacilityDuplicate)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog

from hinedockd.hinemos.backend import Backend, HinemosError
from hinedockd.hinemos.desired import (
    BUILT_IN_SCOPES,
    OS_PARENT,
    ROLE_PARENT,
    Desired,
    ScopeSpec,
    host_scope,
)

log = structlog.get_logger("hinedockd.hinemos")


@dataclass
class _Shared:
    """A scope all hosts share: its members as last read (one set, which every host's
    cache holds), when, and what was assigned while a read was on its way (its answer
    may predate those)."""

    members: set[str] = field(default_factory=set)
    read_at: float = -math.inf
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    assigned_meanwhile: set[str] | None = None


class Scopes:
    def __init__(self, backend: Backend, owner_role_id: str, may_add: bool,
                 shared_seconds: float, progress: Callable[[str, str], None]) -> None:
        self.backend, self.owner_role_id, self.may_add = backend, owner_role_id, may_add
        self.shared_seconds = shared_seconds  # a shared scope's read is good this long
        self.progress = progress
        self._reserved: set[str] | None = None  # built-in scopes; read again each full pass
        self._shared: dict[str, _Shared] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def full_pass(self) -> None:
        self._reserved = None

    def forget(self) -> None:
        """After a failed pass nothing read is trusted."""
        self._shared.clear()

    async def ensure(self, scopes: Iterable[ScopeSpec], known: set[str],
                     missing: set[str]) -> None:
        """Each scope known to exist (`known`), added when missing, or in `missing`
        when this pass may not add."""
        for scope in scopes:
            if scope.facility_id in known:
                continue
            async with self._locks.setdefault(scope.facility_id, asyncio.Lock()):
                if not await self.backend.scope_exists(scope.facility_id):
                    if not self.may_add:
                        missing.add(scope.facility_id)
                        continue
                    await self._add(scope)
            known.add(scope.facility_id)

    async def _add(self, scope: ScopeSpec) -> None:
        try:
            await self.backend.add_scope(scope, self.owner_role_id)
            self.progress("scope created", scope.facility_id)
            log.info("scope created", scope=scope.facility_id)
        except HinemosError as e:
            if e.kind != "FacilityDuplicate":  # another daemon was faster: fine
                raise

    async def members(self, want: Desired, members: dict[str, set[str]], missing: set[str],
                      full: bool) -> list[str]:
        """Each wanted scope's members into `members` (those not read yet, or all on
        a full pass); a label scope that cannot be used goes to `missing`, with a
        warning (returned)."""
        warnings = []
        own = {s.facility_id for s in want.scopes}
        for scope in want.members:
            if scope in members or (not full and scope in missing):
                continue
            if scope in missing and scope in own:
                continue  # not created: this pass does not add
            why = None if scope in own else await self._unusable(scope)
            if why:
                named_by = ", ".join(sorted(want.members[scope]))
                warnings.append(f"label scope {scope!r} {why}; skipped for {named_by}")
                missing.add(scope)
                continue
            found = await self._members_of(scope, want)
            if found is None:
                if scope in own:
                    raise HinemosError("InvalidSetting", f"scope {scope} vanished")
                warnings.append(f"label scope {scope!r} does not exist; skipped "
                                "(scopes are never created for labels)")
                missing.add(scope)
                continue
            missing.discard(scope)
            members[scope] = found
        return warnings

    async def _unusable(self, scope: str) -> str | None:
        """Why the manager would refuse to put nodes in this label scope (HinemosUnknown
        from assignNodeScope: RepositoryControllerBean.checkIsBuildInScope), if it
        would: built in (a role's or a platform's scope too), or a node's ID."""
        if self._reserved is None:
            self._reserved = (set(BUILT_IN_SCOPES) | await self.backend.subscopes(ROLE_PARENT)
                              | await self.backend.subscopes(OS_PARENT))
        if scope in self._reserved:
            return "is one of the manager's built-in scopes (a role's or an OS's included)"
        if await self.backend.get_node(scope) is not None:
            return "is a node, not a scope"
        return None

    async def _members_of(self, scope: str, want: Desired) -> set[str] | None:
        """A scope's members: the host's own scope read each time; a shared one read
        again only when older than `shared_seconds`."""
        if scope == host_scope(want.host_id):
            return await self.backend.members(scope)
        entry = self._shared.setdefault(scope, _Shared())
        async with entry.lock:  # hosts' passes at once: one read, the others wait for it
            if time.monotonic() - entry.read_at >= self.shared_seconds:
                entry.assigned_meanwhile = set()
                try:
                    found = await self.backend.members(scope)
                finally:
                    late, entry.assigned_meanwhile = entry.assigned_meanwhile, None
                if found is None:
                    self._shared.pop(scope, None)
                    return None
                entry.members.clear()  # the same set: the hosts' caches hold it
                entry.members.update(found | late)
                entry.read_at = time.monotonic()
        return entry.members

    def assigned(self, scope: str, facility_ids: Iterable[str]) -> None:
        """Assigned by a pass: a shared scope's read on its way may predate it."""
        shared = self._shared.get(scope)
        if shared is not None and shared.assigned_meanwhile is not None:
            shared.assigned_meanwhile.update(facility_ids)
