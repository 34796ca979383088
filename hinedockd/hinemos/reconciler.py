"""One reconcile pass for one host: read what Hinemos holds under the daemon's scopes,
diff with the desired state, apply the fewest calls.

- scopes created when missing (FacilityDuplicate from a concurrent creator is fine);
- nodes added whole (with `valid`, so a create is addNode + one assign per scope);
- a node that differs only in `valid` gets setValid; otherwise read-modify-write of
  the whole node (modifyNode overwrites every field and list);
- scope memberships added, never released (an operator's assignments stay);
- deleted: only nodes the daemon owns (in `H_scope`, or claimed before their add and
  carrying this host's DOCKER_HOST; ID from the template) whose container is gone,
  and only after every read of the pass succeeded.

A full pass reads everything, but a node it read before and the manager has not
written since (same modifyDatetime in one list of the host scope, REST) is taken as
read; an incremental pass (after container events) trusts what the previous passes
read and wrote, and reads only what it has not seen. Measured (bench/fleet.py): a
full pass over 50 hosts of 200 unchanged containers was 10,050 node reads, now 50
lists and the 50 hosts' own nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from hinedockd.config import HinemosConfig, HostConfig
from hinedockd.hinemos.backend import Backend, HinemosError
from hinedockd.hinemos.claims import Claims
from hinedockd.hinemos.desired import Desired, NodeSpec, desired, host_scope
from hinedockd.hinemos.nodes import Node, differences, merged, node_fields, variables
from hinedockd.hinemos.scopes import Scopes
from hinedockd.model import Container

log = structlog.get_logger("hinedockd.hinemos")
CONCURRENCY = 8  # calls in flight to the manager during a pass
T = TypeVar("T")
ALL_KINDS = frozenset({"add", "update", "delete"})
# (what was done, to which facility) for the report's one-shot commands' progress lines
Progress = Callable[[str, str], None]


@dataclass
class PassResult:
    full: bool
    reads: int = 0
    writes: int = 0
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # writes refused; the rest went on


@dataclass
class HostCache:
    """What this host's nodes and scopes looked like after the last successful pass."""

    nodes: dict[str, Node] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    scopes: set[str] = field(default_factory=set)
    missing_scopes: set[str] = field(default_factory=set)


async def _all(coros: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run together; the first failure cancels the others and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as tg:
            for coro in coros:
                tg.create_task(coro)
    except BaseExceptionGroup as group:
        raise group.exceptions[0] from None


async def _pool(work: Callable[[T], Awaitable[None]], items: list[T]) -> None:
    """`work` on each item, CONCURRENCY at a time: that many tasks, not one per item
    (a full pass over 1,000 nodes would otherwise hold 1,000 tasks at once)."""
    queue = iter(items)

    async def worker() -> None:
        for item in queue:  # shared: each worker takes the next item
            await work(item)

    await _all(worker() for _ in range(min(CONCURRENCY, len(items))))


class Reconciler:
    def __init__(self, backend: Backend, cfg: HinemosConfig,
                 kinds: frozenset[str] = ALL_KINDS, progress: Progress | None = None,
                 claims: Claims | None = None) -> None:
        """`kinds` limits a pass to adding, updating and/or deleting (the report's three
        commands each do one); `progress` hears of every write; `claims` (kept on disk
        by the daemon) outlive a crash between a node's add and its assignment."""
        self.backend = backend
        self.claims = claims or Claims()
        self.cfg = cfg
        self.kinds = kinds
        self.progress = progress or (lambda what, facility_id: None)
        self.caches: dict[str, HostCache] = {}
        self._warned: set[str] = set()
        # Each host's nodes as of its last completed pass; kept when a pass fails (the
        # nodes are still there): what the custom trap push may send to.
        self.existing: dict[str, frozenset[str]] = {}
        # Each node as last read, with the manager's modifyDatetime in it: as good as a
        # new read while the manager lists the node with that same time.
        self._copies: dict[str, Node] = {}
        # Shared scopes' members read once for all hosts within half the full-pass
        # period, kept current by every host's assignments and deletions.
        self.scopes = Scopes(backend, cfg.owner_role_id, "add" in kinds,
                             cfg.full_sync_seconds / 2, self.progress)

    def node_exists(self, facility_id: str) -> bool:
        return any(facility_id in nodes for nodes in self.existing.values())

    def forget(self, host_id: str) -> None:
        """After a failed pass nothing cached is trusted: the next pass reads all."""
        self.caches.pop(host_id, None)
        self.scopes.forget()

    async def reconcile(self, host: HostConfig, containers: Iterable[Container],
                        full: bool = True) -> PassResult:
        b = self.backend
        reads0, writes0 = b.reads, b.writes
        cache = self.caches.get(host.facility_id)
        if cache is None or full:
            cache, full = HostCache(), True
            self.scopes.full_pass()
        want = desired(host, containers, self.cfg)
        result = PassResult(full, warnings=list(want.warnings))
        try:
            await self.scopes.ensure(want.scopes, cache.scopes, cache.missing_scopes)
            result.warnings += await self.scopes.members(want, cache.members,
                                                         cache.missing_scopes, full)
            # Claimed before this pass: maybe added by a pass cut before the assignment.
            cut = self.claims.of(want.host_id)
            await self._claim(want, cache)
            await self._nodes(want, cache, full, result, cut)
            await self._assign(want, cache, result)
            await self._delete(want, cache, result)
            await self._release(want, cache)
        except BaseException:
            self.forget(host.facility_id)
            raise
        self.caches[host.facility_id] = cache
        self.existing[host.facility_id] = frozenset(cache.nodes)
        result.reads, result.writes = b.reads - reads0, b.writes - writes0
        for w in result.warnings:  # each once, not every pass
            if w not in self._warned:
                log.warning("hinemos sync", host=host.facility_id, warning=w)
                if len(self._warned) > 10_000:
                    self._warned.clear()
                self._warned.add(w)
        return result

    def _failed(self, result: PassResult, what: str, e: HinemosError) -> None:
        """A write the manager refused: logged, counted, and the pass goes on (other
        nodes' writes and the deletions of removed containers are not held up)."""
        result.failures.append(f"{what}: {e}")
        log.warning("hinemos write refused; the rest of the pass goes on", what=what,
                    error=str(e))

    async def _nodes(self, want: Desired, cache: HostCache, full: bool,
                     result: PassResult, cut: set[str]) -> None:
        async def read(fid: str) -> None:
            node = await self.backend.get_node(fid)
            if node is None:
                cache.nodes.pop(fid, None)
                self._copies.pop(fid, None)
            else:
                cache.nodes[fid] = node
                if node.get("modifyDatetime") is not None:
                    self._copies[fid] = node

        async def write(spec: NodeSpec) -> None:
            try:
                await self._node(spec, cache, spec.facility_id in fresh)
            except HinemosError as e:
                cache.nodes.pop(spec.facility_id, None)  # read again by the next pass
                self._failed(result, spec.facility_id, e)

        todo = [fid for fid in want.nodes if full or fid not in cache.nodes]
        fresh = set(todo)
        # Independent nodes, a few calls in flight: 500 containers at 20 ms per call
        # sync in seconds, not minutes. A refused write is that node's alone; the
        # manager away (HinemosUnavailable) or a failed read ends the pass.
        await _pool(read, await self._unread(want, todo, cache, cut) if full else todo)
        await _pool(write, list(want.nodes.values()))

    async def _unread(self, want: Desired, todo: list[str], cache: HostCache,
                      cut: set[str]) -> list[str]:
        """Of the nodes a full pass reads, those it must: one list of the host scope
        tells which of its container nodes the manager has written since they were
        read (those are read again) and which it does not hold there. Of those, a node
        claimed before this pass (`cut`: its add may have happened in a pass cut before
        the assignment) is read; another is not (an add finds one that is elsewhere,
        FacilityDuplicate, and reads it then). Without the claims, a daemon killed in
        the middle of its start-up pass sent 91 adds the manager refused as duplicates
        after its restart (tests/test_faults.py)."""
        scope = host_scope(want.host_id)
        mine = want.members.get(scope, set())
        if "add" not in self.kinds or not mine.intersection(todo):
            return todo
        stamps = await self.backend.node_stamps(scope)
        if stamps is None:
            return todo
        out = []
        for fid in todo:
            if fid not in mine or (fid not in stamps and fid in cut):
                out.append(fid)
            elif fid in stamps:
                copy = self._copies.get(fid)
                if copy is not None and str(copy.get("modifyDatetime")) == stamps[fid]:
                    cache.nodes[fid] = copy
                else:
                    out.append(fid)
        return out

    async def _node(self, spec: NodeSpec, cache: HostCache, fresh: bool) -> None:
        current = cache.nodes.get(spec.facility_id)
        if current is None and "add" not in self.kinds:
            return None
        if current is None:
            node = node_fields(spec)
            try:
                answer = await self.backend.add_node(node)
            except HinemosError as e:
                if e.kind != "FacilityDuplicate":
                    raise
                # Added by a pass that failed after the add: read it and go on.
                current = await self.backend.get_node(spec.facility_id)
                if current is None:
                    raise
                cache.nodes[spec.facility_id] = current
                return await self._node(spec, cache, True)
            if answer is not None and answer.get("modifyDatetime") is not None:
                node = self._copies[spec.facility_id] = answer  # as if read: no read again
            cache.nodes[spec.facility_id] = node
            self.progress("node added", spec.facility_id)
            log.info("node added", node=spec.facility_id, valid=spec.valid)
            return None
        diff = differences(current, spec)
        if not diff or "update" not in self.kinds:
            return None
        if diff == {"valid"}:
            await self.backend.set_valid(spec.facility_id, spec.valid)
            cache.nodes[spec.facility_id] = {**current, "valid": spec.valid}
        elif not fresh:
            # modifyNode overwrites the whole node: write back what the manager holds
            # now (an operator may have edited it), never a cached copy.
            node_now = await self.backend.get_node(spec.facility_id)
            if node_now is None:
                cache.nodes.pop(spec.facility_id, None)
            else:
                cache.nodes[spec.facility_id] = node_now
            return await self._node(spec, cache, True)
        else:
            node = merged(current, spec)
            await self.backend.modify_node(node)
            cache.nodes[spec.facility_id] = node
        self.progress("node updated", spec.facility_id)
        log.info("node updated", node=spec.facility_id, fields=sorted(diff))
        return None

    async def _assign(self, want: Desired, cache: HostCache, result: PassResult) -> None:
        if not self.kinds & {"add", "update"}:
            return
        for scope, wanted in want.members.items():
            if scope in cache.missing_scopes:
                continue
            have = cache.members.setdefault(scope, set())
            missing = sorted(wanted - have)
            missing = [fid for fid in missing if fid in cache.nodes]  # not added: not assigned
            if missing:
                try:
                    await self.backend.assign(scope, missing)
                except HinemosError as e:
                    self._failed(result, f"assign to {scope}", e)
                    continue
                have.update(missing)
                self.scopes.assigned(scope, missing)
                for fid in missing:
                    self.progress(f"assigned to {scope}", fid)
                log.info("nodes assigned", scope=scope, nodes=missing)

    async def _claim(self, want: Desired, cache: HostCache) -> None:
        """Write down the nodes that may be added now, before adding them."""
        prefix = want.owned_prefix
        if "add" not in self.kinds or not prefix:
            return  # without the template's prefix nothing is deleted: nothing to claim
        owned = cache.members.get(host_scope(want.host_id), set())
        adds = {fid for fid in want.nodes if fid.startswith(prefix) and fid not in owned}
        await self.claims.set(want.host_id, self.claims.of(want.host_id) | adds)

    async def _release(self, want: Desired, cache: HostCache) -> None:
        """Nodes now in the host scope are owned through it; claims of gone containers
        were settled by `_delete` (deleted, or found absent or not ours)."""
        owned = cache.members.get(host_scope(want.host_id), set())
        settled = "delete" in self.kinds
        await self.claims.set(want.host_id, {
            fid for fid in self.claims.of(want.host_id) - owned
            if fid in want.nodes or not settled})

    async def _delete(self, want: Desired, cache: HostCache, result: PassResult) -> None:
        if "delete" not in self.kinds:
            return
        prefix = want.owned_prefix
        mine = cache.members.get(host_scope(want.host_id), set())
        stale = sorted(fid for fid in mine
                       if fid not in want.nodes and prefix and fid.startswith(prefix))
        stale += await self._orphans(want, mine)
        if not stale:
            return
        try:
            await self.backend.delete_nodes(stale)
        except HinemosError as e:
            self._failed(result, "delete " + ",".join(stale), e)
            return
        for fid in stale:
            self.progress("node deleted", fid)
            cache.nodes.pop(fid, None)
            self._copies.pop(fid, None)
            for members in cache.members.values():
                members.discard(fid)
        log.info("nodes deleted", nodes=stale)

    async def _orphans(self, want: Desired, mine: set[str]) -> list[str]:
        """Claimed nodes outside the host scope whose container is gone: added by a
        pass that never reached the assignment. Deleted only if they exist and carry
        this host's DOCKER_HOST (else the add never happened or the node is not ours)."""
        out = []
        for fid in sorted(self.claims.of(want.host_id) - mine - set(want.nodes)):
            node = await self.backend.get_node(fid)
            if node is not None and variables(node).get("DOCKER_HOST") == want.host_id:
                out.append(fid)
        return out
