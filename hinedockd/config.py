"""Configuration: TOML file -> frozen dataclasses.

Every error names the file, the key (as a dotted path) and the problem, so an
operator can fix a config without reading code.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args

from hinedockd.messages.framing import FACILITIES, SEVERITIES
from hinedockd.model import FACILITY_ID_MAX, FACILITY_ID_RE, CpuScale
from hinedockd.processes import compile_pattern

DEFAULT_CONFIG_PATH = "/etc/hinedockd/config.toml"
SOCKET_ENV = "HINEDOCK_SOCKET"
STATE_DIR_ENV = "HINEDOCK_STATE_DIR"
LogFormat = Literal["json", "console"]
LogTarget = Literal["auto", "journal", "stdout"]
StatsMode = Literal["stream", "poll"]
SnmpVersion = Literal["1", "2c"]
HinemosApi = Literal["dry-run", "soap", "rest"]
SyslogFormat = Literal["rfc3164", "rfc5424"]
TcpFraming = Literal["octet-counting", "lf"]


class ConfigError(Exception):
    """A config problem, already phrased for the operator."""


@dataclass(frozen=True)
class DaemonConfig:
    socket: str = "/run/hinedockd/hinedockd.sock"
    socket_group: str | None = None
    state_dir: str = "/var/lib/hinedockd"
    retention_seconds: int = 900
    default_window_seconds: int = 60
    cpu_scale: CpuScale = "host"  # "host": % of the whole host (0-100); "core": % of one core
    size_cache_seconds: int = 300
    stats_silence_seconds: float = 3.0
    relist_seconds: int = 60  # full container re-list, a safety net beside the events
    state_report_seconds: int = 0  # every container's state to syslog this often; 0 = off
    log_format: LogFormat = "json"  # when not writing to the journal
    prometheus: str = ""  # "host:port" for a /metrics endpoint; "" = off
    log_target: LogTarget = "auto"  # "journal" (native fields); "auto": journal under systemd
    job_groups: tuple[str, ...] = ()  # besides root, who may run jobs (readers may not)
    # The local API's connections (gate.py): readers' in all and each uid's (root has an
    # allowance of its own), and how long a connection may take to send its headers.
    max_connections: int = 1024
    max_connections_per_user: int = 128
    request_header_seconds: float = 5.0
    # Docker runs each health check as an exec and tells it as events (exec_create,
    # exec_start, exec_die) every interval: kept out of syslog and the event history
    # unless this is true (the check's result is told as health_status either way).
    health_check_events: bool = False
    restart_loop_count: int = 5  # this many restarts of one container within
    restart_loop_seconds: int = 300  # this many seconds are a restart loop (a warning)


@dataclass(frozen=True)
class SnmpConfig:
    version: SnmpVersion = "2c"
    community: str = "public"
    port: int = 161
    poll_seconds: float = 10.0
    timeout_seconds: float = 2.0
    retries: int = 1


@dataclass(frozen=True)
class HostConfig:
    facility_id: str
    url: str
    address: str
    stats: StatsMode = "poll"  # the engine's cost is per sample: bench/README.md §7, §8
    # Unset in the file: [daemon] default_window_seconds (one sample per window).
    poll_interval_seconds: float = 60.0
    # Docker 20.10 holds each one-shot answer until its stats collector's next tick
    # (about 1 s) and serves every waiting request in that tick: 101 containers take
    # 13.3 s a round 8 at once, 2.2 s 64 at once, 1.2 s all at once (bench/README.md §8).
    poll_concurrency: int = 64
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_verify: bool = True
    snmp: SnmpConfig | None = None

    @property
    def port(self) -> int | None:
        """The TCP port of the engine URL, matched by the report's `-p`."""
        m = re.match(r"^(?:tcp|https?)://[^/:]+:(\d+)", self.url)
        return int(m.group(1)) if m else None


# The figures a push can carry (hinemos/customtrap.py), and the ones sent by default.
# A container node's keys: the report's names (its monitors' keys less the `:<id>`),
# `limit_mem_usage` for the share of the container's own limit, `cpu_usage#*` for one
# item per core (`cpu_usage#0`, `cpu_usage#1`…; cgroup v1 only), and the lifecycle.
TRAP_KEYS = ("cpu_usage", "cpu_usage#*", "host_mem_usage", "limit_mem_usage", "disk_read",
             "disk_write", "nw_rxkb", "nw_txkb", "nw_rxpck", "nw_txpck",
             "health", "restart_count", "oom_killed", "exit_code", "uptime")
TRAP_DEFAULT_KEYS = tuple(k for k in TRAP_KEYS if k != "cpu_usage#*")
# A host node's keys: whether the engine answers (1/0, sent even when it does not),
# its containers per state (the report's host count keys), and with [hosts.snmp] the
# host's CPU and memory outside its containers (the report's `cpu_usage:host`,
# `host_mem_usage:host`).
TRAP_HOST_KEYS = ("engine_status", "running", "paused", "exited", "created", "restarting",
                  "removing", "dead", "cpu_usage", "host_mem_usage")
# A process count's KEY: what a monitor's key pattern can match, never a figure's name.
TRAP_PROCESS_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class CustomTrapConfig:
    """`[hinemos.customtrap]`: push figures and state changes to the manager's custom
    trap monitoring (Hinemos 6.0+), instead of a process per node and interval."""

    url: str  # the manager's monitor.customtrap.url, e.g. http://MANAGER:8082/
    interval_seconds: int = 60
    events: bool = True  # each container state change as a `string` item, at once
    keys: tuple[str, ...] = TRAP_DEFAULT_KEYS
    host_keys: tuple[str, ...] = TRAP_HOST_KEYS
    # KEY -> the regex a process's command must match (`hinedock proc -p`): one `/top`
    # per running container per interval, which costs the engine; none by default.
    processes: tuple[tuple[str, str], ...] = ()
    tls_ca: str | None = None
    timezone: str | None = None  # the manager's (DATE has none); None: the daemon's own
    timeout_seconds: float = 10.0
    concurrency: int = 8
    queue_size: int = 10_000  # string items kept while the manager is away


@dataclass(frozen=True)
class HinemosConfig:
    api: HinemosApi = "dry-run"
    url: str = "http://127.0.0.1:8080/HinemosWS"
    user: str = "hinemos"
    password_file: str | None = "/etc/hinedockd/hinemos.password"
    owner_role_id: str = "ALL_USERS"
    container_facility_id: str = "{host}-{name}"
    label_scopes: tuple[str, ...] = ("*",)
    full_sync_seconds: int = 300
    # Calls to the manager a second, at most, for all hosts together (hinemos/pacer.py)
    max_calls_per_second: float = 50.0
    timeout_seconds: float = 30.0  # per call; a write answered later is found by the next pass
    customtrap: CustomTrapConfig | None = None


@dataclass(frozen=True)
class SyslogTarget:
    target: str
    format: SyslogFormat = "rfc3164"  # the only format Hinemos parses
    facility: str = "user"
    tcp_framing: TcpFraming = "octet-counting"  # RFC 6587 §3.4.1, or "lf" (§3.4.2)
    queue_size: int = 10_000  # messages waiting for a slow receiver; the rest are dropped
    # Which engine events go to this target: globs of TYPE.ACTION ("container.*",
    # "image.pull"), and those dropped from them. By default every event but the
    # networks' connect/disconnect, which every start and stop of a container repeats.
    events: tuple[str, ...] = ("*",)
    skip_events: tuple[str, ...] = ("network.connect", "network.disconnect")
    logs: bool = True  # containers' own lines ([logs]) go to this target too
    # A message longer than this is cut, with "..." at its end (rsyslog takes 8 KiB by
    # default; Hinemos' receiver reads a UDP datagram whole).
    max_message_bytes: int = 2048

    def wants(self, type_: str, action: str) -> bool:
        """Does this target take the event? (`action` as the engine sends it, the
        part before a ':' counts: `health_status: healthy` is `health_status`)."""
        name = f"{type_}.{action.split(':', 1)[0].strip()}"
        return (any(fnmatchcase(name, g) for g in self.events)
                and not any(fnmatchcase(name, g) for g in self.skip_events))


LogStreams = Literal["both", "stdout", "stderr", "none"]
LOGS_LABEL = "hinedock.logs"  # on a container: true, stdout, stderr or false


@dataclass(frozen=True)
class LogRule:
    """`[[logs.rules]]`: which containers' own output is followed. A container matches
    when its name, its image and each `labels` glob (`KEY=VALUE`) match, on one of
    `hosts` (facility IDs; none: every host); the first rule that matches decides."""

    names: tuple[str, ...] = ("*",)
    images: tuple[str, ...] = ("*",)
    labels: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    streams: LogStreams = "both"


@dataclass(frozen=True)
class LogsConfig:
    """`[logs]`: containers' stdout and stderr to the syslog targets, as lines of
    their container node (HOSTNAME = its 12-character ID). Nothing is followed unless
    selected, by the container's `hinedock.logs` label or by a rule."""

    label: bool = True  # whether a container's own `hinedock.logs` label selects it
    rules: tuple[LogRule, ...] = ()
    stdout_severity: str = "info"
    stderr_severity: str = "notice"
    # (RE2 pattern, severity): the first whose pattern is found in a line decides
    severity_patterns: tuple[tuple[str, str], ...] = ()
    # RE2: a line that matches it continues the record before it (a stack trace's
    # `^\s+at `); "" = every line is a record
    continuation: str = ""
    max_record_lines: int = 100
    join_seconds: float = 0.5  # a record still open after this long leaves as it is
    lines_per_second: float = 100.0  # per container: the rest is dropped and counted
    burst: int = 1000
    report_seconds: int = 60  # "N lines dropped" at most this often per container


@dataclass(frozen=True)
class Config:
    path: str
    daemon: DaemonConfig
    hosts: tuple[HostConfig, ...]
    hinemos: HinemosConfig = field(default_factory=HinemosConfig)
    syslog: tuple[SyslogTarget, ...] = ()
    logs: LogsConfig = field(default_factory=LogsConfig)

    def find_host(self, name: str, port: int | None = None) -> HostConfig:
        """Resolve the report's `-i` (address or facility ID) and `-p` to a host."""
        hits = [h for h in self.hosts if name in (h.facility_id, h.address)]
        if len(hits) > 1 and port is not None:
            hits = [h for h in hits if h.port == port] or hits
        if not hits:
            known = ", ".join(f"{h.facility_id} ({h.address})" for h in self.hosts)
            raise KeyError(f"unknown host {name!r}; configured: {known}")
        return hits[0]


T = TypeVar("T")
# No number of the config means more than this (seconds: 31 years; counts and sizes:
# far past any host), so none can overflow a timer or a ring's size; some keys have
# tighter bounds of their own.
NUMBER_MAX = 1e9
RETENTION_MAX = 86_400  # a day of history: the coarse ring's rows are sized from it
C = TypeVar("C", bound=str)


class _Table:
    """One TOML table being read; remembers which keys were used."""

    def __init__(self, file: str, path: str, data: Any) -> None:
        self.file, self.path = file, path
        if not isinstance(data, Mapping):
            self.fail("", f"must be a table, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data
        self.used: set[str] = set()

    def fail(self, key: str, problem: str) -> None:
        where = f"{self.path}.{key}" if self.path and key else (self.path or key)
        raise ConfigError(f"{self.file}: {where}: {problem}")

    def get(self, key: str, kind: type[T], default: T) -> T:
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)  # type: ignore[return-value]
        if not ok:
            self.fail(key, f"must be {kind.__name__}, got {value!r}")
        return value  # type: ignore[no-any-return]

    def required(self, key: str) -> str:
        if key not in self.data:
            self.fail(key, "is required")
        return self.get(key, str, "")

    def number(self, key: str, kind: type[T], default: T, minimum: float,
               maximum: float = NUMBER_MAX) -> T:
        """A number within [minimum, maximum]: NaN and the infinities never pass (a
        `nan` compared false to every bound and was taken), nor a value so large that
        sizing or sleeping on it fails at run time."""
        value = self.get(key, kind, default)
        if not minimum <= value <= maximum:  # type: ignore[operator]
            self.fail(key, f"must be between {minimum:g} and {maximum:g}, got {value!r}")
        return value

    def choice(self, key: str, default: C, allowed: tuple[C, ...]) -> C:
        value = self.get(key, str, default)
        if value not in allowed:
            self.fail(key, f"must be one of {', '.join(allowed)}; got {value!r}")
        return cast(C, value)

    def optional_str(self, key: str, default: str | None = None) -> str | None:
        value = self.get(key, str, default or "")
        return value or None

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            self.fail(unknown[0], "unknown key (misspelt?)")


def _daemon(t: _Table) -> DaemonConfig:
    d = DaemonConfig()
    cfg = DaemonConfig(
        socket=t.get("socket", str, d.socket),
        socket_group=_group(t, "socket_group"),
        state_dir=t.get("state_dir", str, d.state_dir),
        retention_seconds=t.number("retention_seconds", int, d.retention_seconds, 60,
                                   RETENTION_MAX),
        default_window_seconds=t.number("default_window_seconds", int,
                                        d.default_window_seconds, 1),
        cpu_scale=t.choice("cpu_scale", d.cpu_scale, get_args(CpuScale)),
        size_cache_seconds=t.number("size_cache_seconds", int, d.size_cache_seconds, 0),
        stats_silence_seconds=t.number("stats_silence_seconds", float,
                                       d.stats_silence_seconds, 0.5),
        relist_seconds=t.number("relist_seconds", int, d.relist_seconds, 5),
        state_report_seconds=t.number("state_report_seconds", int, d.state_report_seconds, 0),
        log_format=t.choice("log_format", d.log_format, get_args(LogFormat)),
        log_target=t.choice("log_target", d.log_target, get_args(LogTarget)),
        prometheus=t.get("prometheus", str, d.prometheus),
        job_groups=_groups(t, "job_groups"),
        max_connections=t.number("max_connections", int, d.max_connections, 1),
        max_connections_per_user=t.number("max_connections_per_user", int,
                                          d.max_connections_per_user, 1),
        request_header_seconds=t.number("request_header_seconds", float,
                                        d.request_header_seconds, 0.1),
        health_check_events=t.get("health_check_events", bool, d.health_check_events),
        restart_loop_count=t.number("restart_loop_count", int, d.restart_loop_count, 2),
        restart_loop_seconds=t.number("restart_loop_seconds", int, d.restart_loop_seconds, 10),
    )
    if cfg.default_window_seconds > cfg.retention_seconds:
        t.fail("default_window_seconds", "must not exceed retention_seconds")
    if cfg.restart_loop_seconds > cfg.retention_seconds:
        t.fail("restart_loop_seconds", "must not exceed retention_seconds")
    if cfg.prometheus and not re.match(r"^[^\s/]*:\d{1,5}$", cfg.prometheus):
        t.fail("prometheus", f"must be host:port (e.g. 127.0.0.1:9323), got {cfg.prometheus!r}")
    t.done()
    return cfg


def _group(t: _Table, key: str) -> str | None:
    name = t.optional_str(key)
    if name is not None:
        try:
            grp.getgrnam(name)
        except KeyError:
            t.fail(key, f"no group {name!r} on this machine")
    return name


def _readable_file(t: _Table, key: str) -> str | None:
    """A path the daemon will open at start: it must be there now, or the config
    passes --check-config and the host fails later with an error naming no key."""
    path = t.optional_str(key)
    if path is not None:
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            t.fail(key, f"cannot read {path}: {e.strerror or e}")
    return path


def _groups(t: _Table, key: str) -> tuple[str, ...]:
    """Group names that exist on this machine (a typo would lock everyone out, or in)."""
    names = t.get(key, list, [])
    if not all(isinstance(n, str) and n for n in names):
        t.fail(key, "must be a list of group names")
    for name in names:
        try:
            grp.getgrnam(name)
        except KeyError:
            t.fail(key, f"no group {name!r} on this machine")
    return tuple(names)


def _check_url(t: _Table, url: str) -> None:
    if not re.match(r"^(unix:///\S+|(tcp|http|https)://[^/\s]+/?)$", url):
        t.fail("url", f"must be unix:///path, tcp://host:port or https://host:port; got {url!r}")


def _snmp(t: _Table) -> SnmpConfig:
    d = SnmpConfig()
    cfg = SnmpConfig(
        version=t.choice("version", d.version, get_args(SnmpVersion)),
        community=t.get("community", str, d.community),
        port=t.number("port", int, d.port, 1, 65535),
        poll_seconds=t.number("poll_seconds", float, d.poll_seconds, 1),
        timeout_seconds=t.number("timeout_seconds", float, d.timeout_seconds, 0.1),
        retries=t.number("retries", int, d.retries, 0),
    )
    t.done()
    return cfg


def _host(t: _Table, window: int) -> HostConfig:
    """`window`: the daemon's default window, the poll interval unless one is set: a
    window's average needs a sample near each of its ends, and each sample costs the
    engine about 4 ms (bench/README.md §8), so one a window is the least that serves
    the default answer."""
    facility_id = t.required("facility_id")
    if not FACILITY_ID_RE.match(facility_id) or len(facility_id) > FACILITY_ID_MAX:
        t.fail("facility_id", f"{facility_id!r} is not a valid Hinemos facility ID "
               "(letters, digits, - _ . @)")
    url = t.required("url")
    _check_url(t, url)
    address = t.required("address")
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        t.fail("address", f"must be an IPv4 address, got {address!r}")
    snmp = None
    if "snmp" in t.data:
        t.used.add("snmp")
        snmp = _snmp(_Table(t.file, f"{t.path}.snmp", t.data["snmp"]))
    tls = {k: t.optional_str(k) for k in ("tls_ca", "tls_cert", "tls_key")}
    if url.startswith("https://") is False and any(tls.values()):
        t.fail("url", "tls_* settings need an https:// URL (tcp:// would talk plain HTTP)")
    if bool(tls["tls_cert"]) != bool(tls["tls_key"]):
        t.fail("tls_cert", "tls_cert and tls_key go together")
    tls = {k: _readable_file(t, k) for k in tls}
    d = HostConfig(facility_id, url, address)
    cfg = HostConfig(
        facility_id=facility_id,
        url=url,
        address=address,
        stats=t.choice("stats", d.stats, get_args(StatsMode)),
        poll_interval_seconds=t.number("poll_interval_seconds", float, float(window), 1),
        poll_concurrency=t.number("poll_concurrency", int, d.poll_concurrency, 1),
        tls_verify=t.get("tls_verify", bool, d.tls_verify),
        snmp=snmp,
        **tls,
    )
    t.done()
    return cfg


HINEMOS_URL_FORMS = {"soap": ("/HinemosWS", "http://HOST:8080/HinemosWS (5.x/6.x)"),
                     "rest": ("/HinemosWeb/api", "http://HOST:8080/HinemosWeb/api (7.x)")}


def _check_hinemos_url(t: _Table, api: str, url: str) -> None:
    """The base URL of one API given for the other is the usual slip (the default
    URL is the SOAP one): name it. Other paths (a proxy) are the operator's call."""
    if api not in HINEMOS_URL_FORMS:
        return
    path = url.split("://", 1)[-1].partition("/")[2].rstrip("/")
    other = "rest" if api == "soap" else "soap"
    if path and f"/{path}".endswith(HINEMOS_URL_FORMS[other][0]):
        t.fail("url", f"{url!r} is the {other.upper()} API's base, but api = {api!r}; "
                      f"for {api} it is {HINEMOS_URL_FORMS[api][1]}")


def _hinemos(t: _Table) -> HinemosConfig:
    d = HinemosConfig()
    scopes = t.get("label_scopes", list, list(d.label_scopes))
    if not all(isinstance(s, str) for s in scopes):
        t.fail("label_scopes", "must be a list of strings (glob patterns)")
    if "password" in t.data:
        t.fail("password", "inline passwords are not accepted; use password_file")
    template = t.get("container_facility_id", str, d.container_facility_id)
    try:
        template.format(host="h", name="n", id="i")
    except (KeyError, IndexError, ValueError) as e:
        t.fail("container_facility_id", f"bad template ({e}); fields: {{host}} {{name}} {{id}}")
    api = t.choice("api", d.api, get_args(HinemosApi))
    url = t.get("url", str, d.url)
    _check_hinemos_url(t, api, url)
    cfg = HinemosConfig(
        api=api,
        url=url,
        user=t.get("user", str, d.user),
        password_file=t.optional_str("password_file", d.password_file),
        owner_role_id=t.get("owner_role_id", str, d.owner_role_id),
        container_facility_id=template,
        label_scopes=tuple(scopes),
        full_sync_seconds=t.number("full_sync_seconds", int, d.full_sync_seconds, 10),
        max_calls_per_second=t.number("max_calls_per_second", float,
                                      d.max_calls_per_second, 0.1),
        timeout_seconds=t.number("timeout_seconds", float, d.timeout_seconds, 1),
        customtrap=_customtrap(_Table(t.file, f"{t.path}.customtrap", t.data["customtrap"]))
        if "customtrap" in t.data else None,
    )
    t.used.add("customtrap")
    t.done()
    return cfg


def _customtrap(t: _Table) -> CustomTrapConfig:
    d = CustomTrapConfig(url="")
    url = t.required("url")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
        t.fail("url", f"must be http://HOST:PORT/ or https://… (the manager's "
                      f"monitor.customtrap.url, default port 8082); got {url!r}")
    keys = _trap_keys(t, "keys", list(d.keys), TRAP_KEYS)
    host_keys = _trap_keys(t, "host_keys", list(d.host_keys), TRAP_HOST_KEYS, empty=True)
    processes = _trap_processes(t)
    zone = t.optional_str("timezone")
    if zone is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            t.fail("timezone", f"unknown time zone {zone!r} (e.g. Asia/Tokyo)")
    cfg = CustomTrapConfig(
        url=url,
        interval_seconds=t.number("interval_seconds", int, d.interval_seconds, 10),
        events=t.get("events", bool, d.events),
        keys=tuple(keys),
        host_keys=tuple(host_keys),
        processes=processes,
        tls_ca=_readable_file(t, "tls_ca"),
        timezone=zone,
        timeout_seconds=t.number("timeout_seconds", float, d.timeout_seconds, 1),
        concurrency=t.number("concurrency", int, d.concurrency, 1),
        queue_size=t.number("queue_size", int, d.queue_size, 1),
    )
    t.done()
    return cfg


def _trap_keys(t: _Table, name: str, default: list[str], known: tuple[str, ...],
               empty: bool = False) -> list[str]:
    keys = t.get(name, list, default)
    unknown = [k for k in keys if k not in known]
    if unknown or not (keys or empty):
        t.fail(name, f"must be a {'' if empty else 'non-empty '}list of {', '.join(known)}; "
                     f"unknown: {', '.join(map(str, unknown)) or 'none given'}")
    return keys


def _trap_processes(t: _Table) -> tuple[tuple[str, str], ...]:
    table = t.get("processes", dict, {})
    out = []
    for key, pattern in table.items():
        where = f"processes.{key}"
        if not TRAP_PROCESS_KEY.match(key) or key in TRAP_KEYS:
            t.fail(where, "a process count's KEY is a letter, then up to 63 letters, digits "
                          "or _ . - and not a figure's name (cpu_usage…)")
        if not isinstance(pattern, str):
            t.fail(where, f"must be the regex a process's command matches; got {pattern!r}")
        try:
            compile_pattern(pattern, where)
        except ValueError as e:
            t.fail(where, str(e))
        out.append((key, pattern))
    return tuple(out)


def _syslog(t: _Table) -> SyslogTarget:
    target = t.required("target")
    if not re.match(r"^(udp|tcp)://[^/:\s]+:\d+$|^file:///\S+$", target):
        t.fail("target", "must be udp://host:port, tcp://host:port or file:///path; "
               f"got {target!r}")
    d = SyslogTarget(target)
    cfg = SyslogTarget(
        target=target,
        format=t.choice("format", d.format, get_args(SyslogFormat)),
        facility=t.choice("facility", d.facility, tuple(FACILITIES)),
        tcp_framing=t.choice("tcp_framing", d.tcp_framing, get_args(TcpFraming)),
        queue_size=t.number("queue_size", int, d.queue_size, 1),
        events=_event_globs(t, "events", d.events),
        skip_events=_event_globs(t, "skip_events", d.skip_events),
        logs=t.get("logs", bool, d.logs),
        max_message_bytes=t.number("max_message_bytes", int, d.max_message_bytes, 480, 65_000),
    )
    t.done()
    return cfg


EVENT_GLOB = re.compile(r"^\*$|^[a-z*?]+\.[a-z_*?]+$")


def _event_globs(t: _Table, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    globs = t.get(key, list, list(default))
    bad = [g for g in globs if not isinstance(g, str) or not EVENT_GLOB.match(g)]
    if bad:
        t.fail(key, "must be a list of TYPE.ACTION globs such as \"container.*\" or "
                    f"\"image.pull\" (or \"*\"); got {', '.join(map(repr, bad))}")
    return tuple(globs)


def _globs(t: _Table, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    globs = t.get(key, list, list(default))
    if not all(isinstance(g, str) and g for g in globs):
        t.fail(key, "must be a list of glob patterns (strings)")
    return tuple(globs)


def _severity(t: _Table, key: str, default: str) -> str:
    return t.choice(key, default, tuple(SEVERITIES))


def _log_rule(t: _Table, hosts: set[str]) -> LogRule:
    d = LogRule()
    labels = _globs(t, "labels", d.labels)
    if not all("=" in g for g in labels):
        t.fail("labels", "each must be KEY=VALUE (globs, e.g. \"app=web*\")")
    rule_hosts = _globs(t, "hosts", d.hosts)
    unknown = sorted(set(rule_hosts) - hosts)
    if unknown:
        t.fail("hosts", f"no [[hosts]] with facility_id {unknown[0]!r}")
    cfg = LogRule(names=_globs(t, "names", d.names), images=_globs(t, "images", d.images),
                  labels=labels, hosts=rule_hosts,
                  streams=t.choice("streams", d.streams, get_args(LogStreams)))
    t.done()
    return cfg


def _logs(t: _Table, hosts: set[str]) -> LogsConfig:
    d = LogsConfig()
    rules = tuple(_log_rule(_Table(t.file, f"logs.rules[{i}]", r), hosts)
                  for i, r in enumerate(t.get("rules", list, [])))
    patterns = []
    for i, item in enumerate(t.get("severity_patterns", list, [])):
        pt = _Table(t.file, f"logs.severity_patterns[{i}]", item)
        pattern = pt.required("pattern")
        try:
            compile_pattern(pattern, "pattern")
        except ValueError as e:
            pt.fail("pattern", str(e).removeprefix("pattern: "))
        patterns.append((pattern, _severity(pt, "severity", "err")))
        pt.done()
    continuation = t.get("continuation", str, d.continuation)
    if continuation:
        try:
            compile_pattern(continuation, "continuation")
        except ValueError as e:
            t.fail("continuation", str(e).removeprefix("continuation: "))
    cfg = LogsConfig(
        label=t.get("label", bool, d.label),
        rules=rules,
        stdout_severity=_severity(t, "stdout_severity", d.stdout_severity),
        stderr_severity=_severity(t, "stderr_severity", d.stderr_severity),
        severity_patterns=tuple(patterns),
        continuation=continuation,
        max_record_lines=t.number("max_record_lines", int, d.max_record_lines, 1, 10_000),
        join_seconds=t.number("join_seconds", float, d.join_seconds, 0.05, 60),
        lines_per_second=t.number("lines_per_second", float, d.lines_per_second, 0.01),
        burst=t.number("burst", int, d.burst, 1),
        report_seconds=t.number("report_seconds", int, d.report_seconds, 1),
    )
    t.done()
    return cfg


def _array(root: _Table, key: str) -> list[_Table]:
    items = root.get(key, list, [])
    return [_Table(root.file, f"{key}[{i}]", item) for i, item in enumerate(items)]


def parse_config(text: str, path: str = "<config>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    root = _Table(path, "", data)
    daemon = _daemon(_Table(path, "daemon", root.get("daemon", dict, {})))
    hosts = tuple(_host(t, daemon.default_window_seconds) for t in _array(root, "hosts"))
    if not hosts:
        root.fail("hosts", "at least one [[hosts]] entry is required")
    seen: set[str] = set()
    for i, h in enumerate(hosts):
        if h.facility_id in seen:
            raise ConfigError(f"{path}: hosts[{i}].facility_id: duplicate {h.facility_id!r}")
        seen.add(h.facility_id)
    hinemos = _hinemos(_Table(path, "hinemos", root.get("hinemos", dict, {})))
    syslog = tuple(_syslog(t) for t in _array(root, "syslog"))
    logs = _logs(_Table(path, "logs", root.get("logs", dict, {})), {h.facility_id for h in hosts})
    root.done()
    return Config(path=path, daemon=daemon, hosts=hosts, hinemos=hinemos, syslog=syslog,
                  logs=logs)


def apply_environment(cfg: Config, env: Mapping[str, str]) -> Config:
    """HINEDOCK_SOCKET and HINEDOCK_STATE_DIR override the file (SPEC §8)."""
    daemon = cfg.daemon
    if env.get(SOCKET_ENV):
        daemon = replace(daemon, socket=env[SOCKET_ENV])
    if env.get(STATE_DIR_ENV):
        daemon = replace(daemon, state_dir=env[STATE_DIR_ENV])
    return replace(cfg, daemon=daemon)


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8: {e}") from None
    return apply_environment(parse_config(text, str(p)), os.environ if env is None else env)
