"""Jobs from Hinemos job units: `hinedock job …` and the report's JobDocker*.py and
FileDockerContainerDownload.py. Stdlib only. Exit codes (SPEC §7): 0 all done,
9 at least one container failed, 1 an error (bad arguments, unknown host, daemon
unreachable); exec: the exit status of the (first) command."""

from __future__ import annotations

import os
import sys

from hinedockd.client.args import TARGET_HELP, TARGET_VALUES, Spec, parse
from hinedockd.client.transport import ClientError, get, open_stream, quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hinedockd.client.transport import Stream

EXIT_FAILED = 9
LIFECYCLE_FLAGS = {"start": {}, "stop": {}, "restart": {},
                   # the report's table (§4.6.2): -f, --force; -l, --link; -v, --volumes
                   "remove": {"-f": ("force", "1"), "--force": ("force", "1"),
                              "-l": ("link", "1"), "--link": ("link", "1"),
                              "-v": ("volumes", "1"), "--volumes": ("volumes", "1")}}
LIFECYCLE_HELP = {
    "start": "Start containers that are exited or created; others are skipped.",
    "stop": "Stop running containers (-t seconds of grace); others are skipped.",
    "restart": "Restart running containers (-t seconds of grace); others are skipped.",
    "remove": ("Remove exited containers; any other state fails (exit 9) unless -f. "
               "-l: links, -v: volumes."),
}


def _fail(prog: str, message: str) -> int:
    sys.stderr.write(f"{prog}: {message}\n")
    return 1


def _split(spec: Spec, argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """Options, then the rest (after `--` or the first word that is not an option)."""
    opts: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return parse(spec, opts), argv[i + 1:]
        if arg in spec.values:
            opts += argv[i:i + 2]
            i += 2
        elif arg in spec.flags or arg in ("-h", "--help") or arg.split("=")[0] in spec.values:
            opts.append(arg)
            i += 1
        else:
            return parse(spec, opts), argv[i:]
    return parse(spec, opts), []


def _target_params(params: dict[str, str]) -> tuple[list[tuple[str, str]], str | None]:
    sock = params.pop("socket", None)
    if params.get("id") and params.get("name"):
        raise ClientError("give -c (container ID) or -n (container name), not both")
    if not (params.get("id") or params.get("name")):
        raise ClientError("give -c CONTAINER_ID or -n CONTAINER_NAME")
    return sorted(params.items()), sock


def lifecycle(action: str, prog: str, argv: list[str] | None = None) -> int:
    spec = Spec(prog, LIFECYCLE_HELP[action], None, flags=LIFECYCLE_FLAGS[action],
                values={**TARGET_VALUES, **({"-t": "t"} if action in ("stop", "restart")
                                            else {})},
                help_lines=(*TARGET_HELP, "  -t WAIT            seconds to wait before killing"
                            if action in ("stop", "restart") else "  (no other options)"))
    try:
        params, sock = _target_params(parse(spec, sys.argv[1:] if argv is None else argv))
        answer = open_stream("POST", f"/v1/jobs/{action}", params, sock)
        body = b"".join(answer.chunks()).decode("utf-8", "replace")
        answer.close()
    except ClientError as e:
        return _fail(prog, str(e))
    if answer.status != 200:
        return _fail(prog, body.strip() or f"HTTP {answer.status}")
    sys.stdout.write(body)
    return EXIT_FAILED if answer.headers.get("hinedock-exit") == "9" else 0


def run_exec(prog: str, params: dict[str, str], command: list[str], sock: str | None,
             timeout: float | None) -> int:
    """Stream each container's stdout and stderr as they come; the first command's
    exit status is ours (the report's rule), 9 if a container could not run it."""
    query = [*sorted(params.items()), *(("arg", a) for a in command)]
    answer = open_stream("POST", "/v1/exec", query, sock, timeout)
    try:
        if answer.status != 200:
            body = b"".join(answer.chunks()).decode("utf-8", "replace")
            return _fail(prog, body.strip() or f"HTTP {answer.status}")
        return _exec_frames(prog, answer)
    finally:
        answer.close()


def _exec_frames(prog: str, answer: Stream) -> int:
    out, err = sys.stdout.buffer, sys.stderr.buffer
    first: int | None = None
    failed = False
    current = ""
    while line := answer.readline():
        kind, _, rest = line.rstrip(b"\n").partition(b" ")
        if kind in (b"O", b"E"):
            data = answer.read(int(rest))
            target = out if kind == b"O" else err
            target.write(data)
            target.flush()
        elif kind == b"S":
            current = rest.decode("utf-8", "replace")
        elif kind == b"X":
            code = int(rest)
            first = code if first is None else first
        elif kind == b"F":
            failed = True
            err.write(f"{prog}: {current}: {rest.decode('utf-8', 'replace')}\n".encode())
            err.flush()
            first = EXIT_FAILED if first is None else first
    if first is None:
        return _fail(prog, "the daemon's answer ended early")
    return first if not failed or first != EXIT_FAILED else EXIT_FAILED


def exec_command(argv: list[str] | None = None, prog: str = "hinedock job exec") -> int:
    spec = Spec(prog, "Run a command in containers: argv form (after --), or --shell for "
                "sh -c. Output streams as it comes; the first command's exit status is ours.",
                None, flags={"--shell": ("shell", "1")},
                values={**TARGET_VALUES, "--timeout": "timeout"},
                help_lines=(*TARGET_HELP, "  --shell            run the command through sh -c",
                            "  --timeout SECONDS  give up after this long (default: never)"))
    try:
        params, command = _split(spec, sys.argv[1:] if argv is None else argv)
        shell = params.pop("shell", None) == "1"
        timeout = float(params.pop("timeout")) if params.get("timeout") else None
        query, sock = _target_params(params)
        if not command:
            raise ClientError("no command given")
        if shell:
            command = ["sh", "-c", " ".join(command)]
        return run_exec(prog, dict(query), command, sock, timeout)
    except (ClientError, ValueError) as e:
        return _fail(prog, str(e))
    except TimeoutError:
        return _fail(prog, "--timeout reached")


NAME_PART_MAX = 100  # characters of each part of an archive's name (NAME_MAX is 255 bytes)


def safe_name(text: str) -> str:
    """A container path (or a name the engine sent) as part of a file name:
    `/var/log/` -> `var_log`; nothing but letters, digits, `-` and `.` survives, so no
    part can hold a `/`, a control character or a NUL."""
    clean = "".join(c if (c.isascii() and c.isalnum()) or c in "-." else "_"
                    for c in text.strip("/"))
    return clean.strip("_")[:NAME_PART_MAX].strip("._") or "root"


def archive_path(dest: str, name: str, source: str) -> str:
    """`DEST/<name>_<path>.tar`, always a file directly in DEST: the name comes from the
    engine (untrusted: `../../etc/cron.d/x` must not leave DEST)."""
    return os.path.join(dest, f"{safe_name(name)}_{safe_name(source)}.tar")


def _listing(path: str) -> str:
    """The archive's table of contents, as `tar -tv` prints it."""
    import stat
    import tarfile
    import time

    rows = []
    with tarfile.open(path) as tar:
        for m in tar:
            mode = stat.filemode(m.mode | {tarfile.DIRTYPE: stat.S_IFDIR,
                                           tarfile.SYMTYPE: stat.S_IFLNK}.get(m.type,
                                                                              stat.S_IFREG))
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.mtime))
            name = m.name + ("/" if m.isdir() and not m.name.endswith("/") else "")
            link = f" -> {m.linkname}" if m.issym() else ""
            rows.append(f"{mode} {m.uname or m.uid}/{m.gname or m.gid} {m.size:>9} {stamp} "
                        f"{name}{link}")
    return "".join(r + "\n" for r in rows)


def download(argv: list[str] | None = None, prog: str = "hinedock job download",
             report: bool = False) -> int:
    """`report`: the report's FileDockerContainerDownload.py, which documents exit 0 and
    1 only and overwrites: a job with a fixed DESTINATION runs on every schedule (the
    new archive replaces the old one whole, or not at all). `hinedock job download`
    keeps an existing archive unless --force, and exits 9 when one container failed."""
    about = ("Download a file or directory from containers as a tar archive (owner, group "
             "and mode kept): DEST/<name>_<path>.tar, then its listing.")
    if report:
        spec = Spec(prog, about + " An existing archive is replaced.", None,
                    values=TARGET_VALUES, help_lines=TARGET_HELP)
    else:
        spec = Spec(prog, about, None, flags={"--force": ("force", "1")}, values=TARGET_VALUES,
                    help_lines=(*TARGET_HELP,
                                "  --force            overwrite an existing archive"))
    import json

    try:
        params, rest = _split(spec, sys.argv[1:] if argv is None else argv)
        force = report or params.pop("force", None) == "1"
        if len(rest) != 2:
            raise ClientError("give SOURCE (a path in the container) and DESTINATION "
                              "(a local directory)")
        source, dest = rest
        if not os.path.isdir(dest):
            raise ClientError(f"{dest} is not a directory")
        query, sock = _target_params(params)
        q = dict(query)
        host = q.pop("host", "127.0.0.1")
        listed = get(f"/v1/hosts/{quote(host)}/containers", q, sock)
        if listed.status != 200:
            raise ClientError(json.loads(listed.body).get("error", f"HTTP {listed.status}"))
        containers = json.loads(listed.body)["containers"]
    except ClientError as e:
        return _fail(prog, str(e))
    failed = False
    for c in containers:
        try:
            target = archive_path(dest, c["name"], source)
            _download_one(c, source, target, force, dict(query), sock)
            sys.stdout.write(target + "\n" + _listing(target))
        except Refused as e:  # not this container's failure: nobody may, whichever
            return _fail(prog, str(e))
        except ClientError as e:
            failed = True
            sys.stderr.write(f"{prog}: {c['id'][:12]} {c['name']}: {e}\n")
    return (1 if report else EXIT_FAILED) if failed else 0


class Refused(ClientError):
    """The daemon refuses this caller any job (403): an error of the run, exit 1."""


def _download_one(c: dict[str, str], source: str, target: str, force: bool,
                  query: dict[str, str], sock: str | None) -> None:
    """The archive streamed into a file made for it alone, then renamed over the target.

    Jobs run as root, and DEST may be writable by others: the partial file was once
    `<target>.<pid>.part`, opened with a plain open(), and a local user's symlinks
    planted for the next PIDs made root overwrite any file. Now it is created with
    O_CREAT|O_EXCL under a random name (mkstemp: an existing name or a symlink fails,
    never follows), and rename() replaces whatever is at the target without following
    it. A target that is a symbolic link fails the job."""
    import tempfile

    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    if st is not None:
        import stat

        if stat.S_ISLNK(st.st_mode):
            raise ClientError(f"{target} is a symbolic link; not followed (remove it)")
        if not force:
            raise ClientError(f"{target} exists (--force to overwrite)")
    query.pop("name", None)
    query["id"], query["path"] = c["id"], source
    answer = open_stream("GET", "/v1/archive", sorted(query.items()), sock)
    partial = None
    try:
        if answer.status != 200:
            why = b"".join(answer.chunks()).decode("utf-8", "replace").strip()
            raise (Refused if answer.status == 403 else ClientError)(why)
        fd, partial = tempfile.mkstemp(dir=os.path.dirname(target) or ".",
                                       prefix=f".{os.path.basename(target)}.", suffix=".part")
        umask = os.umask(0o022)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as a plain open() would have made it
        with os.fdopen(fd, "wb") as f:  # streamed: never the whole archive in memory
            for chunk in answer.chunks():
                f.write(chunk)
        os.replace(partial, target)
        partial = None
    except OSError as e:
        raise ClientError(f"cannot write {target}: {e.strerror or e}") from None
    finally:
        answer.close()
        if partial is not None:  # (not contextlib: 3 ms of the client's start to import)
            try:  # noqa: SIM105
                os.unlink(partial)
            except OSError:
                pass


def main(argv: list[str]) -> int:
    """`hinedock job ACTION …`"""
    action, rest = (argv[0], argv[1:]) if argv else ("", [])
    if action in ("start", "stop", "restart"):
        return lifecycle(action, f"hinedock job {action}", rest)
    if action in ("rm", "remove"):
        return lifecycle("remove", "hinedock job rm", rest)
    if action == "exec":
        return exec_command(rest)
    if action == "download":
        return download(rest)
    return _fail("hinedock job", "ACTION is one of start, stop, restart, rm, exec, download")


# ---- the report's command names -------------------------------------------------

def report_command(argv: list[str] | None = None) -> int:
    """JobDockerContainerCommand.py [-i -p -c -n] COMMAND: COMMAND split like a shell."""
    import shlex

    prog = "JobDockerContainerCommand.py"
    spec = Spec(prog, "Run COMMAND in the containers.", None, values=TARGET_VALUES,
                help_lines=TARGET_HELP)
    try:
        params, rest = _split(spec, sys.argv[1:] if argv is None else argv)
        if len(rest) != 1:
            raise ClientError('give the command as one argument, e.g. "find /root"')
        query, sock = _target_params(params)
        return run_exec(prog, dict(query), shlex.split(rest[0]), sock, None)
    except (ClientError, ValueError) as e:
        return _fail(prog, str(e))


def report_download(argv: list[str] | None = None) -> int:
    return download(argv, "FileDockerContainerDownload.py", report=True)


def report_start(argv: list[str] | None = None) -> int:
    return lifecycle("start", "JobDockerContainerStart.py", argv)


def report_stop(argv: list[str] | None = None) -> int:
    return lifecycle("stop", "JobDockerContainerStop.py", argv)


def report_restart(argv: list[str] | None = None) -> int:
    return lifecycle("restart", "JobDockerContainerRestart.py", argv)


def report_rm(argv: list[str] | None = None) -> int:
    return lifecycle("remove", "JobDockerContainerRm.py", argv)
