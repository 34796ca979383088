"""From the hosts' events and state changes to syslog targets and the journal.

- every Docker event: one message, HOSTNAME = the host's facility ID (its node name);
- every container state change: `<id12> <state>`, HOSTNAME = the 12-char ID (the
  container node's node name), as the report's MonitorDockerContainerStatus did;
- optionally, every `state_report_seconds`, the state of every container (the
  report's cron job);
- every Docker event also in the journal, with its fields.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import structlog

from hinedockd.config import Config, HostConfig
from hinedockd.docker.lifecycle import Alert, HealthExecs
from hinedockd.docker.view import HostObserver, HostView
from hinedockd.messages.framing import (
    STATE_SEVERITY,
    alert_text,
    event_severity,
    event_text,
    is_syslog_hostname,
    rfc3164,
    rfc5424,
    sanitize,
    state_text,
)
from hinedockd.messages.history import EventHistory, Recorded
from hinedockd.messages.senders import Sink, SinkSnapshot, make_sink
from hinedockd.model import EngineEvent

log = structlog.get_logger("hinedockd.events")
HISTORY = 10_000  # events kept per host for MonitorDockerHostEvent.py


def host_syslog_name(host: HostConfig) -> str:
    """The HOSTNAME for a host's events: its facility ID, which is its node's node name,
    when Hinemos would recognise it as a host name; else its address (matched by IP)."""
    if is_syslog_hostname(host.facility_id):
        return host.facility_id
    log.warning("facility ID is not usable as a syslog HOSTNAME (Hinemos accepts letters, "
                "digits, _ / - only, and cuts at a dot); using the address",
                host=host.facility_id, address=host.address)
    return host.address


class SyslogHub(HostObserver):
    """Observes the hosts (`engine_event`, `state_reported`); `hosts` are the ones
    whose states the periodic report lists."""

    def __init__(self, cfg: Config, hosts: Sequence[HostView] = ()) -> None:
        self.cfg = cfg
        self.sinks: list[Sink] = [make_sink(t) for t in cfg.syslog]
        self.hostnames = {h.facility_id: host_syslog_name(h) for h in cfg.hosts}
        # Recent events per host, for the report's MonitorDockerHostEvent.py -k KEY.
        self.history = {h.facility_id: EventHistory(HISTORY) for h in cfg.hosts}
        self.hosts = hosts
        self.health_execs = HealthExecs()

    def emit_for_host(self, facility_id: str, text: str, severity: str) -> None:
        """A message of the daemon's own about a host (a job's audit line)."""
        self.emit(self.hostnames[facility_id], text, severity)

    def emit(self, hostname: str, text: str, severity: str, when: float | None = None,
             event: tuple[str, str] | None = None) -> None:
        """To every target; an engine's `event` (type, action) only to those that take it."""
        for sink in self.sinks:
            t = sink.target
            if event is not None and not t.wants(*event):
                continue
            frame = rfc5424 if t.format == "rfc5424" else rfc3164
            sink.submit(frame(hostname, text, when=when, facility=t.facility,
                              severity=severity, limit=t.max_message_bytes))

    def emit_log(self, hostname: str, text: str, severity: str, when: float, tag: str) -> int:
        """A container's own line (messages/containerlogs.py), to the targets that take
        them, in at most half of each one's queue; how many took it."""
        took = 0
        for sink in self.sinks:
            t = sink.target
            if t.logs:
                frame = rfc5424 if t.format == "rfc5424" else rfc3164
                took += sink.submit(frame(hostname, text, when=when, facility=t.facility,
                                          severity=severity, tag=tag,
                                          limit=t.max_message_bytes), bulk=True)
        return took

    def log_max_bytes(self) -> int:
        """The longest message a target takes: a joined record is not let grow past it."""
        return max((s.target.max_message_bytes for s in self.sinks if s.target.logs),
                   default=2048)

    def container_alert(self, host: HostView, alert: Alert) -> None:
        """HOSTNAME = the container's 12-char ID (its node's node name), as its states."""
        details: tuple[tuple[str, str | int], ...] = ()
        if alert.kind == "oom_killed":
            details = (("exit_code", alert.exit_code),)
        elif alert.kind == "restart_loop":
            details = (("restarts", alert.restarts), ("window", f"{alert.window:.0f}s"))
        short = alert.container_id[:12]
        self.emit(short, alert_text(short, alert.kind, alert.name, details), alert.severity)

    def engine_event(self, host: HostView, ev: EngineEvent) -> None:
        facility_id = host.host.facility_id
        if (not self.cfg.daemon.health_check_events and ev.type == "container"
                and ev.action.startswith("exec_") and self.health_execs.is_check(
                    ev.action, ev.attributes, host.health_command(ev.actor_id))):
            return  # a health check's exec: noise, not news
        text = event_text(ev.type, ev.action, ev.actor_id, dict(ev.attributes))
        when = ev.time_nano / 1e9
        severity = event_severity(ev.action)
        self.history[facility_id].append(ev.time_nano, text, severity)
        self.emit(self.hostnames[facility_id], text, severity, when, (ev.type, ev.action))
        log.info("docker event", host=facility_id, type=sanitize(ev.type, 32),
                 action=sanitize(ev.action, 128), actor=ev.actor_id[:64], time_nano=ev.time_nano,
                 attributes={sanitize(k, 64): sanitize(v) for k, v in ev.attributes.items()})

    def state_reported(self, host: HostView, cid: str, name: str, state: str) -> None:
        short = cid[:12]
        self.emit(short, state_text(short, state), STATE_SEVERITY)
        log.info("container state", host=host.host.facility_id, container=short,
                 name=sanitize(name), state=state)

    def marks(self) -> tuple[int, ...]:
        return tuple(s.accepted for s in self.sinks)

    def sent(self) -> tuple[int, ...]:
        return tuple(s.sent for s in self.sinks)

    async def drain(self) -> None:
        """Until every queued message has been sent (bound it with a timeout): on a
        clean stop, queued messages leave before the cursor is saved past them."""
        for sink in self.sinks:
            await sink.queue.join()

    def events_since(self, facility_id: str, cursor: int | None,
                     default_ns: int) -> tuple[list[Recorded], int]:
        """A host's events after `cursor` (see EventHistory.since)."""
        return self.history[facility_id].since(cursor, default_ns)

    async def run(self) -> None:
        """Runs until cancelled. With no target and no periodic report there is
        nothing to do, which is not an end (the supervisor takes an end for a death)."""
        every = self.cfg.daemon.state_report_seconds
        async with asyncio.TaskGroup() as tg:
            for sink in self.sinks:
                tg.create_task(sink.run(), name=f"syslog:{sink.target.target}")
            if every > 0:
                tg.create_task(self._state_reports(every))
            if not self.sinks and every <= 0:
                tg.create_task(asyncio.Event().wait())

    async def _state_reports(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            for h in self.hosts:
                if not h.status.connected:
                    continue  # the last known states would be reported as current
                for c in sorted(h.containers.values(), key=lambda c: c.name):
                    self.emit(c.short_id, state_text(c.short_id, c.state), STATE_SEVERITY,
                              time.time())

    def snapshot(self) -> list[SinkSnapshot]:
        return [s.snapshot() for s in self.sinks]
