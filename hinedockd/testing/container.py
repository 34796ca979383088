"""One container of the fake engine: its state, labels, output, and the shapes a real
engine gives of it (list item, inspect, a log line)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


def iso_ns(ns: int) -> str:
    """An engine time (ns since the epoch) as the engine writes it: RFC 3339, nanoseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def iso(t: float) -> str:
    """`iso_ns` of a wall-clock time in seconds."""
    return iso_ns(int(t * 1e9))


@dataclass
class FakeContainer:
    id: str
    name: str
    state: str = "running"
    labels: dict[str, str] = field(default_factory=dict)
    image: str = "localbusybox:latest"
    cpu_rate: float = 0.25  # cores busy
    io_rate: int = 1000  # bytes/s written, received
    started: float = field(default_factory=time.time)
    tty: bool = False
    # Its own output, as the engine keeps it: (time ns, stream, text); the lines before
    # `log_kept_from` are rotated away (no longer kept).
    log: list[tuple[int, int, str]] = field(default_factory=list)
    log_kept_from: int = 0
    log_driver: str = "json-file"  # "none": nothing to read (501, Docker's wording)

    def list_item(self) -> dict[str, Any]:
        return {"Id": self.id, "Names": [f"/{self.name}"], "Image": self.image,
                "Command": "sh -c 'httpd -f -p 8080'", "Created": int(self.started),
                "Ports": [], "Labels": dict(self.labels), "State": self.state,
                "Status": "Up 1 second" if self.state == "running" else "Exited (0) 1 second ago",
                "SizeRw": 6}

    def inspect(self) -> dict[str, Any]:
        """`GET /containers/{id}/json`, the part the daemon reads, shaped as Docker
        20.10 answered (tests/data/inspect-lifecycle.json)."""
        running = self.state in ("running", "paused")
        return {"Id": self.id, "Name": f"/{self.name}", "RestartCount": 0,
                "State": {"Status": self.state, "Running": running,
                          "Paused": self.state == "paused", "OOMKilled": False,
                          "ExitCode": 0, "StartedAt": iso(self.started),
                          "FinishedAt": "0001-01-01T00:00:00Z" if running else iso(self.started)},
                "Config": {"Image": self.image, "Labels": dict(self.labels), "Tty": self.tty},
                "HostConfig": {"LogConfig": {"Type": self.log_driver, "Config": {}}}}

    def log_entry(self, i: int) -> bytes:
        """Line `i` as Docker 20.10 sends it (tests/data/logs-*docker20.10.bin): a frame of
        `<RFC 3339 nanoseconds> <text>\\n`, or the raw bytes ending `\\r\\n` with a TTY."""
        ts, stream, text = self.log[i]
        body = f"{iso_ns(ts)} {text}".encode()
        if self.tty:
            return body + b"\r\n"
        body += b"\n"
        return bytes([stream, 0, 0, 0]) + len(body).to_bytes(4, "big") + body
