"""What differs between the engines that serve the Docker API, in one place. Pure.

Chosen from `/version` at each connect, by engine and version: Podman names itself in
`Components` ("Podman Engine") and gives its own `Version`. Measured on Podman 4.3.1's
compat API (tests/data/*-podman4.3.*), against the container's own /sys/class/net
counters, and read in Podman's history for the versions after it:

- network: before 4.4, one `networks.network` entry with the host side's view of the
  veth, so received and sent are swapped (a container that downloaded 5.25 MB showed it
  as `tx_bytes`: containers/podman#16618, fixed in 4.4); packet counters always 0 before
  5.0, which reports per interface with packets (containers/podman#21534, "BREAKING:
  API: Container network statistics are now per-interface"). Seen on 5.4.2 (issue 28):
  `eth0 tx_bytes` of a server is what it sent, with `rx_packets`, `tx_packets`;
- memory: no `stats` map, only `usage` (metrics/sample.py reads it);
- stats streams: a sample every 5 s (docker/stats.py's watchdog follows the pace);
- events: `remove` instead of `destroy`, and `init`, `cleanup` (docker/inventory.py);
- `/top`: with no `ps_args` (compat default `-ef`), Podman runs `ps` inside the container
  (an `exec` and an `exec_died` event per call, in syslog) and answers one unsplit column;
  with `ps_args=pid,args`, descriptors its own process reader knows, it reads the
  container's processes from the host, runs nothing in the container and answers split
  columns `PID`, `COMMAND` (seen on 4.3.1: no event). Docker passes `ps_args` to the
  host's `ps`, where `pid,args` is not an option: its default stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hinedockd.metrics.sample import SampleError, parse_time


@dataclass(frozen=True)
class Dialect:
    name: str  # "docker" or "podman": said to the user where a figure is missing
    network_swapped: bool  # rx and tx reported from the host's side of the veth
    packets: bool  # packet counters given
    top_ps_args: str | None  # `ps_args` of `/containers/{id}/top`; None: the engine's default


DOCKER = Dialect("docker", network_swapped=False, packets=True, top_ps_args=None)
# Podman 4.3.1 as measured; later versions differ by the rules in `podman_dialect`.
PODMAN = Dialect("podman", network_swapped=True, packets=False, top_ps_args="pid,args")
UNSWAPPED_FROM = (4, 4)  # containers/podman#16618
PACKETS_FROM = (5, 0)  # containers/podman#21534


def version_tuple(text: str) -> tuple[int, ...] | None:
    """`5.4.2`, `4.9.4-rhel`, an API's `1.45` -> (5, 4, 2), (4, 9, 4), (1, 45); None if
    it starts with no number. An engine's text: at most 8 parts of 9 digits are read."""
    parts = []
    for piece in text.split(".", 8)[:8]:
        digits = ""
        for ch in piece[:9]:
            if not (ch.isascii() and ch.isdigit()):
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts) or None


def podman_dialect(version: tuple[int, ...] | None) -> Dialect:
    """Podman's dialect at `version`; an unknown version is taken as the oldest known
    (4.3), whose figures were measured."""
    v = version or (4, 3)
    return Dialect("podman", network_swapped=v < UNSWAPPED_FROM, packets=v >= PACKETS_FROM,
                   top_ps_args=PODMAN.top_ps_args)


def dialect_from_version(doc: Any) -> Dialect:
    """The engine behind a `/version` answer; Docker's unless it says otherwise."""
    components = doc.get("Components") if isinstance(doc, Mapping) else None
    for c in components if isinstance(components, list) else []:
        if isinstance(c, Mapping) and str(c.get("Name", "")).startswith("Podman"):
            return podman_dialect(version_tuple(str(c.get("Version") or doc.get("Version")
                                                    or "")))
    return DOCKER


@dataclass(frozen=True)
class EngineInfo:
    """What the daemon keeps of `/info`, read at each connect."""

    system_time_ns: int  # the engine's clock (SystemTime), 0 when not given
    mem_total: int  # bytes
    ncpu: int
    server_version: str


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def info_from_json(doc: Any) -> EngineInfo | None:
    """None when the answer is not an object; a field in a shape nobody gives reads
    as not known (0, ""), never as an error: an engine's answer is untrusted input,
    and a field the daemon only shows must not stop the host."""
    if not isinstance(doc, Mapping):
        return None
    clock = doc.get("SystemTime")
    try:
        ns = int(parse_time(clock) * 1e9) if isinstance(clock, str) else 0
    except SampleError:
        ns = 0
    version = doc.get("ServerVersion")
    return EngineInfo(system_time_ns=max(ns, 0), mem_total=_count(doc.get("MemTotal")),
                      ncpu=_count(doc.get("NCPU")),
                      server_version=version[:100] if isinstance(version, str) else "")
