"""Host figures over SNMP (pysnmp, v1 or v2c), polled on an interval, never blocking.

UCD-SNMP-MIB: memory in kB (memTotalReal, memAvailReal = MemFree, memBuffer,
memCached; all Integer32, so v1 can carry them: memSysAvail is a Counter64 and one
Counter64 fails a whole v1 request, so it is not asked) and the raw CPU tick
counters (ssCpuRaw*, Counter32) for the same series machinery as the containers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    get_cmd,
)

from hinedockd.answers import HostFigures, HostMemoryFigures
from hinedockd.config import HostConfig, SnmpConfig
from hinedockd.metrics.hostcpu import HostCpuSeries

log = structlog.get_logger("hinedockd.snmp")
UCD = "1.3.6.1.4.1.2021"
MEMORY = {"total_kb": f"{UCD}.4.5.0", "free_kb": f"{UCD}.4.6.0", "buffers_kb": f"{UCD}.4.14.0",
          "cached_kb": f"{UCD}.4.15.0"}
CPU = {"user": f"{UCD}.11.50.0", "nice": f"{UCD}.11.51.0", "system": f"{UCD}.11.52.0",
       "idle": f"{UCD}.11.53.0", "wait": f"{UCD}.11.54.0", "steal": f"{UCD}.11.64.0"}


class SnmpError(Exception):
    pass


@dataclass
class HostMemory:
    total: int  # bytes
    free: int
    buffers: int
    cached: int
    at: float

    @property
    def used(self) -> int:
        """As `free` reports it: neither free nor buffers nor cache (net-snmp's memCached
        on Linux is Cached + SReclaimable)."""
        return max(0, self.total - self.free - self.buffers - self.cached)


class SnmpSource:
    """One host's agent, asked every `poll_seconds`."""

    def __init__(self, host: HostConfig, cfg: SnmpConfig, retention: float,
                 engine: SnmpEngine | None = None) -> None:
        self.host, self.cfg = host, cfg
        self.engine = engine or SnmpEngine()
        self.cpu = HostCpuSeries(retention)
        self.memory: HostMemory | None = None
        self.last_error = ""
        self.last_ok_at = 0.0
        self.polls = 0

    async def poll_once(self) -> None:
        oids = [*MEMORY.values(), *CPU.values()]
        try:
            target = await UdpTransportTarget.create((self.host.address, self.cfg.port),
                                                     timeout=self.cfg.timeout_seconds,
                                                     retries=self.cfg.retries)
            error, status, index, binds = await get_cmd(
                self.engine, CommunityData(self.cfg.community,
                                           mpModel=0 if self.cfg.version == "1" else 1),
                target, ContextData(), *(ObjectType(ObjectIdentity(o)) for o in oids))
        except PySnmpError as e:  # e.g. an address that does not resolve
            raise SnmpError(f"{self.host.facility_id}: SNMP v{self.cfg.version} "
                            f"{self.host.address}:{self.cfg.port}: {e}") from e
        if error:
            raise SnmpError(f"{self.host.facility_id}: SNMP v{self.cfg.version} "
                            f"{self.host.address}:{self.cfg.port}: {error} (agent down, "
                            "or a wrong community?)")
        if status:
            raise SnmpError(f"{self.host.facility_id}: SNMP error {status.prettyPrint()} at "
                            f"{oids[int(index) - 1] if index else '?'}")
        values = {str(name).lstrip("."): value for name, value in binds}
        now = time.time()
        try:
            mem = {k: int(values[o]) * 1024 for k, o in MEMORY.items()}
            cpu = {k: int(values[o]) for k, o in CPU.items()}
        except (KeyError, ValueError, TypeError) as e:
            raise SnmpError(f"{self.host.facility_id}: SNMP answer without UCD-SNMP-MIB "
                            f"figures ({e}); is net-snmp's agent running there?") from None
        self.memory = HostMemory(mem["total_kb"], mem["free_kb"], mem["buffers_kb"],
                                 mem["cached_kb"], now)
        busy = cpu["user"] + cpu["nice"] + cpu["system"] + cpu["steal"]
        self.cpu.push(now, busy, busy + cpu["idle"] + cpu["wait"])

    async def run(self) -> None:
        while True:
            self.polls += 1
            try:
                await self.poll_once()
                if self.last_error:
                    log.info("SNMP answering again", host=self.host.facility_id)
                self.last_error, self.last_ok_at = "", time.time()
            except SnmpError as e:
                if str(e) != self.last_error:
                    log.warning("SNMP poll failed", host=self.host.facility_id, error=str(e))
                self.last_error = str(e)
            await asyncio.sleep(self.cfg.poll_seconds)

    def figures(self, window: float, now: float) -> HostFigures:
        """The host's CPU percent over the window and its memory, or why not."""
        error = self.last_error or None
        stale = not self.last_ok_at or now - self.last_ok_at > 3 * self.cfg.poll_seconds + 10
        if stale and not self.last_error:
            error = f"{self.host.facility_id}: no SNMP answer yet"
        cpu = self.cpu.percent(window, now)
        m = self.memory
        memory = None if m is None else HostMemoryFigures(
            total=m.total, used=m.used, free=m.free, buffers=m.buffers, cached=m.cached)
        if error is None and cpu is None:
            error = (f"{self.host.facility_id}: host CPU needs two SNMP samples; "
                     f"the next comes within {self.cfg.poll_seconds:g} s")
        return HostFigures(error=error, cpu_percent=cpu[0] if cpu else None,
                           cpu_seconds=cpu[1] if cpu else None, memory=memory)
