"""What every fake server shares: an aiohttp application on a loopback port, used as
an async context manager (as aiohttp's own `TestServer` is), and the means to stop
listening for a while (a server that is away) without losing its state."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web


class FakeServer:
    def __init__(self) -> None:
        self.app = web.Application()
        self.runner: web.AppRunner | None = None
        self.site: web.TCPSite | None = None
        self.host = "127.0.0.1"
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen (port 0: any free one); returns the base URL."""
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        self.host = host
        await self.listen(port)
        return self.base_url()

    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def listen(self, port: int | None = None) -> None:
        """Listen again (on the same port unless told otherwise)."""
        assert self.runner is not None, "start() first"
        self.site = web.TCPSite(self.runner, self.host, self.port if port is None else port)
        await self.site.start()
        self.port = self.runner.addresses[-1][1]

    async def unlisten(self, hang_up: bool = False) -> None:
        """Refuse connections until `listen`; open ones are left to the caller, or
        with `hang_up` closed as a server that went down closes them."""
        if self.site is not None:
            await self.site.stop()
            self.site = None
        server = self.runner.server if self.runner is not None else None
        if hang_up and server is not None:
            for handler in list(server.connections):
                handler.force_close()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
