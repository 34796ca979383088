"""`hinedockd`: the supervisor. Every part of the daemon is made and wired here, so
that reading `serve` shows the whole flow; `supervisor.py` runs the long-lived
components and stops the daemon when one dies."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import ssl
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import structlog

from hinedockd import __version__, persist
from hinedockd.api import LocalApi
from hinedockd.backoff import Backoff
from hinedockd.collector import keep_frozen
from hinedockd.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config
from hinedockd.docker.engine import raise_fd_limit, ssl_context
from hinedockd.docker.fleet import Fleet
from hinedockd.docker.host import Host
from hinedockd.docker.view import HostView
from hinedockd.hinemos.backend import Backend, HinemosError, HinemosUnavailable
from hinedockd.hinemos.claims import Claims
from hinedockd.hinemos.factory import make_backend, read_password
from hinedockd.hinemos.pusher import CustomTrapSender, trap_ssl_context
from hinedockd.hinemos.reconciler import Reconciler
from hinedockd.hinemos.sync import HostSync
from hinedockd.logs import configure
from hinedockd.messages.containerlogs import ContainerLogs, load_positions
from hinedockd.messages.hub import SyslogHub
from hinedockd.persist import Checkpointed, Persister
from hinedockd.queries import Queries
from hinedockd.redact import crosses_network_in_clear, has_password, redact
from hinedockd.snmp import SnmpSource
from hinedockd.supervisor import Supervisor

log = structlog.get_logger("hinedockd")
DRAIN_SECONDS = 3.0  # at a clean stop, queued syslog messages get this long to leave


def sd_notify(message: str) -> None:
    """systemd's notify protocol: one datagram to $NOTIFY_SOCKET (no-op without it)."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(message.encode(), addr)


def run(main: Coroutine[Any, Any, int]) -> int:
    """uvloop when installed: its C event loop halves the per-sample cost of the
    streams (bench/README.md); the standard loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def start_syncs(backend: Backend, syncs: Sequence[HostSync]) -> None:
    """Start the backend (the SOAP one reads the manager's WSDL), retrying while the
    manager is away, then run one sync loop per host."""
    backoff = Backoff(1.0, 60.0)
    while True:
        try:
            await backend.start()
            break
        except (HinemosError, HinemosUnavailable) as e:
            log.warning("hinemos backend not ready, retrying", backend=backend.name,
                        error=str(e))
            await asyncio.sleep(backoff.next())
    async with asyncio.TaskGroup() as tg:
        for sync in syncs:
            tg.create_task(sync.run())


async def watchdog(hosts: Sequence[HostView]) -> None:
    """systemd's watchdog (WatchdogSec=): ping from the event loop itself, so that a
    stuck loop is noticed; the status line says how the hosts are doing."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    every = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else 10.0
    while True:
        connected = sum(h.status.connected for h in hosts)
        streams = sum(h.streams_open() for h in hosts)
        sd_notify(f"WATCHDOG=1\nSTATUS={connected}/{len(hosts)} hosts connected, "
                  f"{streams} stats streams")
        await asyncio.sleep(every)


async def serve(cfg: Config) -> int:
    """Runs the daemon until SIGTERM/SIGINT (0) or until a component dies (1)."""
    state_dir = cfg.daemon.state_dir
    Path(state_dir).mkdir(parents=True, exist_ok=True)

    # The parts.
    saved = {h.facility_id: persist.load(state_dir, h.facility_id) for h in cfg.hosts}
    fleet = Fleet(len(cfg.hosts))  # what the hosts share: staggered rounds, caps
    hosts = [Host(h, cfg.daemon, saved=saved[h.facility_id], fleet=fleet, place=i)
             for i, h in enumerate(cfg.hosts)]
    hub = SyslogHub(cfg, hosts)
    logs = ContainerLogs(cfg, hub, hosts, {
        h.facility_id: load_positions(persist.logs_file(state_dir, h.facility_id))
        for h in cfg.hosts}, origins={fid: s.cursor_ns for fid, s in saved.items()})
    backend = make_backend(cfg.hinemos)
    reconciler = Reconciler(backend, cfg.hinemos,
                            claims=Claims(Path(state_dir) / "hinemos-claims.json"))
    syncs = {h.host.facility_id: HostSync(h, reconciler, cfg.hinemos.full_sync_seconds)
             for h in hosts}
    snmp = {h.facility_id: SnmpSource(h, h.snmp, cfg.daemon.retention_seconds)
            for h in cfg.hosts if h.snmp is not None}
    files: dict[Path, Checkpointed] = {}
    for h in hosts:
        files[persist.state_file(state_dir, h.host.facility_id)] = h
        files[persist.logs_file(state_dir, h.host.facility_id)] = \
            logs.hosts[h.host.facility_id]
    persister = Persister(files, outbox=hub)
    trap = cfg.hinemos.customtrap
    pusher = (CustomTrapSender(cfg.hinemos, trap, hosts, reconciler.node_exists, snmp)
              if trap else None)

    # The flow. A host's events stream feeds its inventory and its stats streams feed
    # its series (docker/host.py); what changes is told to its observers:
    #   every engine event and container state change -> the syslog hub -> targets, journal
    #   every container change and reconnect -> the host's Hinemos sync -> reconciler
    #   every container change -> container logs: a log stream per selected running
    #   container -> its lines -> the syslog hub
    #   every container state change and engine event (and, each interval, every
    #   figure of the nodes the sync has made) -> the custom trap sender -> the
    #   manager's custom trap monitoring, when configured
    for h in hosts:
        h.subscribe(hub)
        h.subscribe(syncs[h.host.facility_id])
        h.subscribe(logs)
        if pusher is not None:
            h.subscribe(pusher)
    # The series, the inventory, SNMP and the event history are read on demand:
    #   hinedock -> local API -> queries (over each HostView) -> monitors -> lines
    queries = Queries(cfg.daemon, snmp, hub)
    api = LocalApi(cfg, hosts, queries, hub, syncs, pusher, logs)
    await api.start()
    metrics_runner = None
    if cfg.daemon.prometheus:
        from hinedockd import prometheus
        metrics_runner = await prometheus.serve(cfg.daemon.prometheus, prometheus.DaemonCollector(
            hosts, hub, cfg.daemon.default_window_seconds, cfg.daemon.cpu_scale))

    supervisor = Supervisor()
    for h in hosts:
        supervisor.start(f"host:{h.host.facility_id}", h.run())
    supervisor.start("hinemos", start_syncs(backend, list(syncs.values())))
    for facility_id, source in snmp.items():
        supervisor.start(f"snmp:{facility_id}", source.run())
    supervisor.start("persist", persister.run())
    supervisor.start("watchdog", watchdog(hosts))
    supervisor.start("gc", keep_frozen())  # full collections held the loop 70-190 ms
    supervisor.start("syslog", hub.run())
    supervisor.start("logs", logs.run())
    if pusher is not None:
        supervisor.start("customtrap", pusher.run())

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("hinedockd started", version=__version__, config=cfg.path,
             hosts=[h.facility_id for h in cfg.hosts])
    sd_notify(f"READY=1\nSTATUS=watching {len(hosts)} host(s)")
    died = None
    try:
        died = await supervisor.wait(stop)
    finally:
        sd_notify("STOPPING=1")
        log.info("hinedockd stopping", because=f"{died} died" if died else "asked to")
        # No new messages from here on; the queued ones get a moment to leave, and
        # only then are the cursors saved past them.
        await supervisor.stop("host:", "logs", "hinemos", "snmp:", "persist", "watchdog")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_SECONDS):
                await hub.drain()
        await supervisor.stop()
        persister.save_now()
        await api.stop()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        await backend.close()
    return 1 if died else 0


def check_tls(cfg: Config) -> None:
    """Build each TLS context now: a certificate that does not load is a config error
    naming its table, not a host that fails after --check-config said OK."""
    for i, host in enumerate(cfg.hosts):
        try:
            ssl_context(host)
        except (ssl.SSLError, OSError, ValueError) as e:
            raise ConfigError(f"{cfg.path}: hosts[{i}].tls_ca/tls_cert/tls_key: cannot load: "
                              f"{e}") from None
    trap = cfg.hinemos.customtrap
    if trap is not None and trap.tls_ca:
        try:
            trap_ssl_context(trap)
        except (ssl.SSLError, OSError, ValueError) as e:
            raise ConfigError(f"{cfg.path}: hinemos.customtrap.tls_ca: cannot load "
                              f"{trap.tls_ca}: {e}") from None


def permission_warnings(cfg: Config) -> list[str]:
    """A config readable by everyone, or a password file readable by more than its
    owner and group, is worth a word (not a refusal: the operator decides)."""
    out = []
    with contextlib.suppress(OSError):
        if os.stat(cfg.path).st_mode & 0o004:
            out.append(f"{cfg.path} is readable by every user (chmod o-r)")
    if cfg.hinemos.api != "dry-run" and cfg.hinemos.password_file:
        with contextlib.suppress(OSError):
            if os.stat(cfg.hinemos.password_file).st_mode & 0o007:
                out.append(f"{cfg.hinemos.password_file} is readable by other users "
                           "(chmod 0640, owner root, group hinedockd)")
    if cfg.hinemos.api != "dry-run" and crosses_network_in_clear(cfg.hinemos.url):
        out.append(f"[hinemos] url {redact(cfg.hinemos.url)} is plain http: the manager's "
                   "password crosses the network readable (https:// where the manager has it)")
    trap = cfg.hinemos.customtrap
    if trap is not None and crosses_network_in_clear(trap.url) and has_password(trap.url):
        out.append(f"[hinemos.customtrap] url {redact(trap.url)} carries a password over "
                   "plain http")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hinedockd", description=__doc__)
    p.add_argument("--config", default=DEFAULT_CONFIG_PATH, help="config file (TOML)")
    p.add_argument("--check-config", action="store_true",
                   help="validate the config and exit 0 (valid) or 1")
    p.add_argument("--version", action="version", version=__version__)
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config)
        check_tls(cfg)
        if cfg.hinemos.api != "dry-run":
            read_password(cfg.hinemos)  # a missing password is a config error, up front
    except ConfigError as e:
        print(f"hinedockd: {e}", file=sys.stderr)
        return 1
    for warning in permission_warnings(cfg):
        print(f"hinedockd: warning: {warning}", file=sys.stderr)
    if args.check_config:
        hosts = ", ".join(f"{h.facility_id} ({redact(h.url)})" for h in cfg.hosts)
        print(f"{cfg.path}: OK; hosts: {hosts}; hinemos: {cfg.hinemos.api}; "
              f"socket: {cfg.daemon.socket}")
        return 0
    configure(cfg.daemon.log_format, target=cfg.daemon.log_target)
    raise_fd_limit()
    try:
        return run(serve(cfg))
    except OSError as e:
        log.error("cannot start", error=str(e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
