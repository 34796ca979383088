"""The 2015 report's monitor scripts: same names, options, keys and exit codes,
answered from the daemon's cache. Disk and network values are bytes (packets)
over the window, as the report's "Byte/5分" collection unit implies."""

from __future__ import annotations

import sys

from hinedockd.client.args import TARGET_HELP, TARGET_VALUES, Spec, run

SNMP_PENDING = ("--with-host needs host figures over SNMP, which this version does not "
                "provide yet; run without --with-host")
SNMP_VALUES = {"-sv": "snmp_version", "-sc": "snmp_community", "-sp": "snmp_port"}
SNMP_HELP = ("  -sv SNMP_VER -sc SNMP_COM -sp SNMP_PORT   SNMP settings for --with-host",
             "  --with-host        also the host's figure without the containers (SNMP)")
KEY = {"-k": "key"}
KEY_HELP = ("  -k KEY_ID          unique per monitor setting: average since the previous "
            "call",)


def _spec(prog: str, monitor: str, about: str, flags: dict[str, tuple[str, str]],
          help_lines: tuple[str, ...], values: dict[str, str] | None = None,
          snmp: bool = False, containers: bool = True) -> Spec:
    target = TARGET_VALUES if containers else {k: v for k, v in TARGET_VALUES.items()
                                               if k not in ("-c", "-n")}
    return Spec(prog, about, monitor, flags=flags,
                values={**target, **(SNMP_VALUES if snmp else {}), **(values or {})},
                help_lines=(*(TARGET_HELP if containers else TARGET_HELP[:2] + TARGET_HELP[4:]),
                            *(SNMP_HELP if snmp else ()), *help_lines),
                refuse={"--with-host": SNMP_PENDING} if snmp else None,
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
    return run(_spec("MonitorDockerContainerResourceCpu.py", "cpu",
                     "CPU percent per container (of the whole host).",
                     {"--all": ("core", "0"), "--core": ("core", "1")},
                     (*KEY_HELP, "  --all              per container (default)",
                      "  --core             per core"), values=KEY, snmp=True), argv)


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
