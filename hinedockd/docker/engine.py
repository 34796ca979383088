"""Thin adapter over one Docker engine's HTTP API: queries and jobs through
aiodocker's client (its connector, session and engine URL, and the API version this
daemon chose), each call and its error answer read here, bounded; the long-lived
streams and the poller's one-shots on connections of their own (jsonstream.py).

Why not aiodocker's query methods: an engine's answer is untrusted input, and they
read an error answer whole and decode it as they find it. A 1 GB error body was read
whole into the message (and the log); a JSON error without `message`, cut short or
not UTF-8 raised KeyError, JSONDecodeError or UnicodeDecodeError, which no loop
expects (tests/test_hostile_engine.py)."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import aiodocker
import aiohttp
import orjson

from hinedockd.config import HostConfig
from hinedockd.deadlines import ENGINE_QUERY_SECONDS
from hinedockd.docker.dialect import version_tuple
from hinedockd.docker.jsonstream import (
    MAX_ERROR,
    BodyProtocol,
    JsonLinesProtocol,
    StreamError,
    error_message,
)

QUERY_TIMEOUT = aiohttp.ClientTimeout(total=ENGINE_QUERY_SECONDS, connect=5)
# Over TLS, pooled connections outlive the gap between two poll rounds, so a round
# reuses them rather than connecting (a handshake each) `poll_concurrency` times a
# round. Without TLS the rounds' one-shots do not use the pool (`get_once`) and a
# connect costs next to nothing: an idle pooled connection closes after
# IDLE_SECONDS (the 5 s pings keep one), so that a host holds its events stream and
# that one between bursts, not the eight its connect's inspects opened (a fleet of 50
# held about ten descriptors a host: bench/README.md §14).
KEEPALIVE_SLACK_SECONDS = 15.0
IDLE_SECONDS = 10.0
OPEN_TIMEOUT = 10.0  # connect and get the answer's headers
# The most of one answer the daemon reads before giving up on it: a hostile or broken
# engine's 1 GB container list took 2.16 GB of the daemon's memory (issue 29). Lists and
# /system/df grow with the host (about 2 KB a container, 10,000 containers ~ 20 MB);
# an inspect, a /top, /info or /version is far smaller.
ANSWER_MAX_BYTES = 8 << 20
LIST_MAX_BYTES = 64 << 20


def raise_fd_limit() -> None:
    """One stats stream is one connection: hundreds of containers need more than the
    usual soft limit of 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _text(e: BaseException) -> str:
    return getattr(e, "message", None) or str(e) or type(e).__name__


def _status(e: BaseException) -> int:
    return getattr(e, "status", 0) or 0


# The newest Docker API whose answers we have recorded and tested: Docker 26.1's 1.45
# (tests/data/*-docker26.*). A newer engine is spoken to at this version, so no answer
# shape we have never seen arrives unasked (Docker 29's API 1.52 drops `/system/df`'s
# LayersSize and friends); an older one at its own.
TESTED_API = (1, 45)
OLDEST_API = (1, 24)  # what an engine that gives no MinAPIVersion is assumed to take


def _api(text: Any) -> tuple[int, int] | None:
    """`1.45` -> (1, 45): exactly a major and a minor, else None."""
    if not isinstance(text, str) or not all(c == "." or (c.isascii() and c.isdigit())
                                            for c in text):
        return None
    v = version_tuple(text)
    return (v[0], v[1]) if v is not None and len(v) == 2 and text.count(".") == 1 else None


def choose_api(doc: Any) -> str | None:
    """Pure: the API version to speak to the engine behind a `/version` answer: the
    lower of its own and TESTED_API, never under its minimum; None if it gives none."""
    if not isinstance(doc, Mapping):
        return None
    engine = _api(doc.get("ApiVersion"))
    if engine is None:
        return None
    chosen = max(min(engine, TESTED_API), _api(doc.get("MinAPIVersion")) or OLDEST_API)
    return f"v{chosen[0]}.{chosen[1]}"


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, or EngineError past `limit` bytes (read inside `Engine.request`, which
    closes the connection of an answer left unread)."""
    length = resp.content_length
    if length is not None and length > limit:
        raise EngineError(_over(limit, f"{length} bytes"))
    body = bytearray()
    async for chunk in resp.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > limit:
            raise EngineError(_over(limit, "more"))
    return bytes(body)


async def _error_text(resp: aiohttp.ClientResponse) -> str:
    """An error answer's message (`error_message`, from at most MAX_ERROR bytes of it),
    else its status: the engine's words, as the CLI shows them."""
    try:
        raw = await resp.content.read(MAX_ERROR)
    except (aiohttp.ClientError, OSError, TimeoutError):
        raw = b""
    return error_message(raw) or f"HTTP {resp.status}"


def _over(limit: int, size: str) -> str:
    return (f"answer of {size} is over the daemon's limit of {limit >> 20} MiB for it; "
            "skipped (a broken or hostile engine?)")


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


def _endpoint(url: str) -> tuple[str, str, int]:
    """("unix", path, 0) or ("tcp", host, port) for the raw stream connections."""
    if url.startswith("unix://"):
        return "unix", url[len("unix://"):], 0
    parts = urlsplit(url)
    default = 2376 if parts.scheme == "https" else 2375
    return "tcp", parts.hostname or "", parts.port or default


class Engine:
    """One engine: queries through aiodocker (a small pooled connector); the
    long-lived streams on their own connections (one per stream, see jsonstream.py)."""

    def __init__(self, host: HostConfig) -> None:
        self.host = host
        self._ssl = ssl_context(host)
        connector: aiohttp.BaseConnector
        keep = (host.poll_interval_seconds + KEEPALIVE_SLACK_SECONDS if self._ssl is not None
                else IDLE_SECONDS)
        if host.url.startswith("unix://"):
            connector = aiohttp.UnixConnector(host.url[len("unix://"):], keepalive_timeout=keep)
        else:
            connector = aiohttp.TCPConnector(ssl=self._ssl or False, keepalive_timeout=keep)
        self._connector = connector
        self._where = _endpoint(host.url)
        self.docker = aiodocker.Docker(url=_http_url(host.url), connector=connector,
                                       timeout=QUERY_TIMEOUT)
        self.version_doc: Mapping[str, Any] = {}  # the last /version (negotiate)

    async def negotiate(self) -> Mapping[str, Any]:
        """At each connect: `/version`, and the API version to speak from now on
        (`choose_api`). Chosen again at every reconnect: an engine upgraded in place
        to one whose minimum is newer answered "client version 1.41 is too old" to
        every call until the daemon restarted, when aiodocker chose once for ever."""
        doc = await self.get_json("version", versioned=False)
        chosen = choose_api(doc)
        if chosen is None:
            raise EngineError(f"{self.host.facility_id}: /version gives no ApiVersion")
        self.docker.api_version = chosen
        self.version_doc = doc
        return doc  # type: ignore[no-any-return]

    @property
    def api_version(self) -> str:
        return self.docker.api_version

    async def close(self) -> None:
        await self.docker.close()
        await self._connector.close()

    def _error(self, what: str, e: BaseException) -> EngineError:
        return EngineError(f"{self.host.facility_id}: {what}: {_text(e)}", _status(e))

    async def chosen_version(self) -> str:
        """The API version to call, negotiated at the first call that needs it."""
        if self.docker.api_version == "auto":
            await self.negotiate()
        return self.docker.api_version

    def url(self, path: str, versioned: bool = True) -> str:
        """The engine's URL for an API path, at the version chosen (`negotiate`)."""
        prefix = f"/{self.docker.api_version}" if versioned else ""
        return f"{self.docker.docker_host}{prefix}/{path}"

    @contextlib.asynccontextmanager
    async def request(self, path: str, *, method: str = "GET",
                      params: Mapping[str, str] | None = None,
                      timeout: aiohttp.ClientTimeout = QUERY_TIMEOUT,  # noqa: ASYNC109
                      versioned: bool = True,
                      body: Any = None) -> AsyncIterator[aiohttp.ClientResponse]:
        """One call to the engine's API (`body`: sent as JSON), the answer's body to be
        read inside. Every failure, also while reading, is an EngineError: an error
        answer with the engine's message (`_error_text`, bounded)."""
        if versioned:
            await self.chosen_version()
        data = None if body is None else orjson.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else None
        try:
            async with self.docker.session.request(method, self.url(path, versioned),
                                                   params=params, data=data,
                                                   headers=headers, timeout=timeout) as resp:
                if resp.status >= 400:
                    raise EngineError(await _error_text(resp), resp.status)
                # Released once read through; closed (connection and all) when not: an
                # exec whose caller left kept its engine connection (issue 29).
                try:
                    yield resp
                except BaseException:
                    resp.close()
                    raise
                resp.release()
        except aiohttp.ClientConnectionError as e:
            raise EngineError(f"cannot connect to the engine at {self.host.url}: "
                              f"{_text(e)}") from e
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            raise EngineError(_text(e), _status(e)) from e

    async def get_bytes(self, path: str, params: Mapping[str, Any] | None = None,
                        versioned: bool = True, limit: int = ANSWER_MAX_BYTES) -> bytes:
        """A GET's body, on a pooled connection; an answer over `limit` bytes is an
        EngineError (the connection is dropped, nothing more is read)."""
        return await self._body("GET", path, params=params, versioned=versioned, limit=limit)

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None,
                       versioned: bool = True, limit: int = ANSWER_MAX_BYTES) -> Any:
        return self._decoded("GET", path, await self.get_bytes(path, params, versioned, limit))

    async def post_json(self, path: str, body: Any) -> Any:
        """A POST with a JSON body, its JSON answer (bounded as a GET's)."""
        return self._decoded("POST", path, await self._body("POST", path, body=body))

    async def _body(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                    versioned: bool = True, limit: int = ANSWER_MAX_BYTES,
                    body: Any = None) -> bytes:
        try:
            async with self.request(path, method=method, params=params, versioned=versioned,
                                    body=body) as resp:
                return await _read_capped(resp, limit)
        except EngineError as e:
            raise EngineError(f"{self.host.facility_id}: {method} /{path}: {e}", e.status) from e

    def _decoded(self, method: str, path: str, body: bytes) -> Any:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise EngineError(f"{self.host.facility_id}: {method} /{path}: not JSON ({e})") from e

    async def ping(self) -> bool:
        try:
            async with self.request("_ping", versioned=False,
                                    timeout=aiohttp.ClientTimeout(total=3)) as resp:
                return resp.status == 200 and (await resp.read()).strip() == b"OK"
        except EngineError:
            return False

    async def get_once(self, path: str, params: Mapping[str, str]) -> bytes:
        """One small GET on a connection of its own that the engine closes after the
        answer (`Connection: close`): the poller's one-shot samples. Why not the pool:
        a one-shot answer costs the daemon 0.45–0.54 ms of CPU through aiodocker and
        aiohttp, 0.33 ms through this protocol (medians, 101 containers, uvloop:
        bench/poll_cost.py, bench/README.md §9), and a local or plain-TCP connect costs the
        engine next to nothing. Over TLS a handshake a sample would cost the engine more
        than this saves: those go through the pool."""
        if self._ssl is not None:
            return await self.get_bytes(path, params)
        lines: list[bytes] = []
        try:
            async with asyncio.timeout(QUERY_TIMEOUT.total):
                proto = await self.open_lines(path, params, lines.append, close=True)
                await self.wait_lines(proto, path)
        except TimeoutError as e:
            raise self._error(f"GET /{path}", e) from e
        if len(lines) != 1:
            raise EngineError(f"{self.host.facility_id}: GET /{path}: {len(lines)} JSON lines"
                              " in an answer of one document")
        return lines[0]

    async def open_lines(self, path: str, params: Mapping[str, str],
                         on_line: Callable[[bytes], None],
                         hold: bool = False, close: bool = False,
                         raw: bool = False) -> JsonLinesProtocol:
        """Open a long-lived JSON-lines stream (`/events`, `/containers/{id}/stats`), or
        with `close` one answer the engine ends by closing the connection, or with `raw`
        a stream whose bytes are handed on as they come (`/containers/{id}/logs`);
        returns once the engine has answered 200. `done` on the result ends with it."""
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())
        target = f"/{await self.chosen_version()}/{path}" + (f"?{query}" if query else "")
        kind, host, port = self._where
        request = (f"GET {target} HTTP/1.1\r\nHost: {host if kind == 'tcp' else 'docker'}\r\n"
                   "User-Agent: hinedockd\r\nAccept: application/json\r\n"
                   + ("Connection: close\r\n" if close else "") + "\r\n").encode()
        loop = asyncio.get_running_loop()
        proto: JsonLinesProtocol | None = None

        def factory() -> JsonLinesProtocol:
            nonlocal proto
            proto = (BodyProtocol if raw else JsonLinesProtocol)(request, on_line, hold)
            return proto

        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                if kind == "unix":
                    await loop.create_unix_connection(factory, host)
                else:
                    await loop.create_connection(factory, host, port, ssl=self._ssl)
                assert proto is not None
                await proto.headers
        except (OSError, TimeoutError, StreamError, ssl.SSLError) as e:
            if proto is not None:
                proto.close()
            raise self._error(f"GET /{path}", e) from e
        assert proto is not None
        return proto

    async def wait_lines(self, proto: JsonLinesProtocol, path: str) -> None:
        """Until the stream ends; a broken one raises EngineError."""
        try:
            await proto.done
        except StreamError as e:
            raise self._error(f"GET /{path}", e) from e
        finally:
            proto.close()
