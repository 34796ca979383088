"""Thin adapter over one Docker engine's HTTP API (aiodocker for the connection,
API versioning and errors; raw responses for the two long-lived streams)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiodocker
import aiohttp
import orjson

from hinedockd.config import HostConfig

# A JSON line longer than this is refused (the stream is reopened) rather than buffered.
MAX_LINE = 1 << 20
QUERY_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=5)
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5, sock_read=None)


class EngineError(Exception):
    """A failed call to an engine, phrased with the host it concerns."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def ssl_context(host: HostConfig) -> ssl.SSLContext | None:
    if not host.url.startswith("https://"):
        return None
    ctx = ssl.create_default_context(cafile=host.tls_ca)
    if not host.tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if host.tls_cert and host.tls_key:
        ctx.load_cert_chain(host.tls_cert, host.tls_key)
    return ctx


def _http_url(url: str) -> str:
    if url.startswith("unix://"):
        return "http://localhost"
    if url.startswith("tcp://"):
        return "http://" + url[len("tcp://"):].rstrip("/")
    return url.rstrip("/")


class Engine:
    """One engine. Every stats stream is one HTTP connection, so the connector has
    no connection limit (aiohttp's default of 100 would starve the 101st stream)."""

    def __init__(self, host: HostConfig) -> None:
        self.host = host
        connector: aiohttp.BaseConnector
        if host.url.startswith("unix://"):
            connector = aiohttp.UnixConnector(host.url[len("unix://"):], limit=0)
        else:
            connector = aiohttp.TCPConnector(limit=0, ssl=ssl_context(host) or False)
        self._connector = connector
        self.docker = aiodocker.Docker(url=_http_url(host.url), connector=connector,
                                       timeout=QUERY_TIMEOUT)

    async def close(self) -> None:
        await self.docker.close()
        await self._connector.close()

    def _error(self, what: str, e: BaseException) -> EngineError:
        status = getattr(e, "status", 0) or 0
        text = getattr(e, "message", None) or str(e) or type(e).__name__
        return EngineError(f"{self.host.facility_id}: {what}: {text}", status)

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None,
                       versioned: bool = True) -> Any:
        try:
            async with self.docker._query(path, params=dict(params or {}),
                                          versioned_api=versioned) as resp:
                body = await resp.read()
        except (aiodocker.DockerError, aiohttp.ClientError, OSError, TimeoutError) as e:
            raise self._error(f"GET /{path}", e) from e
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise EngineError(f"{self.host.facility_id}: GET /{path}: not JSON ({e})") from e

    async def ping(self) -> bool:
        try:
            async with self.docker._query("_ping", versioned_api=False,
                                          timeout=aiohttp.ClientTimeout(total=3)) as resp:
                return resp.status == 200 and (await resp.read()).strip() == b"OK"
        except (aiodocker.DockerError, aiohttp.ClientError, OSError, TimeoutError):
            return False

    @asynccontextmanager
    async def stream(self, path: str, params: Mapping[str, Any]) -> AsyncIterator[JsonLines]:
        """A long-lived JSON-lines response (`/events`, `/containers/{id}/stats`)."""
        try:
            async with self.docker._query(path, params=dict(params),
                                          timeout=STREAM_TIMEOUT) as resp:
                lines = JsonLines(resp)
                try:
                    yield lines
                finally:
                    resp.close()
        except (aiodocker.DockerError, aiohttp.ClientError, OSError) as e:
            raise self._error(f"GET /{path}", e) from e


class JsonLines:
    """Reads one JSON document per line from a streaming response."""

    __slots__ = ("_resp",)

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp

    async def next_raw(self) -> bytes:
        """The next non-empty line, or b"" at the end of the stream."""
        content = self._resp.content
        while True:
            try:
                line = await content.readline()
            except ValueError as e:  # aiohttp: line longer than its buffer limit
                raise EngineError(f"stream line too long ({e})") from e
            except (aiohttp.ClientError, OSError) as e:
                raise EngineError(f"stream broken: {e or type(e).__name__}") from e
            if not line or line.strip():
                if len(line) > MAX_LINE:
                    raise EngineError(f"stream line of {len(line)} bytes refused")
                return line

    def close(self) -> None:
        self._resp.close()

    def __aiter__(self) -> JsonLines:
        return self

    async def __anext__(self) -> bytes:
        line = await self.next_raw()
        if not line:
            raise StopAsyncIteration
        return line
