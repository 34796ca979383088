"""The daemon's garbage-collection policy (collector.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from hinedockd.collector import keep_frozen, settle


class Node:
    """A cyclic object the collector alone can free."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_a_young_cycle_is_freed_and_what_survives_frozen() -> None:
    young = Node()
    ref = weakref.ref(young)
    del young
    settle(full=False)
    assert ref() is None  # collected before the freeze, not frozen with the rest
    assert gc.get_freeze_count() > 0


def test_a_full_settle_frees_a_cycle_that_was_frozen() -> None:
    frozen = Node()
    ref = weakref.ref(frozen)
    settle(full=False)
    del frozen
    gc.collect()
    assert ref() is not None  # frozen: out of the collector's sight
    settle(full=True)
    assert ref() is None


async def test_the_loop_freezes_and_thaws_when_stopped() -> None:
    task = asyncio.create_task(keep_frozen(every=0.05, full_every=0.2))
    await asyncio.sleep(0.3)
    assert gc.get_freeze_count() > 0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert gc.get_freeze_count() == 0
