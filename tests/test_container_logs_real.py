"""Containers' own output to a real rsyslog, on every engine (Docker 20.10 and Podman 4.3
here, Docker 26 and Podman 5 on today's host): a selected container's lines arrive as
one message each with its node's HOSTNAME, an unselected one's never; a stack trace is
one message; a TTY's lines too; a daemon stopped and started, or killed, while a
container logs numbered lines loses none (and, stopped cleanly, repeats none); a
container logging as fast as it can is limited and announced while another one's
lines keep arriving."""

from __future__ import annotations

import contextlib
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hinedockd.persist import logs_file
from tests.hinemos_syslog import Parsed, parse
from tests.realparts import (
    ENGINE_URLS,
    ENGINES,
    Daemon,
    Rsyslog,
    docker,
    run_container,
    start_daemon,
    wait_for,
)

RATE, BURST = 50, 200


@pytest.fixture(scope="module")
def daemon(engine_cli: str, rsyslog: Rsyslog,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    yield from start_daemon(tmp_path_factory.mktemp(f"hinedockd-logs-{engine_cli}"), f"""
[[syslog]]
target = "tcp://127.0.0.1:{rsyslog.port}"
queue_size = 100000
[logs]
continuation = '^\\s'
lines_per_second = {RATE}
burst = {BURST}
report_seconds = 2
severity_patterns = [{{pattern = "ERROR|FATAL", severity = "err"}}]
""", host_url=ENGINE_URLS[engine_cli], stats="poll")


SELECTED = ("-l", "hinedock.logs=true")


def from_container(rsyslog: Rsyslog, cid: str, tag: str = "") -> list[Parsed]:
    """The messages whose HOSTNAME is the container's 12-character ID (its node name)."""
    return [p for p in map(parse, rsyslog.lines())
            if p.hostname == cid[:12] and (not tag or p.tag == tag)]


def logged(rsyslog: Rsyslog, cid: str) -> list[Parsed]:
    """The container's own lines (not its state messages)."""
    return [p for p in from_container(rsyslog, cid) if p.tag.startswith("hinedockd-std")]


def numbered(rsyslog: Rsyslog, cid: str) -> list[int]:
    """The numbered lines received, of both streams."""
    return [int(m.group(1)) for tag in ("hinedockd-stdout", "hinedockd-stderr")
            for p in from_container(rsyslog, cid, tag)
            if (m := re.fullmatch(r"line (\d+)", p.message))]


def all_up_to_the_last(got: list[int]) -> bool:
    return bool(got) and sorted(set(got)) == list(range(1, max(got) + 1))


def rewritten(path: Path, times: int) -> None:
    """Until the file has been replaced `times` times from now: the last of them holds a
    checkpoint taken after this call (an earlier one may have waited for its messages)."""
    seen = [path.read_bytes()]

    def replaced() -> bool:
        now = path.read_bytes()
        if now != seen[-1]:
            seen.append(now)
        return len(seen) > times

    wait_for(replaced, within=30, what=f"{path.name} replaced {times} times")


def severity(p: Parsed) -> int:
    return p.pri % 8


def test_a_selected_containers_lines_arrive_as_its_node_an_unselected_ones_never(
        daemon: Daemon, rsyslog: Rsyslog, engine_cli: str) -> None:
    quiet = run_container("lquiet", "sh", "-c", "echo 'ERROR not for syslog'; sleep 3600",
                          cli=engine_cli)
    cid = run_container("lsel", "sh", "-c", "echo 'ERROR disk full on /data'; "
                        "echo 'a note on stderr' >&2; sleep 3600", extra=SELECTED,
                        cli=engine_cli)
    wait_for(lambda: len(logged(rsyslog, cid)) >= 2, what="both lines")
    out = from_container(rsyslog, cid, "hinedockd-stdout")
    err = from_container(rsyslog, cid, "hinedockd-stderr")
    assert [p.message for p in out] == ["ERROR disk full on /data"]
    assert [p.message for p in err] == ["a note on stderr"]
    assert severity(out[0]) == 3 and severity(err[0]) == 5  # err by pattern; stderr notice
    # The unselected container printed first: had it been followed, its line would be here.
    assert not any("not for syslog" in line for line in rsyslog.lines())
    followed = {f["name"]: f for f in daemon.status_all()["logs"]}
    assert "hdt_lquiet" not in followed and followed["hdt_lsel"]["sent"] == 2
    docker("rm", "-f", quiet, cid, cli=engine_cli)


def test_a_stack_trace_is_one_message_and_a_tty_line_has_no_carriage_return(
        daemon: Daemon, rsyslog: Rsyslog, engine_cli: str) -> None:
    trace = run_container("ltrace", "sh", "-c", "printf 'Exception in main\\n\\tat a.B(B.java:1)"
                          "\\n\\tat c.D(D.java:2)\\nnext line\\n'; sleep 3600", extra=SELECTED,
                          cli=engine_cli)
    tty = run_container("ltty", "sh", "-c", "echo 'on a tty'; sleep 3600",
                        extra=(*SELECTED, "-t"), cli=engine_cli)
    wait_for(lambda: len(logged(rsyslog, trace)) >= 2, what="the trace and the next line")
    assert [p.message for p in logged(rsyslog, trace)] == [
        "Exception in main\\n at a.B(B.java:1)\\n at c.D(D.java:2)", "next line"]
    wait_for(lambda: len(logged(rsyslog, tty)) >= 1, what="the tty's line")
    assert [p.message for p in logged(rsyslog, tty)] == ["on a tty"]
    docker("rm", "-f", trace, tty, cli=engine_cli)


def test_a_daemon_stopped_or_killed_while_a_container_logs_loses_no_line(
        daemon: Daemon, rsyslog: Rsyslog, engine_cli: str) -> None:
    """Every third line on stderr: each stream resumes from its own cursor (Docker 26
    stamps the two streams apart)."""
    cid = run_container("lcount", "sh", "-c", "i=0; while true; do i=$((i+1)); "
                        "if [ $((i % 3)) = 0 ]; then echo \"line $i\" >&2; "
                        "else echo \"line $i\"; fi; sleep 0.05; done",
                        extra=SELECTED, cli=engine_cli)
    wait_for(lambda: len(numbered(rsyslog, cid)) >= 20, what="the first lines")
    daemon.stop(signal.SIGTERM)  # a clean stop: what was sent is saved, nothing twice
    time.sleep(2)
    daemon.start()
    wait_for(lambda: len(numbered(rsyslog, cid)) >= 120, within=60, what="lines after a restart")
    after_clean = numbered(rsyslog, cid)
    assert len(after_clean) == len(set(after_clean)), "lines repeated after a clean stop"
    # The restart sent the lines written while it was away in one burst, saved by its next
    # checkpoint (each second, once sent): a crash before that one sends the whole burst
    # again (99 lines on Podman 5 in CI), as the persister documents. Crash after it.
    rewritten(logs_file(str(daemon.config.parent / "state"), "docker_host1"), times=3)
    daemon.stop(signal.SIGKILL)  # a crash: nothing lost, the last second may come again
    time.sleep(2)
    daemon.start()
    wait_for(lambda: len(set(numbered(rsyslog, cid))) >= len(after_clean) + 100, within=60,
             what="lines after a crash")
    docker("rm", "-f", cid, cli=engine_cli)
    with contextlib.suppress(AssertionError):  # the last lines may still be on their way
        wait_for(lambda: all_up_to_the_last(numbered(rsyslog, cid)), within=10)
    got = numbered(rsyslog, cid)
    lost = sorted(set(range(1, max(got) + 1)) - set(got))
    assert not lost, f"lines lost: {lost[:20]}"
    repeated = len(got) - len(set(got))
    assert repeated <= 2 * 20 + 5, f"{repeated} lines repeated after the crash"
    print(f"{engine_cli}: {len(set(got))} lines, {repeated} repeated after SIGKILL")


def test_a_flood_is_limited_and_announced_while_another_containers_lines_arrive(
        daemon: Daemon, rsyslog: Rsyslog, engine_cli: str) -> None:
    calm = run_container("lcalm", "sh", "-c", "i=0; while true; do i=$((i+1)); "
                         "echo \"line $i\"; sleep 0.2; done", extra=SELECTED, cli=engine_cli)
    wait_for(lambda: len(numbered(rsyslog, calm)) >= 3, what="the calm container's lines")
    # today's host is emulated: its Podman 5 serves about 1,600 lines a second of a
    # container's log (curl of 20,000 lines: 12 s), so a tenth of the flood there
    total = 20000 if ENGINES[engine_cli].in_vm else 200000
    flood = run_container("lflood", "sh", "-c", f"i=0; while [ $i -lt {total} ]; do "
                          "i=$((i+1)); echo \"flood $i\"; done; sleep 3600", extra=SELECTED,
                          cli=engine_cli)

    def flood_status() -> dict[str, int]:
        return next((f for f in daemon.status_all()["logs"] if f["name"] == "hdt_lflood"),
                    {"lines": 0, "sent": 0, "dropped": 0})

    wait_for(lambda: flood_status()["lines"] >= total, within=180,
             what="the whole flood read")
    before = len(numbered(rsyslog, calm))
    wait_for(lambda: len(numbered(rsyslog, calm)) >= before + 5, what="calm lines go on")
    calm_lines = numbered(rsyslog, calm)
    assert calm_lines == list(range(1, len(calm_lines) + 1))  # none of the calm one's dropped
    wait_for(lambda: any(" log_dropped " in p.message
                         for p in from_container(rsyslog, flood, "hinedockd")),
             what="the drops announced")
    # Every line read is sent or dropped, once the last record has left the joiner
    # (`join_seconds`): CI once read the status with one line still held (19,999).
    wait_for(lambda: (f := flood_status())["sent"] + f["dropped"] == total,
             what="every line read sent or dropped")
    s = flood_status()
    assert s["dropped"] > 0 and s["sent"] + s["dropped"] == total
    sent = [p for p in from_container(rsyslog, flood, "hinedockd-stdout")]
    assert BURST <= len(sent) == s["sent"]
    dropped = sum(int(m.group(1)) for p in from_container(rsyslog, flood, "hinedockd")
                  if (m := re.search(r" log_dropped name=hdt_lflood lines=(\d+) ", p.message)))
    wait_for(lambda: sum(int(m.group(1)) for p in from_container(rsyslog, flood, "hinedockd")
                         if (m := re.search(r" log_dropped name=hdt_lflood lines=(\d+) ",
                                            p.message))) == s["dropped"],
             what="every drop announced")
    assert dropped <= s["dropped"]
    docker("rm", "-f", calm, flood, cli=engine_cli)
