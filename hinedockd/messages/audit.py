"""The jobs' audit trail (the local API's start, stop, restart, remove, exec and
download): on the messages side, so that the engine's adapters (docker/actions.py)
import nothing of it."""

from __future__ import annotations

import structlog

from hinedockd.messages.hub import SyslogHub
from hinedockd.model import Container

log = structlog.get_logger("hinedockd.jobs")


class JobAudit:
    """Every job to the journal and, as a `notice` from the host, to syslog: who (the
    caller's uid on the socket), what, on which container, and the result."""

    def __init__(self, hub: SyslogHub | None) -> None:
        self.hub = hub

    def __call__(self, facility_id: str, uid: int | None, what: str, c: Container,
                 result: str) -> None:
        log.info("job", host=facility_id, job=what, container=c.short_id, name=c.name,
                 result=result, uid=uid)
        if self.hub is not None:
            self.hub.emit_for_host(facility_id, f"job {what} id={c.short_id} name={c.name} "
                                                f"result={result} uid={uid}", "notice")
