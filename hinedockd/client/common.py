"""What `hinedock` and the report-compatible commands share: options and the
run wrapper (exit 0 with lines on stdout; exit 1 with a message on stderr and
nothing on stdout)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from hinedockd.client.monitors import Result, Target
from hinedockd.client.output import emit
from hinedockd.client.transport import ClientError


class Parser(argparse.ArgumentParser):
    """Bad arguments exit 1 (the report's error code), not argparse's 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def add_target_options(p: argparse.ArgumentParser, containers: bool = True) -> None:
    p.add_argument("-i", dest="host", metavar="IP_ADDRESS", default="127.0.0.1",
                   help="Docker host: its address or facility ID (default 127.0.0.1)")
    p.add_argument("-p", dest="port", metavar="DOCKER_PORT", type=int, default=None,
                   help="engine port, to tell apart hosts sharing an address")
    if containers:
        p.add_argument("-c", dest="ids", metavar="CONTAINER_ID",
                       help="container ID (12 chars or full); trailing * for a prefix")
        p.add_argument("-n", dest="names", metavar="CONTAINER_NAME",
                       help="container name; trailing * for a prefix")
    p.add_argument("--socket", help="daemon socket (default $HINEDOCK_SOCKET or "
                                    "/run/hinedockd/hinedockd.sock)")


def target(args: argparse.Namespace) -> Target:
    return Target(host=args.host, port=args.port, ids=getattr(args, "ids", None),
                  names=getattr(args, "names", None), socket=args.socket)


def run(prog: str, action: Callable[[], Result]) -> int:
    try:
        result = action()
    except ClientError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    for note in result.notes:
        print(f"{prog}: {note}", file=sys.stderr)
    emit(result.lines)
    return 0
