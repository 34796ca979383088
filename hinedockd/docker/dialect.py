"""What differs between the engines that serve the Docker API, in one place. Pure.

Chosen from `/version` at each connect: Podman names itself in `Components`
("Podman Engine"). Measured on Podman 4.3.1's compat API (tests/data/*-podman4.3.*),
against the container's own /sys/class/net counters:

- network: one `networks.network` entry with the host side's view of the veth, so
  received and sent are swapped (a container that downloaded 5.25 MB showed it as
  `tx_bytes`), and the packet counters are always 0: not given, not zero;
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


@dataclass(frozen=True)
class Dialect:
    name: str  # "docker" or "podman": said to the user where a figure is missing
    network_swapped: bool  # rx and tx reported from the host's side of the veth
    packets: bool  # packet counters given
    top_ps_args: str | None  # `ps_args` of `/containers/{id}/top`; None: the engine's default


DOCKER = Dialect("docker", network_swapped=False, packets=True, top_ps_args=None)
# Measured on 4.3.1 only; applied to every Podman until another version is measured.
PODMAN = Dialect("podman", network_swapped=True, packets=False,
                 top_ps_args="pid,args")


def dialect_from_version(doc: Any) -> Dialect:
    """The engine behind a `/version` answer; Docker's unless it says otherwise."""
    components = doc.get("Components") if isinstance(doc, Mapping) else None
    for c in components if isinstance(components, list) else []:
        if isinstance(c, Mapping) and str(c.get("Name", "")).startswith("Podman"):
            return PODMAN
    return DOCKER
