"""An optional Prometheus endpoint (`[daemon] prometheus = "127.0.0.1:9323"`, off by
default): the daemon's own health and the containers' figures, read from the same
cache as `hinedock`, in the Prometheus text format. It serves `/metrics` only: jobs
and everything else stay on the unix socket.

Two sets of container series: `hinedockd_container_*`, the daemon's own figures over
its window (what `hinedock` prints); and the cumulative counters under the names and
labels cAdvisor uses (`container_cpu_usage_seconds_total`, …: `name`, `image`, and `id`
as cAdvisor writes it for Docker, `/docker/<full ID>`; plus `host`), so that the
dashboards and alert rules written for cAdvisor work unchanged, Prometheus doing the
rates. Polled at a sample a minute by default, a rate needs a range of 2 minutes or
more (`rate(…[5m])`)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from hinedockd import readings
from hinedockd.docker.view import HostView
from hinedockd.messages.hub import SyslogHub
from hinedockd.metrics.figures import Totals, report_value
from hinedockd.model import LIFE_FIGURES, CpuScale, LifeFigures

log = structlog.get_logger("hinedockd.prometheus")


# The rate gauges (`hinedockd_container_<name>_per_second`) and the report's key of each
RATES = {"disk_read_bytes": "disk_read", "disk_write_bytes": "disk_write",
         "net_rx_bytes": "nw_rxkb", "net_tx_bytes": "nw_txkb"}


class DaemonCollector(Collector):
    def __init__(self, hosts: Sequence[HostView], hub: SyslogHub | None, window: float,
                 scale: CpuScale) -> None:
        self.hosts, self.hub, self.window, self.scale = hosts, hub, window, scale

    def collect(self) -> Iterator[Metric]:
        connected = GaugeMetricFamily("hinedockd_host_connected",
                                      "1 while the host's events stream is up", labels=["host"])
        events = CounterMetricFamily("hinedockd_events", "Docker events received",
                                     labels=["host"])
        samples = CounterMetricFamily("hinedockd_stats_samples", "stats samples taken in",
                                      labels=["host"])
        bad = CounterMetricFamily("hinedockd_stats_bad_samples", "stats samples skipped",
                                  labels=["host"])
        states = GaugeMetricFamily("hinedockd_containers", "containers per state",
                                   labels=["host", "state"])
        labels = ["host", "name", "id"]
        cpu = GaugeMetricFamily("hinedockd_container_cpu_percent",
                                f"CPU percent over {self.window:g} s ({self.scale} scale)",
                                labels=labels)
        rss = GaugeMetricFamily("hinedockd_container_memory_rss_bytes", "rss (v1) or anon (v2)",
                                labels=labels)
        rates = {k: GaugeMetricFamily(f"hinedockd_container_{k}_per_second",
                                      f"{k.replace('_', ' ')} per second over the window",
                                      labels=labels)
                 for k in RATES}
        # A counter: promtool refuses a gauge named *_count (a histogram's suffix).
        restarts = CounterMetricFamily("hinedockd_container_restarts",
                                       "the engine's RestartCount", labels=labels)
        life = {k: GaugeMetricFamily(f"hinedockd_container_{k}", about, labels=labels)
                for k, about in (
                    ("health", "health check: healthy 0, unhealthy 1, starting 2"),

                    ("oom_killed", "1 when the last exit was an OOM kill"),
                    ("exit_code", "the last exit code"),
                    ("uptime_seconds", "seconds since it started; 0 when not running"))}
        cadvisor = CadvisorFamilies()
        now = time.time()
        for view in self.hosts:
            h = view.host.facility_id
            connected.add_metric([h], 1 if view.status.connected else 0)
            events.add_metric([h], view.status.events)
            samples.add_metric([h], view.status.samples)
            bad.add_metric([h], view.status.bad_samples)
            for state, n in view.snapshot().states.items():
                states.add_metric([h, state], n)
            for c in view.containers.values():
                self._life(life, restarts, [h, c.name, c.short_id],
                           view.life_figures(c, self.window, now))
                totals = readings.totals(view, c)  # None, as the figures, when not running
                if totals is not None:
                    cadvisor.add([h, c.name, f"/docker/{c.id}", c.image], totals)
                f = readings.figures(view, c, window=self.window, now=now,
                                     scale=self.scale).figures
                if f is None:
                    continue
                key = [h, c.name, c.short_id]
                cpu.add_metric(key, f.cpu.percent)
                if f.memory is not None:  # not given: no series, never 0
                    rss.add_metric(key, f.memory.rss)
                for family, report_key in RATES.items():
                    rate = report_value(f, report_key, per_second=True)
                    if rate is not None:  # not given (network): never 0
                        rates[family].add_metric(key, rate)
        yield from (connected, events, samples, bad, states, cpu, rss, *rates.values(),
                    restarts, *life.values(), *cadvisor.families())
        if self.hub is not None:
            sent = CounterMetricFamily("hinedockd_syslog_sent", "messages sent",
                                       labels=["target"])
            dropped = CounterMetricFamily("hinedockd_syslog_dropped",
                                          "messages dropped (queue full)", labels=["target"])
            for t in self.hub.snapshot():
                sent.add_metric([t.target], t.sent)
                dropped.add_metric([t.target], t.dropped)
            yield from (sent, dropped)


    @staticmethod
    def _life(families: dict[str, GaugeMetricFamily], restarts: CounterMetricFamily,
              key: list[str], f: LifeFigures) -> None:
        """What is known; nothing before the container's first inspect. Health, restarts
        and OOM kills by the report's rules (model.LIFE_FIGURES); the exit code and the
        uptime as they are, since Prometheus takes a sign and fractions of a second."""
        for name, family in (("health", families["health"]), ("restart_count", restarts),
                             ("oom_killed", families["oom_killed"])):
            value = LIFE_FIGURES[name].value(f)
            if value is not None and not isinstance(value, str):
                family.add_metric(key, value)
        if f.exit_code is not None:
            families["exit_code"].add_metric(key, f.exit_code)
        if f.uptime is not None:
            families["uptime_seconds"].add_metric(key, f.uptime)


class CadvisorFamilies:
    """The cumulative counters of running containers, in cAdvisor's names (its
    `container_*` series for Docker): a counter the engine does not give for a
    container (no network of its own, no memory controller, packets on Podman before
    5.0) is left out for it, never 0."""

    LABELS = ("host", "name", "id", "image")

    def __init__(self) -> None:
        labels = list(self.LABELS)
        self.cpu = CounterMetricFamily(
            "container_cpu_usage_seconds", "Cumulative cpu time consumed in seconds.",
            labels=[*labels, "cpu"])
        self.counters = {field: CounterMetricFamily(name, about, labels=labels)
                         for field, name, about in (
            ("read_bytes", "container_fs_reads_bytes", "Cumulative count of bytes read"),
            ("write_bytes", "container_fs_writes_bytes", "Cumulative count of bytes written"),
            ("rx_bytes", "container_network_receive_bytes",
             "Cumulative count of bytes received"),
            ("tx_bytes", "container_network_transmit_bytes",
             "Cumulative count of bytes transmitted"),
            ("rx_packets", "container_network_receive_packets",
             "Cumulative count of packets received"),
            ("tx_packets", "container_network_transmit_packets",
             "Cumulative count of packets transmitted"))}
        self.gauges = {field: GaugeMetricFamily(name, about, labels=labels)
                       for field, name, about in (
            ("rss", "container_memory_rss", "Size of RSS in bytes (cgroup v2: anon)."),
            ("mem_limit", "container_spec_memory_limit_bytes", "Memory limit for the "
             "container (left out when it has none)."),
            ("at", "container_last_seen", "Last time a container was seen by the exporter"))}

    def add(self, key: list[str], t: Totals) -> None:
        self.cpu.add_metric([*key, "total"], t.cpu_seconds)
        for fields in (self.counters, self.gauges):
            for field, family in fields.items():
                value = getattr(t, field)
                if value is not None:
                    family.add_metric(key, value)

    def families(self) -> Iterator[Metric]:
        yield self.cpu
        yield from self.counters.values()
        yield from self.gauges.values()


async def serve(listen: str, collector: DaemonCollector) -> web.AppRunner:
    registry = CollectorRegistry()
    registry.register(collector)

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.add_routes([web.get("/metrics", metrics)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = listen.rpartition(":")
    await web.TCPSite(runner, host.strip("[]") or "127.0.0.1", int(port)).start()
    log.info("Prometheus endpoint listening", listen=listen)
    return runner
