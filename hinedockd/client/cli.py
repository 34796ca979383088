"""`hinedock`: read the daemon's cached figures as `key,value` lines for Hinemos
custom monitors. Stdlib only, so that it starts in milliseconds."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from hinedockd.client import monitors as m
from hinedockd.client.common import Parser, add_target_options, run, target
from hinedockd.client.monitors import Result
from hinedockd.client.transport import ClientError, get


def _window_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--window", type=float, metavar="SECONDS",
                   help="average over the last SECONDS (up to the daemon's retention)")
    g.add_argument("-k", dest="key", metavar="KEY_ID",
                   help="average since the previous call with this key")


def _parser() -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = Parser(prog="hinedock", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           parser_class=Parser)

    def cmd(name: str, text: str, containers: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=text, description=text)
        add_target_options(sp, containers)
        return sp

    sp: argparse.ArgumentParser = sub.add_parser("status", help="the daemon and its hosts")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--socket")
    sp = cmd("host", "engine health (Status,0|1), containers per state, disk usage", False)
    sp.add_argument("what", choices=("status", "count", "size"), nargs="?", default="status")
    sp = cmd("cpu", "CPU percent per container (or per core with --core)")
    sp.add_argument("--core", action="store_true", help="per core (cgroup v1 hosts only)")
    sp.add_argument("--scale", choices=("host", "core"),
                    help="host: %% of the whole host (default); core: docker stats scale")
    _window_options(sp)
    sp = cmd("mem", "memory use per container")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--limit", action="store_true", help="%% of the container's limit")
    g.add_argument("--detail", action="store_true", help="every memory_stats.stats key")
    sp = cmd("disk", "disk read/write bytes over the window")
    sp.add_argument("--read", action="store_true")
    sp.add_argument("--write", action="store_true")
    sp.add_argument("--per-second", action="store_true", help="bytes per second instead")
    _window_options(sp)
    sp = cmd("net", "network bytes/packets over the window")
    sp.add_argument("--bytes", action="store_true")
    sp.add_argument("--packets", action="store_true")
    sp.add_argument("--rx", action="store_true")
    sp.add_argument("--tx", action="store_true")
    sp.add_argument("--per-second", action="store_true", help="per second instead")
    _window_options(sp)
    sp = cmd("proc", "processes whose program and arguments match regexes")
    sp.add_argument("--prog", help="regex on the program (full path or base name)")
    sp.add_argument("--args", help="regex on the arguments")
    cmd("states", "container states as numbers: " +
        ", ".join(f"{s}={c}" for s, c in m.STATE_CODES.items()))
    return p


def _status(args: argparse.Namespace) -> int:
    try:
        data = get("/v1/status", {}, args.socket)
    except ClientError as e:
        print(f"hinedock: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{'HOST':<20} {'CONNECTED':<10} {'SINCE':<20} {'CONTAINERS':>10} {'STREAMS':>8} "
          f"{'EVENTS':>8} LAST ERROR")
    for h in data["hosts"]:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h["since"])) if h["since"] \
            else "-"
        print(f"{h['facility_id']:<20} {'yes' if h['connected'] else 'no':<10} {since:<20} "
              f"{h['containers']:>10} {h['streams_open']:>8} {h['events']:>8} "
              f"{h['last_error'] or '-'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "status":
        return _status(args)
    t = target(args)
    c = args.command
    action: Callable[[], Result]
    if c == "host":
        action = {"status": lambda: m.host_status(t), "count": lambda: m.host_count(t),
                  "size": lambda: m.host_size(t)}[args.what]
    elif c == "cpu":
        action = lambda: m.cpu(t, core=args.core, window=args.window, key=args.key,  # noqa: E731
                               scale=args.scale)
    elif c == "mem":
        of = "limit" if args.limit else "detail" if args.detail else "host"
        action = lambda: m.memory(t, of=of)  # noqa: E731
    elif c == "disk":
        both = not (args.read or args.write)
        action = lambda: m.disk(t, read=args.read or both, write=args.write or both,  # noqa: E731
                                per_second=args.per_second, window=args.window, key=args.key)
    elif c == "net":
        kb = args.bytes or not args.packets
        both = not (args.rx or args.tx)
        action = lambda: m.network(t, kb=kb, pck=args.packets, rx=args.rx or both,  # noqa: E731
                                   tx=args.tx or both, per_second=args.per_second,
                                   window=args.window, key=args.key)
    elif c == "proc":
        action = lambda: m.processes(t, prog=args.prog, args=args.args)  # noqa: E731
    else:
        action = lambda: m.states(t)  # noqa: E731
    return run("hinedock", action)


if __name__ == "__main__":
    sys.exit(main())
