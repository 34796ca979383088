"""TLS to a Docker host: a real TLS endpoint (a proxy that demands a client certificate)
in front of the real engine, certificates made here with openssl. The right CA and
client certificate work; a wrong CA or no client certificate fail for that host only."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realparts import DOCKER_SOCK, Daemon, free_port, start_daemon, wait_for


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path) -> None:
    """Two CAs; a server certificate for 127.0.0.1 and a client certificate from `ca`."""
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                f"/CN={ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.pem", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, ext in (("server", "san.ext"), ("client", "client.ext")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
                f"{name}.key", "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", f"{name}.pem", cwd=d)


class TlsProxy:
    """TLS in front of the engine's unix socket, client certificates required."""

    def __init__(self, pki: Path) -> None:
        self.port = free_port()
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
        self.ctx.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        engine_reader, engine_writer = await asyncio.open_unix_connection(DOCKER_SOCK)
        await asyncio.gather(self._pipe(reader, engine_writer), self._pipe(engine_reader, writer))

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", self.port, ssl=self.ctx),
            self.loop).result(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("pki")
    make_pki(d)
    return d


@pytest.fixture(scope="module")
def daemon(engine: None, pki: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    proxy = TlsProxy(pki)
    proxy.start()
    url = f"https://127.0.0.1:{proxy.port}"
    hosts = f"""
[[hosts]]
facility_id = "tls_good"
url = "{url}"
address = "127.0.0.2"
tls_ca = "{pki}/ca.pem"
tls_cert = "{pki}/client.pem"
tls_key = "{pki}/client.key"
[[hosts]]
facility_id = "tls_wrong_ca"
url = "{url}"
address = "127.0.0.3"
tls_ca = "{pki}/other-ca.pem"
tls_cert = "{pki}/client.pem"
tls_key = "{pki}/client.key"
[[hosts]]
facility_id = "tls_no_cert"
url = "{url}"
address = "127.0.0.4"
tls_ca = "{pki}/ca.pem"
"""
    try:
        yield from start_daemon(tmp_path_factory.mktemp("hinedockd-tls"), hosts)
    finally:
        proxy.stop()


def test_tls_hosts(daemon: Daemon) -> None:
    def host(name: str) -> dict[str, object]:
        return next(h for h in daemon.status_all()["hosts"] if h["facility_id"] == name)

    wait_for(lambda: bool(host("tls_good")["connected"]), what="the TLS host connected")
    assert daemon.ok("MonitorDockerHostStatus.py", "-i", "tls_good") == [("Status", 0.0)]
    assert daemon.ok("hinedock", "host", "count", "-i", "tls_good")
    wait_for(lambda: "certificate verify failed" in str(host("tls_wrong_ca")["last_error"]),
             what="a clear error for the wrong CA")
    wait_for(lambda: bool(host("tls_no_cert")["last_error"]), what="an error without a cert")
    assert not host("tls_wrong_ca")["connected"] and not host("tls_no_cert")["connected"]
    assert "tls_no_cert" in str(host("tls_no_cert")["last_error"])
    r = daemon.run("MonitorDockerHostStatus.py", "-i", "tls_wrong_ca")
    assert (r.returncode, r.stdout) == (0, "Status,1\n")  # the engine is not reachable from here
    assert host("docker_host1")["connected"]  # the others go on
