"""`hinedock`: the daemon's cached figures as `key,value` lines for Hinemos custom
monitors. Stdlib only, and light, so that it starts in milliseconds.

usage: hinedock COMMAND [options]   (hinedock COMMAND --help for its options)

  status   the daemon and its hosts (--json for the raw answer)
  host     engine health (Status,0|1); `host count`: containers per state;
           `host size`: disk usage of images and containers per state
  cpu      CPU percent per container (--core: per core)
  mem      memory per container: percent of the host (--limit: of its limit;
           --detail: every memory_stats.stats key)
  disk     disk read/write bytes over the window (--per-second for rates)
  net      network bytes (--packets) received/sent over the window
  proc     processes whose program/arguments match --prog/--args regexes
  states   container states as numbers (running 0, paused 1, restarting 2,
           created 3, exited 4, dead 5, removing 6)
  health   health checks (healthy 0, unhealthy 1, starting 2)
  restarts restart_count (the engine's) and restarts seen over the window
  oom      oom_killed (last exit an OOM kill: 1) and oom events over the window
  exit     the last exit code
  uptime   seconds since the container started (0 when not running)
  top      a live view of the containers' figures (like docker stats)
  job      start | stop | restart | rm | exec | download, on containers selected
           with -c ID or -n NAME (a trailing * for a prefix)
"""

from __future__ import annotations

import sys
import time

from hinedockd.client.args import TARGET_HELP, TARGET_VALUES, Spec, parse, run
from hinedockd.client.transport import ClientError, get, quote

WINDOW_VALUES = {"--window": "window", "-k": "key"}
WINDOW_HELP = (
    "  --window SECONDS   average over the last SECONDS (up to the daemon's retention)",
    "  -k KEY_ID          average since the previous call with this key",
)
PER_SECOND = {"--per-second": ("per_second", "1")}


def _spec(name: str, monitor: str, about: str, flags: dict[str, tuple[str, str]],
          extra_help: tuple[str, ...], windowed: bool = True,
          fixed: dict[str, str] | None = None,
          values: dict[str, str] | None = None) -> Spec:
    return Spec(f"hinedock {name}", about, monitor, flags=flags,
                values={**TARGET_VALUES, **(WINDOW_VALUES if windowed else {}), **(values or {})},
                fixed=fixed, help_lines=(*TARGET_HELP, *(WINDOW_HELP if windowed else ()),
                                         *extra_help))


SPECS = {
    "cpu": _spec("cpu", "cpu", "CPU percent per container.",
                 {"--core": ("core", "1"), "--with-host": ("with_host", "1")},
                 ("  --core             per core (cgroup v1 hosts only)",
                  "  --with-host        also cpu_usage:host, the host's CPU outside the "
                  "containers (SNMP)",
                  "  --scale host|core  host: percent of the whole host (default); core: "
                  "percent of one core, as docker stats"), values={"--scale": "scale"}),
    "mem": _spec("mem", "mem", "Memory (rss) per container.",
                 {"--limit": ("of", "limit"), "--detail": ("of", "detail"),
                  "--with-host": ("with_host", "1")},
                 ("  --limit            percent of the container's memory limit",
                  "  --detail           every memory_stats.stats key",
                  "  --with-host        also host_mem_usage:host, the host's memory outside "
                  "the containers (SNMP)"), windowed=False),
    "disk": _spec("disk", "disk", "Disk bytes read/written over the window.",
                  {"--read": ("read", "1"), "--write": ("write", "1"), **PER_SECOND},
                  ("  --read, --write    only reads / only writes (default both)",
                   "  --per-second       bytes per second instead")),
    "net": _spec("net", "net", "Network traffic over the window.",
                 {"--bytes": ("bytes", "1"), "--packets": ("packets", "1"),
                  "--rx": ("rx", "1"), "--tx": ("tx", "1"), **PER_SECOND},
                 ("  --bytes, --packets what to count (default bytes)",
                  "  --rx, --tx         only received / only sent (default both)",
                  "  --per-second       per second instead")),
    "proc": _spec("proc", "proc", "Processes per container matching the patterns.", {},
                  ("  --prog REGEX       the program (full path or base name) must match",
                   "  --args REGEX       the arguments must match"), windowed=False,
                  values={"--prog": "prog", "--args": "args"}),
    "states": _spec("states", "states", "Container states as numbers.", {}, (),
                    windowed=False),
    "health": _spec("health", "health", "Health check results: healthy 0, unhealthy 1, "
                    "starting 2 (no line without a check).", {}, (), windowed=False),
    "restarts": _spec("restarts", "restarts", "The engine's restart count, and the "
                      "restarts seen over the window.", {}, ()),
    "oom": _spec("oom", "oom", "1 when the last exit was an OOM kill, and the oom events "
                 "over the window.", {}, ()),
    "exit": _spec("exit", "exit", "The last exit code of each container.", {}, (),
                  windowed=False),
    "uptime": _spec("uptime", "uptime", "Seconds since each container started (0 when "
                    "not running), and since its last state change.", {}, (),
                    windowed=False),
}
HOST_WHAT = ("status", "count", "size")


def _status(argv: list[str]) -> int:
    params = {} if "--json" in argv else {"format": "table"}
    sock = argv[argv.index("--socket") + 1] if "--socket" in argv[:-1] else None
    try:
        answer = get("/v1/status", params, sock)
    except ClientError as e:
        sys.stderr.write(f"hinedock status: {e}\n")
        return 1
    sys.stdout.write(answer.body + ("\n" if "--json" in argv else ""))
    return 0 if answer.status == 200 else 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "status":
        return _status(rest)
    if command == "top":
        return _top(rest)
    if command == "job":
        from hinedockd.client import jobs

        return jobs.main(rest)
    if command == "host":
        what = rest[0] if rest and rest[0] in HOST_WHAT else "status"
        rest = rest[1:] if rest and rest[0] in HOST_WHAT else rest
        spec = Spec(f"hinedock host {what}", "Engine health, containers per state, disk use.",
                    what, values=TARGET_VALUES, help_lines=TARGET_HELP[:2] + TARGET_HELP[4:])
        return run(spec, rest)
    if command in SPECS:
        return run(SPECS[command], rest)
    out = sys.stdout if command in ("-h", "--help") else sys.stderr
    out.write(__doc__ or "")
    if command not in ("-h", "--help"):
        sys.stderr.write(f"hinedock: unknown command {command!r}\n" if command else "")
        return 1
    return 0



def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f}{unit}" if unit != "B" else f"{n:.0f}B"
        n /= 1024
    return f"{n:.1f}GiB"


def _life_columns(f: object) -> str:
    """HEALTH, RESTARTS (the engine's count) and UP (since it started) of a container."""
    if not isinstance(f, dict):
        return f"{'':<9} {'':>8} {'':>8}"
    count = f.get("restart_count")
    up = f.get("uptime")
    return (f"{f.get('health') or '-':<9} {'-' if count is None else count:>8} "
            f"{'-' if up is None else _duration(float(up)):>8}")


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def shown(text: str) -> str:
    """Text from the engine (a name, an error) as a terminal may print it: an escape
    sequence or a line break in a hostile container's name becomes `?`. The daemon's
    `output.printable`, written again here: the client imports nothing of the daemon's
    (output.py pulls in `re`, milliseconds of every monitor's start)."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))


def top_table(data: dict[str, object], life: dict[str, object] | None = None) -> str:
    """`hinedock top`: the containers' figures from the daemon's cache, like docker
    stats, with their health, restart count and uptime (`life`: the lifecycle answer)."""
    lives = life.get("containers") if life else None
    by_id = {f["id"]: f for f in lives if isinstance(f, dict)} if isinstance(lives, list) else {}
    rows = [f"{'CONTAINER':<13} {'NAME':<24} {'CPU %':>7} {'MEM':>9} {'MEM %':>6} "
            f"{'NET RX/s':>10} {'NET TX/s':>10} {'BLK R/s':>10} {'BLK W/s':>10} "
            f"{'HEALTH':<9} {'RESTARTS':>8} {'UP':>8}"]
    containers = data.get("containers")
    for c in containers if isinstance(containers, list) else []:
        f = c.get("figures")
        if not f:
            rows.append(f"{shown(c['id'][:12]):<13} {shown(c['name'][:24]):<24} "
                        f"{shown(c.get('error') or '')}")
            continue
        # memory or net is null where the engine does not give it: "n/a", never 0
        m, n, d = f["memory"], f["net"], f["disk"]
        mem = (f"{_human(m['rss']):>9} {m['host_percent']:>6.2f}" if m
               else f"{'n/a':>9} {'n/a':>6}")
        net = (f"{_human(n['rx_bytes_per_second']):>10} {_human(n['tx_bytes_per_second']):>10}"
               if n else f"{'n/a':>10} {'n/a':>10}")
        rows.append(f"{shown(c['id'][:12]):<13} {shown(c['name'][:24]):<24} "
                    f"{f['cpu']['percent']:>7.2f} {mem} {net} "
                    f"{_human(d['read_per_second']):>10} {_human(d['write_per_second']):>10} "
                    f"{_life_columns(by_id.get(c['id']))}")
    return "\n".join(rows) + "\n"


def _top(argv: list[str]) -> int:
    import json

    spec = Spec("hinedock top", "A live view of the containers' figures, from the cache "
                "(--once: one table; --interval SECONDS, default 2; --window SECONDS).",
                None, flags={"--once": ("once", "1")},
                values={"-i": "host", "-p": "port", "--socket": "socket",
                        "--interval": "interval", "--window": "window"},
                help_lines=(*TARGET_HELP[:2], TARGET_HELP[4],
                            "  --once             print one table and exit",
                            "  --interval SECONDS refresh period (default 2)",
                            "  --window SECONDS   average over this long (default 10)"))
    try:
        params = parse(spec, argv)
        sock = params.pop("socket", None)
        host = params.pop("host", "127.0.0.1")
        once = params.pop("once", None) == "1"
        interval = float(params.pop("interval", "2"))
        params.setdefault("window", "10")
        while True:
            answer = get(f"/v1/hosts/{quote(host)}/metrics", params, sock)
            data = json.loads(answer.body)
            if answer.status != 200:
                raise ClientError(data.get("error", f"HTTP {answer.status}"))
            life = get(f"/v1/hosts/{quote(host)}/lifecycle", params, sock)
            if not once and sys.stdout.isatty():
                sys.stdout.write("\033[H\033[2J")
            sys.stdout.write(top_table(data, json.loads(life.body)
                                       if life.status == 200 else None))
            sys.stdout.flush()
            if once:
                return 0
            time.sleep(interval)
    except (ClientError, ValueError) as e:
        sys.stderr.write(f"hinedock top: {e}\n")
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
