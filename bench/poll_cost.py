"""The daemon's own CPU per one-shot sample, for each way it could ask: the pooled
connection through aiodocker and aiohttp (`Engine.get_bytes`, as every other query)
against a connection of its own that the engine closes (`Engine.get_once`, the
poller's way on a local or plain-TCP engine). bench/README.md §9.

In one process on uvloop, as the daemon runs: rounds of every live container on the
local engine, 64 at once (the default `poll_concurrency`), each answer parsed into a
sample as the poller does; the process's CPU (`time.process_time`, all threads) over
the rounds, divided by the answers. The ways alternate round by round, so the
machine's drift touches both alike.

    .venv/bin/python bench/poll_cost.py --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import table
from bench.engine_cost import DOCKER_SOCK
from hinedockd.config import HostConfig
from hinedockd.docker.engine import Engine
from hinedockd.metrics.sample import parse_sample

ONE_SHOT = {"stream": "false", "one-shot": "true"}


async def one_round(ids: list[str], ask: Callable[[str], Awaitable[bytes]],
                    concurrency: int) -> float:
    """CPU seconds for one round of every container."""
    gate = asyncio.Semaphore(concurrency)

    async def one(cid: str) -> None:
        async with gate:
            parse_sample(orjson.loads(await ask(cid)))

    c0 = time.process_time()
    await asyncio.gather(*(one(cid) for cid in ids))
    return time.process_time() - c0


async def run(ids: list[str], rounds: int, concurrency: int) -> list[dict[str, object]]:
    engine = Engine(HostConfig(facility_id="bench", url=f"unix://{DOCKER_SOCK}",
                               address="127.0.0.1"))

    async def pooled(cid: str) -> bytes:
        return await engine.get_bytes(f"containers/{cid}/stats", ONE_SHOT)

    async def own(cid: str) -> bytes:
        return await engine.get_once(f"containers/{cid}/stats", ONE_SHOT)

    ways = {"pooled (aiodocker, aiohttp)": pooled, "own connection (get_once)": own}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    try:
        for ask in ways.values():  # warm both: imports, the version, the pool
            await one_round(ids, ask, concurrency)
        for r in range(rounds):
            for name in list(ways) if r % 2 == 0 else reversed(list(ways)):
                cpu[name].append(await one_round(ids, ways[name], concurrency) / len(ids))
    finally:
        await engine.close()
    return [{"way": name, "containers": len(ids), "rounds": rounds,
             "daemon_cpu_ms_per_answer_median": round(statistics.median(v) * 1000, 3),
             "min": round(min(v) * 1000, 3), "max": round(max(v) * 1000, 3)}
            for name, v in cpu.items()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    ids = subprocess.run(["docker", "ps", "-q", "--no-trunc"], capture_output=True,
                         text=True, check=True).stdout.split()
    if not ids:
        raise SystemExit("no running containers on the local engine")
    print(table(uvloop.run(run(ids, args.rounds, args.concurrency))))


if __name__ == "__main__":
    main()
