"""The Prometheus endpoint's collector on a real `Host` watching the fake engine: the
cAdvisor-named cumulative counters carry the fake's own counters (its ground truth:
CPU busy `cpu_rate` cores since the start, `io_rate` bytes a second written and
received), with cAdvisor's labels; a stopped container has none; and the whole page
passes `promtool check metrics` where promtool is installed (CI installs it)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from hinedockd.docker.host import Host
from hinedockd.prometheus import DaemonCollector
from hinedockd.testing import FakeContainer, FakeEngine
from tests.conftest import eventually, fake_host_config

Samples = dict[str, list[tuple[dict[str, str], float]]]


@dataclass
class Scraped:
    text: str
    samples: Samples
    busy: FakeContainer
    stopped: FakeContainer


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


@pytest.fixture
async def scraped(tmp_path: Path) -> AsyncIterator[Scraped]:
    async with FakeEngine(sample_interval=0.2) as engine:
        busy = engine.add("busy", cpu_rate=0.5)
        stopped = engine.add("stopped", state="exited")
        cfg = fake_host_config(tmp_path, engine.url)
        host = Host(cfg.hosts[0], cfg.daemon)
        task = asyncio.create_task(host.run())
        registry = CollectorRegistry()
        registry.register(DaemonCollector([host], None, window=30, scale="host"))
        try:
            await eventually(lambda: (s := host.series(busy.id)) is not None
                             and s.latest is not None and s.latest.cpu_total > 0
                             and busy.id in host.lifecycle)  # inspected
            await eventually(lambda: "_per_second{" in generate_latest(registry).decode())
            text = generate_latest(registry).decode()  # with two samples: rates
            yield Scraped(text, parse(text), busy, stopped)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def one(samples: Samples, name: str, cid: str) -> tuple[dict[str, str], float]:
    found = [(labels, v) for labels, v in samples.get(name, []) if labels["id"] == f"/docker/{cid}"]
    assert len(found) == 1, (name, samples.get(name))
    return found[0]


async def test_cadvisor_counters_are_the_engines_own(scraped: Scraped) -> None:
    s, busy = scraped.samples, scraped.busy
    labels, cpu = one(s, "container_cpu_usage_seconds_total", busy.id)
    assert labels == {"host": "fake1", "name": "busy", "id": f"/docker/{busy.id}",
                      "image": "localbusybox:latest", "cpu": "total"}
    _, seen = one(s, "container_last_seen", busy.id)
    up = seen - busy.started  # the fake's counters at its sample's time
    assert cpu == pytest.approx(0.5 * up, abs=1e-6)
    for name in ("container_fs_writes_bytes_total", "container_network_receive_bytes_total"):
        assert one(s, name, busy.id)[1] == int(up * busy.io_rate), name
    assert one(s, "container_fs_reads_bytes_total", busy.id)[1] == 0
    assert one(s, "container_network_receive_packets_total", busy.id)[1] == int(up)
    assert one(s, "container_memory_rss", busy.id)[1] > 0
    # the stopped container: its figures are not 0, they are not there
    assert not any(labels["id"] == f"/docker/{scraped.stopped.id}"
                   for family in s.values() for labels, _ in family if "id" in labels)


async def test_lifecycle_gauges_follow_the_reports_rules(scraped: Scraped) -> None:
    """Inspected (RestartCount 0, not OOM-killed, exit code 0), no health check: no
    health gauge, as the report prints no health line (model.LIFE_FIGURES)."""
    s, cid = scraped.samples, scraped.busy.id
    mine = {name: v for name, family in s.items() for labels, v in family
            if labels.get("id") == cid or labels.get("container_id") == cid
            or labels.get("name") == "busy"}
    assert mine.get("hinedockd_container_restarts_total") == 0
    assert mine.get("hinedockd_container_oom_killed") == 0
    assert mine.get("hinedockd_container_exit_code") == 0
    assert "hinedockd_container_health" not in mine
    # the rates, by the report's rules: the fake writes and receives io_rate bytes a second
    for name in ("hinedockd_container_disk_write_bytes_per_second",
                 "hinedockd_container_net_rx_bytes_per_second"):
        assert mine.get(name) == pytest.approx(scraped.busy.io_rate, rel=0.05), name
    assert not any(labels.get("name") == "stopped" for name, family in s.items()
                   if name.startswith("hinedockd_container_") and name.endswith("_per_second")
                   for labels, _ in family)
    assert mine.get("hinedockd_container_uptime_seconds", -1) >= 0


async def test_the_page_passes_promtool(scraped: Scraped) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package has it)")
    r = await asyncio.to_thread(subprocess.run, [promtool, "check", "metrics"],
                                input=scraped.text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr
