"""Jobs against containers through the Docker API (never nsenter): start, stop,
restart, remove, exec, archive download. State rules (SPEC §7): start only
`exited`/`created`, stop and restart only `running`: other states are skipped and say
so (the report: 何もしない). Remove only `exited` unless forced: any other state is a
failure of that container (the report §4.6.2: "exited でなければエラーが出ます"), so the
job ends with 9 and Hinemos shows it as failed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from hinedockd.docker.engine import Engine, EngineError
from hinedockd.docker.frames import ExecFrames, FrameError
from hinedockd.model import Container, ContainerState, StateError, container_state
from hinedockd.output import printable

ALLOWED = {"start": (ContainerState.EXITED, ContainerState.CREATED),
           "stop": (ContainerState.RUNNING,), "restart": (ContainerState.RUNNING,),
           "remove": (ContainerState.EXITED,)}
NO_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=None)


@dataclass
class Outcome:
    container: Container
    result: str  # "Success", "Skipped", "Failed"
    reason: str = ""

    def line(self) -> str:
        """One line, whatever the engine put in the name or its error: a line break or
        an escape sequence there would forge another container's line."""
        who = printable(f"{self.container.short_id} {self.container.name}")
        if self.result == "Skipped":
            return f"{who} Skipped ({printable(self.reason)})"
        if self.result == "Failed":
            return f"{who} Failed: {printable(self.reason)}"
        return f"{who} Success"


def allowed(action: str, state: ContainerState, force: bool) -> bool:
    """Pure: whether `action` may run on a container in `state`."""
    return (action == "remove" and force) or state in ALLOWED[action]


async def current_state(engine: Engine, c: Container) -> ContainerState:
    """The state the engine gives now (inspect), not the daemon's view of it, which
    may lag: Podman's events arrive seconds late under load, and a `restart` judged
    on a stale "running" would start an exited container."""
    doc = await engine.get_json(f"containers/{c.id}/json")
    state = doc.get("State") if isinstance(doc, dict) else None
    status = state.get("Status") if isinstance(state, dict) else None
    try:
        return container_state(status, "")
    except StateError:
        return c.state  # a state text nobody knows: the rules judge the last known one


async def lifecycle(engine: Engine, action: str, c: Container, *, wait: int | None = None,
                    force: bool = False, link: bool = False, volumes: bool = False) -> Outcome:
    try:
        c = replace(c, state=await current_state(engine, c))
    except EngineError as e:
        return Outcome(c, "Failed", str(e))
    if not allowed(action, c.state, force):
        return Outcome(c, "Failed" if action == "remove" else "Skipped", c.state)
    params: dict[str, Any] = {}
    method, path = "POST", f"containers/{c.id}/{action}"
    if action in ("stop", "restart") and wait is not None:
        params["t"] = str(wait)
    if action == "remove":
        method, path = "DELETE", f"containers/{c.id}"
        params = {"force": str(force).lower(), "link": str(link).lower(),
                  "v": str(volumes).lower()}
    try:
        async with engine.request(path, method=method, params=params,
                                  timeout=NO_TIMEOUT) as resp:
            await resp.read()
    except EngineError as e:
        return Outcome(c, "Failed", str(e))
    return Outcome(c, "Success")


async def exec_stream(engine: Engine, c: Container,
                      argv: list[str]) -> AsyncGenerator[tuple[int, bytes]]:
    """Run `argv` in the container, stdout (1) and stderr (2) kept apart, as they come;
    the last item is (0, exit code as text). No read timeout: a quiet command may run
    as long as it needs. The multiplexed output is split by `frames.py` as it arrives
    (never a whole frame held: the engine chooses its length), and only an integer
    exit code is passed on."""
    created = await engine.post_json(f"containers/{c.id}/exec",
                                     {"AttachStdout": True, "AttachStderr": True,
                                      "Tty": False, "Cmd": argv})
    exec_id = created.get("Id") if isinstance(created, dict) else None
    if not isinstance(exec_id, str) or not exec_id.isalnum():
        raise EngineError(f"{c.name}: exec failed: the engine gave no exec ID")
    frames = ExecFrames()
    try:
        async with engine.request(f"exec/{exec_id}/start", method="POST", timeout=NO_TIMEOUT,
                                  body={"Detach": False, "Tty": False}) as resp:
            async for chunk in resp.content.iter_any():
                for item in frames.feed(chunk):
                    yield item
        frames.end()
    except (EngineError, FrameError, aiohttp.ClientError, OSError) as e:
        raise EngineError(f"{c.name}: exec failed: {e}", getattr(e, "status", 0)) from e
    yield 0, str(await _exit_code(engine, exec_id)).encode()


async def _exit_code(engine: Engine, exec_id: str) -> int:
    """The exec's exit code once the engine has it (it may still say running for a
    moment after the output ended); -1 when it gives none that is an integer."""
    for _ in range(20):
        info = await engine.get_json(f"exec/{exec_id}/json")
        code = info.get("ExitCode") if isinstance(info, dict) else None
        if type(code) is int and not (isinstance(info, dict) and info.get("Running")):
            return code
        await asyncio.sleep(0.05)
    return -1


async def archive_stream(engine: Engine, c: Container, path: str,
                         chunk: int = 1 << 16) -> AsyncIterator[bytes]:
    """The tar of `path` as the engine sends it (owners, groups, modes untouched),
    passed through in chunks: never the whole archive in memory."""
    try:
        async with engine.request(f"containers/{c.id}/archive", params={"path": path},
                                  timeout=NO_TIMEOUT) as resp:
            while data := await resp.content.read(chunk):
                yield data
    except EngineError as e:
        raise EngineError(f"{c.name}: {path}: {e}", e.status) from e
