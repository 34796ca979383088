from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hinedockd.metrics.sample import SampleError, parse_sample, parse_time
from tests.conftest import fixture_json


def test_cgroup_v1_recorded_sample() -> None:
    s = parse_sample(fixture_json("stats-cgroupv1-engine20.10.json"))
    assert s is not None
    assert s.cgroup == 1
    assert s.cpu_total == 29633838
    assert s.percpu == (23158037, 6475801)
    assert s.online_cpus == 2
    assert s.rss == 114688
    assert s.mem_limit == 25276510208
    assert s.mem_stats["total_pgfault"] == 1993
    assert (s.blk_read, s.blk_write) == (0, 0)  # empty blkio lists on this host
    assert (s.rx_bytes, s.rx_packets, s.tx_bytes, s.tx_packets) == (796, 10, 0, 0)
    assert s.t == pytest.approx(parse_time("2026-11-28T14:26:06.465206377Z"))


def test_cgroup_v2_documented_sample() -> None:
    s = parse_sample(fixture_json("stats-cgroupv2-documented.json"))
    assert s is not None
    assert s.cgroup == 2
    assert s.percpu is None  # never zeros: the figure is "not available"
    assert s.online_cpus == 4
    assert s.rss == 270336  # `anon` stands in for rss
    assert (s.blk_read, s.blk_write) == (4096, 8192)  # lower-case ops
    assert (s.rx_bytes, s.rx_packets) == (1024, 11)  # summed over interfaces


def test_legacy_single_network_key() -> None:
    doc = fixture_json("stats-cgroupv1-engine20.10.json")
    doc["network"] = doc.pop("networks")["eth0"]
    s = parse_sample(doc)
    assert s is not None and s.rx_bytes == 796


def test_zeroed_sample_of_a_stopped_container_is_skipped() -> None:
    doc = fixture_json("stats-cgroupv1-engine20.10.json")
    doc["read"] = "0001-01-01T00:00:00Z"
    assert parse_sample(doc) is None


def test_time_parsing() -> None:
    assert parse_time("1970-01-01T00:00:01.5Z") == 1.5
    assert parse_time("2026-11-28T14:26:06Z") == 1795875966
    assert parse_time("2026-11-28T23:26:06.25+09:00") == 1795875966.25
    with pytest.raises(SampleError, match="bad time"):
        parse_time("yesterday")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("cpu_stats"), "cpu_stats"),
    (lambda d: d.__setitem__("read", 5), "read"),
    (lambda d: d["cpu_stats"]["cpu_usage"].__setitem__("total_usage", "x"), "total_usage"),
    (lambda d: d["cpu_stats"]["cpu_usage"].__setitem__("percpu_usage", [1, "2"]), "percpu"),
    (lambda d: d["networks"].__setitem__("eth0", 7), "networks"),
    (lambda d: d["blkio_stats"].__setitem__("io_service_bytes_recursive", [3]), "blkio"),
])
def test_malformed_samples_name_the_field(mutate: Any, message: str) -> None:
    doc = copy.deepcopy(fixture_json("stats-cgroupv1-engine20.10.json"))
    mutate(doc)
    with pytest.raises(SampleError, match=message):
        parse_sample(doc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                               max_size=3),
    max_leaves=6,
)
# Where a real sample can be damaged: each path is a key or an index into the
# recorded cgroup v1 sample (or one level above a leaf, to replace a whole object).
PATHS = [
    ("read",), ("cpu_stats",), ("cpu_stats", "cpu_usage"), ("cpu_stats", "online_cpus"),
    ("cpu_stats", "cpu_usage", "total_usage"), ("cpu_stats", "cpu_usage", "percpu_usage"),
    ("memory_stats",), ("memory_stats", "stats"), ("memory_stats", "stats", "rss"),
    ("memory_stats", "limit"), ("blkio_stats",), ("blkio_stats", "io_service_bytes_recursive"),
    ("networks",), ("networks", "eth0"), ("networks", "eth0", "rx_bytes"), ("network",),
]


def damaged(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


@given(st.lists(st.tuples(st.sampled_from(PATHS), json_values), min_size=1, max_size=3))
def test_a_damaged_sample_parses_to_integers_or_says_why(
        damage: list[tuple[tuple[str, ...], Any]]) -> None:
    doc = fixture_json("stats-cgroupv1-engine20.10.json")
    for path, value in damage:
        try:
            doc = damaged(doc, path, value)
        except (KeyError, TypeError, IndexError):
            break  # an earlier damage removed this path's parent
    try:
        s = parse_sample(doc)
    except SampleError as e:
        assert str(e)  # says why
        return
    if s is None:  # only the zero time of a stopped container means "no sample"
        assert isinstance(doc.get("read"), str) and doc["read"].startswith("0001-01-01")
        return
    counters = (s.cpu_total, s.online_cpus, s.rss, s.mem_limit, s.blk_read, s.blk_write,
                s.rx_bytes, s.tx_bytes, s.rx_packets, s.tx_packets)
    assert all(type(v) is int for v in counters), counters
    assert s.percpu is None or all(type(v) is int for v in s.percpu)
    assert s.online_cpus > 0 and s.cgroup in (1, 2)
    assert isinstance(s.t, float)


def test_fast_and_careful_parsers_agree_on_the_recorded_shapes() -> None:
    from hinedockd.metrics.sample import _parse_careful, _parse_common
    for name in ("stats-cgroupv1-engine20.10.json", "stats-cgroupv2-documented.json"):
        doc = fixture_json(name)
        assert _parse_common(doc) == _parse_careful(doc)


def test_a_sample_listing_more_cores_than_a_host_has_is_refused() -> None:
    """An engine's 150,000-entry `percpu_usage` (600 KB, under the line cap) would size
    one container's rings at about 1.3 GB: it is a bad sample, counted, not kept."""
    from hinedockd.metrics.sample import MAX_CORES

    doc = fixture_json("stats-cgroupv1-engine20.10.json")
    doc["cpu_stats"]["cpu_usage"]["percpu_usage"] = [1] * 150_000
    with pytest.raises(SampleError, match="150000 cores"):
        parse_sample(doc)
    doc["cpu_stats"]["cpu_usage"]["percpu_usage"] = [1] * MAX_CORES
    s = parse_sample(doc)
    assert s is not None and s.percpu is not None and len(s.percpu) == MAX_CORES


def test_docker_26_on_cgroup_v2_as_recorded() -> None:
    """Docker 26.1.5 on Debian 13 (cgroup v2, tests/data/README.md): memory is `anon`,
    block I/O ops are lower case, no per-core list; a container that wrote 10 MiB."""
    s = parse_sample(fixture_json("stats-cgroupv2-docker26.json"))
    assert s is not None and s.cgroup == 2
    assert s.rss == 53_248 and s.percpu is None and s.online_cpus == 2
    assert (s.blk_read, s.blk_write) == (0, 10 << 20)


def test_what_the_engine_does_not_give_is_absent_not_zero() -> None:
    """Issue 28: Docker on cgroup v2 without the memory controller sends `memory_stats:
    {}`; a container on the host's network (or none) has no `networks` (Docker 26 and
    Podman 5.4, seen in the VM). Both are "not available"; null blkio is 0 (Docker 26
    sends null for every container that has done no I/O yet)."""
    doc = fixture_json("stats-cgroupv2-docker26.json")
    doc = doc[0] if isinstance(doc, list) else doc
    whole = parse_sample(doc)
    assert whole is not None and whole.absent == frozenset()
    bare = copy.deepcopy(doc)
    bare["memory_stats"] = {}
    del bare["networks"]
    bare["blkio_stats"]["io_service_bytes_recursive"] = None
    s = parse_sample(bare)
    assert s is not None
    assert s.absent == {"memory", "network"}
    assert (s.rss, s.rx_bytes, s.blk_write) == (0, 0, 0)
    assert s.cpu_total == whole.cpu_total  # the rest of the sample still counts
    bare["networks"] = {}  # no interfaces listed is no interfaces too
    s = parse_sample(bare)
    assert s is not None and "network" in s.absent
