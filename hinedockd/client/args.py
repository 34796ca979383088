"""A small declarative option parser and the run wrapper, stdlib only.

Why not argparse: it adds 3.6-4.6 ms of CPU to every start (it pulls in `gettext`;
`re` is already there, the console-script wrapper imports it), 7-8 % of a client
start, and Hinemos starts the client once per monitored node per interval
(`bench/client_imports.py`, figures in bench/README.md). This does what the
commands need: flags, options with a value (`-k KEY`, `--window=60`, the report's
`-prog`), help, and exit 1 with a message on any mistake (the report's error code).
"""

from __future__ import annotations

import sys

from hinedockd.client.transport import ClientError, get


class Spec:
    """flags: option -> (param, value it sets); values: option -> param it fills."""

    def __init__(self, prog: str, about: str, monitor: str | None,
                 flags: dict[str, tuple[str, str]] | None = None,
                 values: dict[str, str] | None = None, fixed: dict[str, str] | None = None,
                 help_lines: tuple[str, ...] = ()) -> None:
        self.prog, self.about, self.monitor = prog, about, monitor
        self.flags, self.values = flags or {}, values or {}
        self.fixed, self.help_lines = fixed or {}, help_lines


TARGET_VALUES = {"-i": "host", "-p": "port", "-c": "id", "-n": "name", "--socket": "socket"}
TARGET_HELP = (
    "  -i IP_ADDRESS      Docker host: its address or facility ID (default 127.0.0.1)",
    "  -p DOCKER_PORT     engine port, to tell apart hosts sharing an address",
    "  -c CONTAINER_ID    container ID (12 chars or full); trailing * for a prefix",
    "  -n CONTAINER_NAME  container name; trailing * for a prefix (not with -c)",
    "  --socket PATH      daemon socket (default $HINEDOCK_SOCKET, then "
    "/run/hinedockd/hinedockd.sock)",
)


def usage(spec: Spec) -> str:
    opts = " ".join(f"[{o}]" for o in spec.flags) + " " + " ".join(
        f"[{o} {p.upper()}]" for o, p in spec.values.items())
    return f"usage: {spec.prog} {opts.strip()}"


def parse(spec: Spec, argv: list[str]) -> dict[str, str]:
    params = dict(spec.fixed)
    set_by: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            print(f"{usage(spec)}\n\n{spec.about}\n\noptions:\n" + "\n".join(spec.help_lines))
            raise SystemExit(0)
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in spec.values:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise ClientError(f"{name} needs a value")
                value = argv[i]
            params[spec.values[name]] = value
        elif name in spec.flags and not eq:
            param, flag_value = spec.flags[name]
            if param in set_by and params[param] != flag_value:
                raise ClientError(f"{set_by[param]} and {name} cannot be used together")
            params[param], set_by[param] = flag_value, name
        else:
            raise ClientError(f"unrecognised argument {arg!r}\n{usage(spec)}")
        i += 1
    return params


def run(spec: Spec, argv: list[str] | None = None) -> int:
    """Parse, ask the daemon for the monitor's lines, print them. Exit 0 with lines on
    stdout; exit 1 with a message on stderr and nothing on stdout."""
    try:
        params = parse(spec, sys.argv[1:] if argv is None else argv)
        sock = params.pop("socket", None)
        answer = get(f"/v1/lines/{spec.monitor}", params, sock)
    except ClientError as e:
        sys.stderr.write(f"{spec.prog}: {e}\n")
        return 1
    for note in answer.notes:
        sys.stderr.write(f"{spec.prog}: {note}\n")
    if answer.status != 200:
        sys.stderr.write(f"{spec.prog}: {answer.body.strip() or f'HTTP {answer.status}'}\n")
        return 1
    sys.stdout.write(answer.body)
    return 0
