"""Shared test helpers. Fakes live in the hinedockd.testing package (one place)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from hinedockd.config import Config
    from tests.realparts import Daemon, Rsyslog

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def fixture_json(name: str) -> Any:
    """Samples in tests/data, or shipped with the fakes (hinedockd/testing/data: the
    stats sample the fake engine serves); copies of shared/fixtures, recorded from a
    real engine, or documented shapes."""
    path = DATA / name
    if not path.exists():
        path = ROOT / "hinedockd" / "testing" / "data" / name
    return json.loads(path.read_text())


def fixture_events() -> list[Any]:
    lines = (DATA / "events-engine20.10.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# The Hinemos agents' rules for a custom-monitor line (HINEMOS.md §3): 7.x, then the
# report's era, 5.x and 6.x, and older; written out here, not taken from the code.
HINEMOS_LINE = re.compile(r"^(.+),\s*(-?[0-9.]+)$")
AGENT_PATTERNS = (HINEMOS_LINE, re.compile(r"^([^,]+),(-?[0-9.]+)$"),
                  re.compile(r"^([^,]+),([0-9.]+)$"))


def assert_hinemos_lines(stdout: str) -> list[tuple[str, float]]:
    """Every line is one every Hinemos agent accepts; keys are unique; LF only. Returns
    the pairs."""
    assert "\r" not in stdout
    pairs = []
    for line in stdout.splitlines():
        m = HINEMOS_LINE.match(line)
        assert m, f"Hinemos would reject {line!r}"
        for agent in AGENT_PATTERNS[1:]:
            assert agent.match(line), f"an older agent ({agent.pattern}) would reject {line!r}"
        assert m.group(2).count(".") <= 1 and not line.endswith(" "), line
        pairs.append((m.group(1), float(m.group(2))))
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in {keys}"
    return pairs


def fake_host_config(tmp_path: Path, url: str) -> Config:
    """A daemon config for one host, `fake1`, at `url` (the fake engine), streamed,
    its socket and state in `tmp_path`, a file syslog target there: the in-process
    suites' host (tests/test_api.py, tests/test_prometheus.py)."""
    from hinedockd.config import parse_config

    return parse_config(f"""
[daemon]
socket = "{tmp_path}/s"
state_dir = "{tmp_path}/state"
[[hosts]]
facility_id = "fake1"
url = "{url}"
address = "127.0.0.1"
stats = "stream"
[[syslog]]
target = "file://{tmp_path}/messages.log"
""")


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.05)


def require_docker() -> bool:
    """CI sets HINEDOCK_REQUIRE_DOCKER=1 so that a missing engine fails instead of skipping."""
    return os.environ.get("HINEDOCK_REQUIRE_DOCKER") == "1"


# The fixtures that start or need a real part (test_snmp's `agent` is snmpd).
REAL_PARTS = frozenset({"engine", "podman", "engine_cli", "rsyslog", "agent", "vm_docker",
                        "vm_podman"})


def pytest_itemcollected(item: pytest.Item) -> None:
    """A test that uses a real part (directly or through a daemon) is in the `real`
    tier; one on the VM's engines in the `vm` tier too."""
    if REAL_PARTS & set(getattr(item, "fixturenames", ())):
        item.add_marker(pytest.mark.real)
    if in_vm(item):
        item.add_marker(pytest.mark.vm)


@pytest.hookimpl(trylast=True)  # after pytest's own ordering by fixture
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The VM's tests last: its software emulation keeps both cores busy, and nothing
    timing-sensitive on this machine's engines should run beside it."""
    items.sort(key=in_vm)


def in_vm(item: pytest.Item) -> bool:
    """A test on one of the VM's engines (or one that needs the VM itself)."""
    params = getattr(item, "callspec", None)
    names = set(getattr(item, "fixturenames", ()))
    return bool(names & {"vm_docker", "vm_podman"}) or (
        params is not None and params.params.get("engine_cli") in VM_ENGINES)


@pytest.fixture(scope="module")
def engine() -> Iterator[None]:
    """The real Docker engine: skipped where there is none (failed under CI)."""
    from tests.realparts import engine_available

    yield from engine_available()


@pytest.fixture(scope="module")
def podman() -> Iterator[None]:
    """Podman's Docker-compatible API (skipped where it does not answer, failed under
    CI, which sets HINEDOCK_REQUIRE_PODMAN=1)."""
    from tests.realparts import engine_available

    yield from engine_available("podman")


@pytest.fixture(scope="module")
def vm_docker() -> Iterator[None]:
    """Docker 26 on cgroup v2 in today's host (tests/vm): skipped where the VM is not
    running, failed under CI (HINEDOCK_REQUIRE_VM=1)."""
    from tests.realparts import engine_available

    yield from engine_available("docker26")


@pytest.fixture(scope="module")
def vm_podman() -> Iterator[None]:
    """Podman 5 on cgroup v2 in today's host (tests/vm), as vm_docker."""
    from tests.realparts import engine_available

    yield from engine_available("podman5")


# The engines the real-engine suites run on (tests/realparts.py ENGINES): this machine's
# Docker 20.10 and Podman 4.3 on cgroup v1, the VM's Docker 26 and Podman 5 on cgroup v2.
ALL_ENGINES = ["docker", "podman", "docker26", "podman5"]
VM_ENGINES = frozenset({"docker26", "podman5"})


@pytest.fixture(scope="module", params=ALL_ENGINES)
def engine_cli(request: pytest.FixtureRequest) -> str:
    """For a module whose tests run on every engine: the engine's name in ENGINES
    (`docker`, `podman`, `docker26`, `podman5`), once its own fixture said it is there;
    one daemon per engine follows it."""
    from tests.realparts import engine_cli_fixture

    return engine_cli_fixture(request)


@pytest.fixture(scope="module")
def daemon(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The daemon as its own process on the local engine, one per test module (a
    module that needs more in its config defines its own `daemon`)."""
    from tests.realparts import start_daemon

    yield from start_daemon(tmp_path_factory.mktemp("hinedockd"))


@pytest.fixture(scope="module")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    """A real rsyslogd receiving UDP and TCP (skipped where not installed, failed under CI)."""
    from tests.realparts import rsyslog_available

    yield from rsyslog_available(tmp_path_factory.mktemp("rsyslog"))


def reader_dir() -> Iterator[Path]:
    """Fixture body: a directory `nobody` may enter (pytest's own are root's alone), for
    a daemon's socket that a reader uses."""
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="hinedockd-access-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    yield from reader_dir()


@pytest.fixture(scope="module")
def socket_home() -> Iterator[Path]:
    """`socket_dir` for a module's one daemon."""
    yield from reader_dir()
