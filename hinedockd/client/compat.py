"""The 2015 report's monitor scripts, same names, options, keys and exit codes,
answered from the daemon's cache. Disk and network values are bytes (packets)
over the window, as the report's "Byte/5分" collection unit implies."""

from __future__ import annotations

import argparse
import sys

from hinedockd.client import monitors as m
from hinedockd.client.common import Parser, add_target_options, run, target

SNMP_PENDING = ("--with-host needs host figures over SNMP, which this version does not "
                "provide yet; run without --with-host")


def _parser(prog: str, containers: bool = True, snmp: bool = False) -> argparse.ArgumentParser:
    p = Parser(prog=prog)
    add_target_options(p, containers)
    if snmp:
        p.add_argument("-sv", dest="snmp_version", default="1", help="SNMP version")
        p.add_argument("-sc", dest="snmp_community", default="public", help="SNMP community")
        p.add_argument("-sp", dest="snmp_port", default="161", help="SNMP port")
        p.add_argument("--with-host", action="store_true",
                       help="also the host's figure without the containers (SNMP)")
    return p


def _key_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", dest="key", metavar="KEY_ID",
                   help="unique per monitor setting: average since the previous call")


def _fail(prog: str, message: str) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return 1


def host_status(argv: list[str] | None = None) -> int:
    prog = "MonitorDockerHostStatus.py"
    p = _parser(prog, containers=False)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--status", action="store_const", dest="what", const="status")
    g.add_argument("--count", action="store_const", dest="what", const="count")
    g.add_argument("--size", action="store_const", dest="what", const="size")
    args = p.parse_args(argv)
    t = target(args)
    what = args.what or "status"
    if what == "count":
        return run(prog, lambda: m.host_count(t, m.REPORT_STATES))
    if what == "size":
        return run(prog, lambda: m.host_size(t, m.REPORT_STATES))
    return run(prog, lambda: m.host_status(t))


def resource_cpu(argv: list[str] | None = None) -> int:
    prog = "MonitorDockerContainerResourceCpu.py"
    p = _parser(prog, snmp=True)
    _key_option(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--all", action="store_true", help="CPU %% per container (default)")
    g.add_argument("--core", action="store_true", help="CPU %% per core")
    args = p.parse_args(argv)
    if args.with_host:
        return _fail(prog, SNMP_PENDING)
    t = target(args)
    return run(prog, lambda: m.cpu(t, core=args.core, key=args.key))


def resource_memory(argv: list[str] | None = None) -> int:
    prog = "MonitorDockerContainerResourceMemory.py"
    p = _parser(prog, snmp=True)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--container", action="store_true", help="%% of the container's limit")
    g.add_argument("--all", action="store_true", help="memory detail")
    args = p.parse_args(argv)
    if args.with_host:
        return _fail(prog, SNMP_PENDING)
    of = "limit" if args.container else "detail" if args.all else "host"
    t = target(args)
    return run(prog, lambda: m.memory(t, of=of))


def resource_disk(argv: list[str] | None = None) -> int:
    prog = "MonitorDockerContainerResourceDisk.py"
    p = _parser(prog)
    _key_option(p)
    p.add_argument("--read", action="store_true")
    p.add_argument("--write", action="store_true")
    args = p.parse_args(argv)
    both = not (args.read or args.write)
    t = target(args)
    return run(prog, lambda: m.disk(t, read=args.read or both, write=args.write or both,
                                    key=args.key))


def resource_network(argv: list[str] | None = None) -> int:
    prog = "MonitorDockerContainerResourceNetwork.py"
    p = _parser(prog)
    _key_option(p)
    for flag in ("--kb", "--pck", "--rx", "--tx"):
        p.add_argument(flag, action="store_true")
    args = p.parse_args(argv)
    both = not (args.rx or args.tx)
    t = target(args)
    return run(prog, lambda: m.network(t, kb=args.kb or not args.pck, pck=args.pck,
                                       rx=args.rx or both, tx=args.tx or both, key=args.key))


def process(argv: list[str] | None = None) -> int:
    prog = "MonitorDockerContainerProcess.py"
    p = _parser(prog)
    p.add_argument("-prog", dest="prog", help="regex on the process name")
    p.add_argument("-args", dest="args", help="regex on the process arguments")
    args = p.parse_args(argv)
    t = target(args)
    return run(prog, lambda: m.processes(t, prog=args.prog, args=args.args))
