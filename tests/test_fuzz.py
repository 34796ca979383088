"""Bad input, fuzzed: events, engine and manager answers, client arguments and configs
either parse or give the one clear error their layer promises; nothing else escapes.
(Any other exception in the daemon is a bug and stops it: supervisor.py.)"""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from hinedockd.client.args import Spec, parse
from hinedockd.client.transport import ClientError
from hinedockd.config import ConfigError, parse_config
from hinedockd.docker.dialect import info_from_json
from hinedockd.hinemos.backend import HinemosError, read_facilities, read_node
from hinedockd.hinemos.desired import NodeSpec
from hinedockd.hinemos.nodes import differences, merged
from hinedockd.model import event_from_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                               max_size=4),
    max_leaves=15,
)
EVENT_KEYS = st.sampled_from(["Type", "Action", "Actor", "timeNano", "time", "ID",
                              "Attributes", "status", "id"])


@given(st.dictionaries(EVENT_KEYS, JSON, max_size=6) | JSON)
def test_events(doc: Any) -> None:
    try:
        ev = event_from_json(doc)
    except ValueError:
        return
    assert isinstance(ev.type, str) and isinstance(ev.time_nano, int)
    assert all(isinstance(v, str) for v in ev.attributes.values())


INFO_KEYS = st.sampled_from(["SystemTime", "MemTotal", "NCPU", "ServerVersion", "ID"])


@given(st.dictionaries(INFO_KEYS, JSON | st.just("2026-12-05T10:00:00.123456789Z"),
                       max_size=5) | JSON)
def test_engine_info(doc: Any) -> None:
    """/info never stops a host: whatever its shape, it reads (or is not an object)."""
    info = info_from_json(doc)
    if info is not None:
        assert info.mem_total >= 0 and info.ncpu >= 0 and info.system_time_ns >= 0
        assert isinstance(info.server_version, str)


NODE_KEYS = st.sampled_from(["facilityId", "facilityName", "nodeVariableInfo",
                             "nodeHostnameInfo", "valid", "ownerRoleId", "ipAddressVersion"])
ITEM_KEYS = st.sampled_from(["nodeVariableName", "nodeVariableValue", "hostname"])
NODE_PART = st.lists(st.dictionaries(ITEM_KEYS, JSON, max_size=2), max_size=3) | JSON
SPEC_ON_HOST = NodeSpec(facility_id="h1-web", facility_name="web", node_name="4dfd0a12b9de",
                        ip_v4="10.0.0.1", valid=True, owner_role_id="ALL_USERS",
                        hostnames=("4dfd0a12b9de",),
                        variables=(("DOCKER_CONTAINER_ID", "4dfd0a12b9de"),))


@given(st.dictionaries(NODE_KEYS, NODE_PART | st.just("h1-web"), max_size=6) | JSON)
@example({"facilityId": "h1-web", "nodeHostnameInfo": [{"hostname": []}]})  # unhashable
def test_manager_node_answers(doc: Any) -> None:
    """A node the manager answers is read, or is its fault (HinemosError, retried);
    one read is one the reconciler can compare and merge."""
    try:
        node = read_node(doc, "h1-web")
    except HinemosError as e:
        assert e.kind == "HinemosUnknown" and "getNode h1-web" in str(e)
        return
    differences(node, SPEC_ON_HOST)
    assert merged(node, SPEC_ON_HOST)["facilityId"] == "h1-web"


@given(st.lists(st.dictionaries(st.sampled_from(["facilityId", "facilityType"]), JSON,
                                max_size=2), max_size=3) | JSON)
def test_manager_facility_lists(items: Any) -> None:
    try:
        read = read_facilities(items, "S")
    except HinemosError as e:
        assert e.kind == "HinemosUnknown"
        return
    assert all(isinstance(i["facilityId"], str) for i in read)


SPEC = Spec("prog", "about", "cpu", flags={"--core": ("core", "1"), "--all": ("core", "0")},
            values={"-i": "host", "-c": "id", "-n": "name", "--window": "window"})
WORDS = st.sampled_from(["-i", "-c", "-n", "--window", "--window=5", "--core", "--all", "-x",
                         "--", "web*", "", "-", "日本", "\n", "--core=1"])


@given(st.lists(WORDS | st.text(max_size=6), max_size=8))
def test_client_arguments(argv: list[str]) -> None:
    try:
        params = parse(SPEC, argv)
    except ClientError as e:
        assert str(e)
        return
    except SystemExit as e:  # the help, printed on -h/--help wherever it stands
        assert e.code == 0 and {"-h", "--help"} & set(argv)
        return
    assert set(params) <= {"host", "id", "name", "window", "core"}


KEYS = st.sampled_from(["socket", "state_dir", "retention_seconds", "default_window_seconds",
                        "cpu_scale", "relist_seconds", "log_format", "prometheus", "typo"])
VALUES = st.one_of(st.integers(-5, 10**6), st.booleans(),
                   st.text(alphabet=string.ascii_letters + string.digits + ":/._ -", max_size=12))


@settings(max_examples=200)
@given(st.dictionaries(KEYS, VALUES, max_size=5), st.booleans())
def test_configs(daemon: dict[str, Any], with_host: bool) -> None:
    lines = ["[daemon]"] + [f"{k} = {json.dumps(v)}" for k, v in daemon.items()]
    if with_host:
        lines += ["[[hosts]]", 'facility_id = "h1"', 'url = "tcp://10.0.0.1:2375"',
                  'address = "10.0.0.1"']
    try:
        cfg = parse_config("\n".join(lines), "fuzz.toml")
    except ConfigError as e:
        assert str(e).startswith("fuzz.toml: ")
        return
    assert with_host and "typo" not in daemon
    assert cfg.daemon.retention_seconds >= 60
