"""What a reader or an engine controls, pure or nearly: the local API's admission
counts and the peer's credentials from a real unix socket pair (gate.py); the archive
names a download makes from an engine's container name (client/jobs.py)."""

from __future__ import annotations

import os
import socket

from hypothesis import example, given
from hypothesis import strategies as st

from hinedockd.gate import Admission, read_peer

UIDS = st.sampled_from([0, 0, 1000, 1001, 65534])
STEPS = st.lists(st.tuples(st.booleans(), UIDS), max_size=300)


@given(STEPS)
def test_no_reader_passes_its_allowance_and_root_always_has_its_own(steps: list[tuple[
        bool, int]]) -> None:
    a = Admission(per_user=3, readers=5, root=4)
    mine: dict[int, int] = {}
    for connect, uid in steps:
        if connect:
            root_had_room = uid == 0 and mine.get(0, 0) < 4
            why = a.admit(uid)
            if why is None:
                mine[uid] = mine.get(uid, 0) + 1
            else:
                assert not root_had_room, "root refused while within its own allowance"
                assert str(uid) in why or "max_connections" in why or "root" in why
        elif mine.get(uid):
            a.release(uid)
            mine[uid] -= 1
        assert all(n <= 3 for uid, n in mine.items() if uid != 0)
        assert sum(n for uid, n in mine.items() if uid != 0) <= 5
        assert mine.get(0, 0) <= 4
        assert a.held == {uid: n for uid, n in mine.items() if n}


def test_a_refused_uid_is_counted() -> None:
    a = Admission(per_user=1, readers=10)
    assert a.admit(1000) is None
    assert "max_connections_per_user" in (a.admit(1000) or "")
    assert a.refused == {1000: 1}
    a.release(1000)
    assert a.admit(1000) is None


def test_the_peer_is_the_connecting_process() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        who = read_peer(right)
        assert who is not None
        assert who.uid == os.geteuid()
        assert os.getegid() in who.gids and set(os.getgroups()) <= who.gids


def test_no_peer_on_a_tcp_socket() -> None:
    with socket.socket() as s:
        assert read_peer(s) is None


@given(st.text(), st.text())
def test_an_archive_is_always_a_file_directly_in_the_destination(name: str,
                                                                source: str) -> None:
    """The container's name comes from the engine: `../../etc/cron.d/x`, a NUL, a
    newline or 10,000 characters must still give one file name inside DEST."""
    from hinedockd.client.jobs import archive_path

    path = archive_path("/srv/dl", name, source)
    assert os.path.dirname(path) == "/srv/dl"
    base = os.path.basename(path)
    assert base not in (".", "..") and not base.startswith(".")
    assert base.isascii() and base.isprintable() and len(base.encode()) <= 255


def test_an_ordinary_archive_name_is_the_reports() -> None:
    from hinedockd.client.jobs import archive_path

    assert archive_path("d", "web1", "/var/log/") == "d/web1_var_log.tar"
    assert archive_path("d", "../../etc", "/x") == "d/etc_x.tar"


@given(st.sampled_from(["http", "https", "tcp", "HTTP"]), st.text(
    alphabet=st.characters(blacklist_characters="/@ \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0"),
    min_size=1), st.text())
@example("http", "\u1680", "")  # a Unicode space, which `\s` took for the URL's end
def test_no_password_survives_redaction(scheme: str, secret: str, around: str) -> None:
    from hinedockd.redact import redact

    text = f"{around} failed: {scheme}://user:{secret}@host:8082/x {around}"
    out = redact(text)
    assert f"{scheme}://***@host:8082/x" in out
    assert f":{secret}@" not in out


def test_redaction_leaves_urls_without_credentials_alone() -> None:
    from hinedockd.redact import crosses_network_in_clear, redact

    text = "GET http://127.0.0.1:8080/HinemosWeb/api: mail root@example.org"
    assert redact(text) == text
    assert crosses_network_in_clear("http://manager:8080/HinemosWS")
    assert not crosses_network_in_clear("http://127.0.0.1:8080/HinemosWS")
    assert not crosses_network_in_clear("https://manager:8443/HinemosWS")
