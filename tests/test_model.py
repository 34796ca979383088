from __future__ import annotations

import pytest

from hinedockd.model import (
    Container,
    ContainerState,
    StateError,
    container_from_list,
    container_state,
    event_from_json,
    matches,
    state_from_status,
)
from tests.conftest import fixture_events


@pytest.mark.parametrize("status, state", [
    ("", "exited"), ("Exited (0) 2 minutes ago", "exited"), ("Restarting (1) 3s ago", "restarting"),
    ("Up 4 minutes (Paused)", "paused"), ("Up 4 minutes", "running"), ("Created", "created"),
    ("Dead", "dead"), ("Removal In Progress", "removing"),
])
def test_state_from_status_text(status: str, state: str) -> None:
    assert state_from_status(status) == state


def test_state_field_wins_and_unknown_text_is_named() -> None:
    assert container_state("running", "Exited (0)") == "running"
    with pytest.raises(StateError, match="'Sleeping'"):
        state_from_status("Sleeping")
    with pytest.raises(StateError, match="'zombie'"):
        container_state("zombie", "")


def test_container_from_list_item() -> None:
    c = container_from_list({
        "Id": "d7ee4d6ee44cd4fc60127765408f5384f215dcd18a62545a36b42e3f91104482",
        "Names": ["/conteiner_A"], "Image": "httpd:2.4", "Command": "httpd -D FOREGROUND",
        "Ports": [{"PrivatePort": 80, "Type": "tcp"},
                  {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
        "Labels": {"hinemosAssignScopeId": "web1"}, "Status": "Up 2 minutes"})
    assert (c.name, c.state, c.short_id) == ("conteiner_A", "running", "d7ee4d6ee44c")
    assert c.ports == ("8080->80/tcp",)
    assert c.labels == {"hinemosAssignScopeId": "web1"}


def test_recorded_events_parse() -> None:
    events = [event_from_json(e) for e in fixture_events()]
    kinds = {(e.type, e.action.split(":")[0]) for e in events}
    assert ("container", "create") in kinds and ("network", "connect") in kinds
    assert all(e.time_nano > 10**18 for e in events)
    with pytest.raises(ValueError, match="Actor"):
        event_from_json({"Type": "container", "Action": "start", "timeNano": 1})


def test_selection_by_id_name_and_prefix() -> None:
    c = Container(id="4dfd0a12b9de" + "0" * 52, name="conteiner_B", state=ContainerState.RUNNING)
    assert matches(c, None, None)
    assert matches(c, "4dfd0a12b9de", None) and matches(c, "4dfd*", None)
    assert not matches(c, "4dfd", None)
    assert matches(c, None, "conteiner_*") and matches(c, None, "conteiner_B")
    assert not matches(c, None, "conteiner")
