"""`hinedockd`: the supervisor. One event loop, one task per host, the local API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import structlog

from hinedockd import __version__, state
from hinedockd.api import LocalApi
from hinedockd.backoff import Backoff
from hinedockd.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config
from hinedockd.docker.host import HostWatcher
from hinedockd.hinemos.backend import Backend, HinemosError, HinemosUnavailable
from hinedockd.hinemos.backends import make_backend, read_password
from hinedockd.hinemos.claims import Claims
from hinedockd.hinemos.reconciler import Reconciler
from hinedockd.hinemos.sync import HostSync
from hinedockd.logs import configure
from hinedockd.messages.hub import SyslogHub
from hinedockd.snmp import SnmpSource

log = structlog.get_logger("hinedockd")


def sd_notify(message: str) -> None:
    """systemd's notify protocol: one datagram to $NOTIFY_SOCKET (no-op without it)."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(message.encode(), addr)


def run(main: Coroutine[Any, Any, None]) -> None:
    """uvloop when installed: its C event loop halves the per-sample cost of the
    streams (bench/README.md); the standard loop otherwise."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def raise_fd_limit() -> None:
    """One stats stream is one connection: hundreds of containers need more than the
    usual soft limit of 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Persister:
    """Saves each host's cursor and reported states when they change, at most every
    second, and only once the syslog messages they account for have left (see
    `state.Checkpoints`): after a crash, what was queued is replayed from the engine
    (`since=`), never lost; what was sent in the last second may be sent again."""

    def __init__(self, watchers: list[HostWatcher], state_dir: str, hub: SyslogHub) -> None:
        self.watchers, self.state_dir, self.hub = watchers, state_dir, hub
        self.checkpoints = {w.host.facility_id: state.Checkpoints() for w in watchers}

    def _save(self, w: HostWatcher, saved: state.HostState) -> None:
        try:
            state.save(self.state_dir, w.host.facility_id, saved)
        except OSError as e:
            w.dirty = True  # try again with the next checkpoint
            log.error("cannot save state", host=w.host.facility_id, error=str(e))

    def _settled(self, take: bool = True) -> list[tuple[HostWatcher, state.HostState]]:
        """Checkpoints that may be saved now; with `take`, first a new one per changed host."""
        sent, out = self.hub.sent(), []
        for w in self.watchers:
            points = self.checkpoints[w.host.facility_id]
            if take and w.dirty:
                points.add(w.saved_state(), self.hub.marks())
            saved = points.take_settled(sent)
            if saved is not None:
                out.append((w, saved))
        return out

    async def run(self, every: float = 1.0, poll: float = 0.05) -> None:
        """A checkpoint every `every` seconds; while one waits for its messages, a look
        every `poll` seconds, so that it is saved as soon as they have left."""
        loop = asyncio.get_running_loop()
        next_take = loop.time() + every
        while True:
            waiting = any(p.pending for p in self.checkpoints.values())
            await asyncio.sleep(poll if waiting else max(0.0, next_take - loop.time()))
            take = loop.time() >= next_take
            if take:
                next_take = loop.time() + every
            for w, saved in self._settled(take):
                await asyncio.to_thread(self._save, w, saved)

    def save_now(self) -> None:
        """At a clean stop, after the hub has drained what it could."""
        for w, saved in self._settled():
            self._save(w, saved)


async def start_syncs(backend: Backend, syncs: list[HostSync]) -> None:
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


async def watchdog(watchers: list[HostWatcher]) -> None:
    """systemd's watchdog (WatchdogSec=): ping from the event loop itself, so that a
    stuck loop is noticed; the status line says how the hosts are doing."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    every = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else 10.0
    while True:
        connected = sum(w.status.connected for w in watchers)
        streams = sum(len(w.pumps) for w in watchers)
        sd_notify(f"WATCHDOG=1\nSTATUS={connected}/{len(watchers)} hosts connected, "
                  f"{streams} stats streams")
        await asyncio.sleep(every)


async def serve(cfg: Config) -> None:
    state_dir = cfg.daemon.state_dir
    Path(state_dir).mkdir(parents=True, exist_ok=True)
    watchers = [HostWatcher(h, cfg.daemon, saved=state.load(state_dir, h.facility_id))
                for h in cfg.hosts]
    hub = SyslogHub(cfg)
    for w in watchers:
        hub.attach(w)
    backend = make_backend(cfg.hinemos)
    reconciler = Reconciler(backend, cfg.hinemos,
                            claims=Claims(Path(state_dir) / "hinemos-claims.json"))
    syncs = {w.host.facility_id: HostSync(w, reconciler, cfg.hinemos.full_sync_seconds)
             for w in watchers}
    snmp = {h.facility_id: SnmpSource(h, h.snmp, cfg.daemon.retention_seconds)
            for h in cfg.hosts if h.snmp is not None}
    api = LocalApi(cfg, watchers, hub, syncs, snmp)
    await api.start()
    metrics_runner = None
    if cfg.daemon.prometheus:
        from hinedockd import prometheus
        metrics_runner = await prometheus.serve(cfg.daemon.prometheus, prometheus.DaemonCollector(
            watchers, hub, cfg.daemon.default_window_seconds, cfg.daemon.cpu_scale))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(w.run(), name=f"host:{w.host.facility_id}") for w in watchers]
    hub_task = asyncio.create_task(hub.run(), name="syslog")
    persister = Persister(watchers, state_dir, hub)
    tasks.append(asyncio.create_task(start_syncs(backend, list(syncs.values())), name="hinemos"))
    tasks.append(asyncio.create_task(persister.run(), name="persist"))
    tasks += [asyncio.create_task(source.run(), name=f"snmp:{hid}") for hid, source in snmp.items()]
    tasks.append(asyncio.create_task(watchdog(watchers), name="watchdog"))
    log.info("hinedockd started", version=__version__, config=cfg.path,
             hosts=[h.facility_id for h in cfg.hosts])
    sd_notify(f"READY=1\nSTATUS=watching {len(watchers)} host(s)")
    try:
        await stop.wait()
    finally:
        sd_notify("STOPPING=1")
        log.info("hinedockd stopping")
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):  # no new messages now: let queued ones leave
            async with asyncio.timeout(3.0):
                await hub.drain()
        hub_task.cancel()
        await asyncio.gather(hub_task, return_exceptions=True)
        persister.save_now()
        await api.stop()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        await backend.close()


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
        if cfg.hinemos.api != "dry-run":
            read_password(cfg.hinemos)  # a missing password is a config error, up front
    except ConfigError as e:
        print(f"hinedockd: {e}", file=sys.stderr)
        return 1
    for warning in permission_warnings(cfg):
        print(f"hinedockd: warning: {warning}", file=sys.stderr)
    if args.check_config:
        hosts = ", ".join(f"{h.facility_id} ({h.url})" for h in cfg.hosts)
        print(f"{cfg.path}: OK; hosts: {hosts}; hinemos: {cfg.hinemos.api}; "
              f"socket: {cfg.daemon.socket}")
        return 0
    configure(cfg.daemon.log_format, target=cfg.daemon.log_target)
    raise_fd_limit()
    try:
        run(serve(cfg))
    except OSError as e:
        log.error("cannot start", error=str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
