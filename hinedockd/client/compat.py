"""The 2015 report's monitor scripts: same names, options, keys and exit codes,
answered from the daemon's cache. Disk and network values are bytes (packets)
over the window, as the report's "Byte/5分" collection unit implies."""

from __future__ import annotations

import sys
import time

from hinedockd.client.args import TARGET_HELP, TARGET_VALUES, Spec, parse, run
from hinedockd.client.transport import ClientError, get, quote
from hinedockd.messages.framing import STATE_SEVERITY, file_line, rfc3164, state_text

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~4 ms per start
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

SNMP_VALUES = {"-sv": "snmp_version", "-sc": "snmp_community", "-sp": "snmp_port"}
SNMP_HELP = ("  -sv SNMP_VER -sc SNMP_COM -sp SNMP_PORT   accepted; the daemon asks the host's "
             "agent as [hosts.snmp] in its config says",
             "  --with-host        also the host's figure without the containers (SNMP)")
KEY = {"-k": "key"}
KEY_HELP = ("  -k KEY_ID          unique per monitor setting: average since the previous "
            "call",)


def _spec(prog: str, monitor: str, about: str, flags: dict[str, tuple[str, str]],
          help_lines: tuple[str, ...], values: dict[str, str] | None = None,
          snmp: bool = False, containers: bool = True) -> Spec:
    target = TARGET_VALUES if containers else {k: v for k, v in TARGET_VALUES.items()
                                               if k not in ("-c", "-n")}
    return Spec(prog, about, monitor,
                values={**target, **(SNMP_VALUES if snmp else {}), **(values or {})},
                help_lines=(*(TARGET_HELP if containers else TARGET_HELP[:2] + TARGET_HELP[4:]),
                            *(SNMP_HELP if snmp else ()), *help_lines),
                flags={**flags, **({"--with-host": ("with_host", "1")} if snmp else {})},
                fixed={"states": "report"})


def host_status(argv: list[str] | None = None) -> int:
    # --status, --count, --size choose the monitor itself.
    args = sys.argv[1:] if argv is None else argv
    chosen = [a for a in args if a in ("--status", "--count", "--size")]
    if len(set(chosen)) > 1:
        sys.stderr.write(f"MonitorDockerHostStatus.py: {' and '.join(chosen)} cannot be used "
                         "together\n")
        return 1
    monitor = chosen[0][2:] if chosen else "status"
    spec = _spec("MonitorDockerHostStatus.py", monitor,
                 "Docker daemon health (Status,0|1), containers per state, disk usage.",
                 {f"--{w}": ("what", w) for w in ("status", "count", "size")},
                 ("  --status           engine health, 0 OK 1 not OK (default)",
                  "  --count            containers per state",
                  "  --size             disk used by images and by containers per state"),
                 containers=False)
    return run(spec, args)


def resource_cpu(argv: list[str] | None = None) -> int:
    """The report's scale (§3.3.2: Δtotal_usage / Δtime, all cores together): a container
    busy on one core reads 100, as `docker stats` shows it. With --with-host the report's
    example halves the containers' values on its 2-core host and adds the host's own
    share: there every figure is a percent of the whole host, so that host minus Σ
    containers holds. `--scale` chooses either explicitly."""
    args = sys.argv[1:] if argv is None else list(argv)
    if "--scale" not in args:
        args += ["--scale", "host" if "--with-host" in args else "core"]
    return run(_spec("MonitorDockerContainerResourceCpu.py", "cpu",
                     "CPU percent per container: of one core, as the report and docker stats "
                     "(a container busy on one core reads 100); with --with-host, of the "
                     "whole host, as the report's host minus the containers needs.",
                     {"--all": ("core", "0"), "--core": ("core", "1")},
                     (*KEY_HELP, "  --all              per container (default)",
                      "  --core             per core (percent of that core)",
                      "  --scale core|host  core: percent of one core (default); host: of "
                      "the whole host (the default with --with-host)"),
                     values={**KEY, "--scale": "scale"}, snmp=True), args)


def resource_memory(argv: list[str] | None = None) -> int:
    return run(_spec("MonitorDockerContainerResourceMemory.py", "mem",
                     "Memory (rss) percent per container.",
                     {"--container": ("of", "limit"), "--all": ("of", "detail")},
                     ("  --container        percent of the container's limit",
                      "  --all              every memory_stats.stats key"), snmp=True), argv)


def resource_disk(argv: list[str] | None = None) -> int:
    return run(_spec("MonitorDockerContainerResourceDisk.py", "disk",
                     "Disk bytes read/written per container over the window.",
                     {"--read": ("read", "1"), "--write": ("write", "1")},
                     (*KEY_HELP, "  --read, --write    only reads / only writes"),
                     values=KEY), argv)


def resource_network(argv: list[str] | None = None) -> int:
    return run(_spec("MonitorDockerContainerResourceNetwork.py", "net",
                     "Network bytes/packets per container over the window.",
                     {"--kb": ("bytes", "1"), "--pck": ("packets", "1"), "--rx": ("rx", "1"),
                      "--tx": ("tx", "1")},
                     (*KEY_HELP, "  --kb, --pck        bytes / packets (default bytes)",
                      "  --rx, --tx         received / sent only"), values=KEY), argv)


def process(argv: list[str] | None = None) -> int:
    return run(_spec("MonitorDockerContainerProcess.py", "proc",
                     "Processes per container whose name and arguments match.", {},
                     ("  -prog PROG         regex on the process name",
                      "  -args ARGS         regex on the process arguments"),
                     values={"-prog": "prog", "-args": "args"}), argv)


def _send_udp(target: str, messages: list[str]) -> None:
    """The report's `-s SYSLOG_HOST:PORT`: one RFC 3164 datagram per message."""
    import _socket

    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ClientError(f"-s wants SYSLOG_HOST:PORT, got {target!r}")
    try:
        family, kind, proto, _, addr = _socket.getaddrinfo(host, int(port), 0,
                                                           _socket.SOCK_DGRAM)[0]
        s = _socket.socket(family, kind, proto)
        try:
            for m in messages:
                s.sendto(m.encode(), addr)
        finally:
            s.close()
    except OSError as e:
        raise ClientError(f"cannot send to syslog at {target}: {e}") from None


def _data(params: dict[str, str], what: str) -> Any:
    import json

    host = params.pop("host", "127.0.0.1")
    sock = params.pop("socket", None)
    answer = get(f"/v1/hosts/{quote(host)}/{what}", params, sock)
    if answer.status != 200:
        try:
            message = json.loads(answer.body).get("error")
        except ValueError:
            message = None
        raise ClientError(message or f"HTTP {answer.status}")
    return json.loads(answer.body)


def _cron_command(prog: str, spec: Spec, argv: list[str] | None,
                  action: Callable[[dict[str, str]], None]) -> int:
    try:
        action(parse(spec, sys.argv[1:] if argv is None else argv))
    except ClientError as e:
        sys.stderr.write(f"{prog}: {e}\n")
        return 1
    return 0


def host_event(argv: list[str] | None = None) -> int:
    """Events since the previous call with the same key, to syslog (-s) or a file (-f)."""
    prog = "MonitorDockerHostEvent.py"
    spec = Spec(prog, "Docker events since the previous call with this key, sent to syslog "
                "(-s) or appended to a file (-f); nothing on stdout.", None,
                values={**{k: v for k, v in TARGET_VALUES.items() if k not in ("-c", "-n")},
                        "-k": "key", "-s": "syslog", "-f": "logfile"},
                help_lines=(*TARGET_HELP[:2], TARGET_HELP[4], *KEY_HELP,
                            "  -s SYSLOG_HOST:PORT  send each event to this syslog (UDP)",
                            "  -f LOGFILE         append each event to this file"))

    def action(params: dict[str, str]) -> None:
        syslog, logfile = params.pop("syslog", None), params.pop("logfile", None)
        if not syslog and not logfile:
            raise ClientError("give -s SYSLOG_HOST:PORT or -f LOGFILE")
        data = _data(params, "events")
        messages = [rfc3164(data["hostname"], e["text"], when=e["time_nano"] / 1e9,
                            severity=e["severity"]) for e in data["events"]]
        if syslog:
            _send_udp(syslog, messages)
        if logfile:
            try:
                with open(logfile, "a", encoding="utf-8") as f:
                    f.writelines(file_line(m) + "\n" for m in messages)
            except OSError as e:
                raise ClientError(f"cannot write {logfile}: {e.strerror or e}") from None

    return _cron_command(prog, spec, argv, action)


def container_status(argv: list[str] | None = None) -> int:
    """`YYYY-MM-DD HH:MM:SS <id12> <state>` per container, each also sent to syslog with
    HOSTNAME = the 12-char ID (the container node's node name)."""
    prog = "MonitorDockerContainerStatus.py"
    spec = Spec(prog, "Every selected container's state, printed and sent to syslog.", None,
                values={**TARGET_VALUES, "-s": "syslog"},
                help_lines=(*TARGET_HELP, "  -s SYSLOG_HOST:PORT  also send each line to this "
                            "syslog (UDP)"))

    def action(params: dict[str, str]) -> None:
        syslog = params.pop("syslog", None)
        data = _data(params, "containers")
        if not data["connected"]:
            raise ClientError(f"{data['host']}: the daemon is not connected to this engine "
                              f"({data['last_error'] or 'connecting'})")
        containers = data["containers"]
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        lines = [state_text(c["id"][:12], c["state"]) for c in containers]
        if syslog:
            _send_udp(syslog, [rfc3164(c["id"][:12], text, when=now, severity=STATE_SEVERITY)
                               for c, text in zip(containers, lines, strict=True)])
        sys.stdout.write("".join(f"{stamp} {text}\n" for text in lines))

    return _cron_command(prog, spec, argv, action)
