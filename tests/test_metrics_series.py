from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hinedockd.metrics.figures import (
    PERCPU_UNAVAILABLE,
    KeyCursors,
    container_figures,
    key_window,
)
from hinedockd.metrics.sample import Sample
from hinedockd.metrics.series import Series
from hinedockd.model import Container, ContainerState

BASE = Sample(t=1000.0, cpu_total=0, percpu=(0, 0), online_cpus=2, rss=1 << 20,
              mem_limit=8 << 30, mem_stats={"rss": 1 << 20}, cgroup=1, blk_read=0,
              blk_write=0, rx_bytes=0, tx_bytes=0, rx_packets=0, tx_packets=0)
RUNNING = Container(id="a" * 64, name="web1", state=ContainerState.RUNNING)


def feed(series: Series, seconds: int, cpu_per_s: int = 500_000_000, io_per_s: int = 100,
         start: float = 1000.0) -> None:
    for i in range(seconds + 1):
        series.push(BASE._replace(
            t=start + i, cpu_total=cpu_per_s * i, percpu=(cpu_per_s * i, 0),
            blk_write=io_per_s * i, rx_bytes=2 * io_per_s * i, rx_packets=i))


def test_rates_over_a_window() -> None:
    s = Series(retention=900)
    feed(s, 300)
    f = container_figures(RUNNING, s, window=60, now=None, host_memory=16 << 30,
                          scale="host").figures
    assert f is not None
    assert f.window.seconds == 60
    assert f.cpu.percent == pytest.approx(25.0)  # half a core of two
    assert f.cpu.per_core == pytest.approx([50.0, 0.0])
    assert f.disk.write_bytes == 6000
    assert f.disk.write_per_second == pytest.approx(100)
    assert f.net is not None and f.net.rx_bytes_per_second == pytest.approx(200)
    assert f.memory is not None and f.memory.host_percent == pytest.approx(100 / 16384)
    core = container_figures(RUNNING, s, window=60, now=None, host_memory=16 << 30,
                             scale="core").figures
    assert core is not None and core.cpu.percent == pytest.approx(50.0)


def test_long_windows_come_from_the_coarse_ring() -> None:
    s = Series(retention=900, fine_seconds=120)
    feed(s, 900)
    d = s.delta(600)
    assert d is not None
    assert d.seconds == pytest.approx(600, abs=10)
    assert d.counters["cpu"] / d.seconds == pytest.approx(500_000_000)


def test_window_is_capped_by_retention_and_history() -> None:
    s = Series(retention=900)
    feed(s, 30)
    d = s.delta(600)
    assert d is not None and d.seconds == 30  # the answer says what it covers


def test_counter_going_backwards_starts_a_new_series() -> None:
    s = Series(retention=900)
    feed(s, 100)
    feed(s, 10, start=1101.0)  # restarted container: counters from zero
    assert s.resets == 1
    d = s.delta(300)
    assert d is not None and d.seconds == 10
    assert all(v >= 0 for v in d.counters.values())


def test_one_snapshot_is_not_enough() -> None:
    s = Series(retention=900)
    s.push(BASE)
    f = container_figures(RUNNING, s, window=60, now=None, host_memory=1, scale="host")
    assert f.figures is None and f.error == "no stats yet"


def test_cgroup_v2_per_core_is_an_error_not_zeros() -> None:
    s = Series(retention=900)
    for i in range(3):
        s.push(BASE._replace(t=1000.0 + i, percpu=None, cgroup=2,
                                   cpu_total=i * 10**9))
    f = container_figures(RUNNING, s, window=60, now=None, host_memory=1 << 30,
                          scale="host").figures
    assert f is not None and f.cpu.per_core is None
    assert f.cpu.per_core_error == PERCPU_UNAVAILABLE


def test_memory_is_bounded_for_the_whole_retention() -> None:
    s = Series(retention=900)
    feed(s, 1800)
    before = s.memory_bytes()
    feed(s, 1800, start=2801.0, cpu_per_s=600_000_000)
    assert s.memory_bytes() == before < 64 * 1024


def test_key_cursors() -> None:
    k: KeyCursors[float] = KeyCursors(max_keys=2)
    assert key_window(k, "a", 100.0, default=60, retention=900) == 60  # first call
    assert key_window(k, "a", 400.0, default=60, retention=900) == 300
    assert key_window(k, "a", 5000.0, default=60, retention=900) == 900  # capped
    assert key_window(k, "a", 4000.0, default=60, retention=900) == 60  # clock went back
    key_window(k, "b", 5000.0, 60, 900)
    key_window(k, "c", 5000.0, 60, 900)  # evicts "a"
    assert key_window(k, "a", 5100.0, default=60, retention=900) == 60
    assert k.swap("c", 1.0) == 5000.0


@given(st.lists(st.tuples(st.floats(0.1, 5), st.integers(-10**9, 10**9)), min_size=2,
                max_size=200), st.floats(1, 900))
def test_rates_are_never_negative(steps: list[tuple[float, int]], window: float) -> None:
    s = Series(retention=900)
    t, cpu = 0.0, 10**12
    for dt, dc in steps:
        t, cpu = t + dt, max(0, cpu + dc)
        s.push(BASE._replace(t=t, cpu_total=cpu, percpu=(cpu, 0)))
    d = s.delta(window)
    if d is not None:
        assert d.seconds > 0
        assert all(v >= 0 for v in d.counters.values())


def test_a_stopped_container_has_no_figures_even_with_history() -> None:
    s = Series(retention=900)
    feed(s, 30)
    stopped = dataclasses.replace(RUNNING, state=ContainerState.EXITED)
    f = container_figures(stopped, s, window=60, now=None, host_memory=1 << 30, scale="host")
    assert f.figures is None and f.error == "not running (exited)"


@given(every=st.sampled_from([5.0, 10.0, 30.0, 60.0]),
       window=st.floats(min_value=60, max_value=600),
       since_last=st.floats(min_value=0, max_value=1))
def test_polled_windows_end_within_one_interval_of_the_asked_ones(
        every: float, window: float, since_last: float) -> None:
    """The bound the README states for `stats = "poll"`: with a sample every `every`
    seconds, the window an answer covers starts and ends within one interval of the
    one asked for (`now - window` .. `now`), so a `-k` average over a Hinemos
    interval of T seconds covers T ± one sampling interval."""
    s = Series(retention=900)
    n = int(900 // every)
    for i in range(n + 1):
        s.push(BASE._replace(t=1000.0 + i * every, cpu_total=int(i * every * 1e9)))
    last = 1000.0 + n * every
    now = last + since_last * every  # anywhere up to the next round
    d = s.delta(window, now)
    assert d is not None
    assert now - d.end <= every and abs(d.start - (now - window)) <= every
    # A steady load reads the same whatever the edges: one core of two is 50 %.
    f = container_figures(RUNNING, s, window=window, now=now, host_memory=16 << 30,
                          scale="host").figures
    assert f is not None and f.cpu.percent == pytest.approx(50.0)


def test_one_callers_keys_never_evict_anothers() -> None:
    """10,001 keys from one reader (uid 1000) forget that reader's oldest key only."""
    k: KeyCursors[float] = KeyCursors(max_keys=10_000)
    assert key_window(k, "cpu", 100.0, 60, 900, owner=0) == 60
    for i in range(10_001):
        k.swap(f"flood{i}", 1.0, owner=1000)
    assert key_window(k, "cpu", 400.0, 60, 900, owner=0) == 300  # root's cursor kept
    assert k.swap("flood0", 2.0, owner=1000) is None  # the reader's own oldest went
    assert k.swap("cpu", 2.0, owner=1000) is None  # the same key name, another caller


def test_absent_memory_and_network_are_none_not_zero() -> None:
    s = Series(retention=900)
    for i in range(3):
        s.push(BASE._replace(t=1000.0 + i, cpu_total=i * 10**8,
                             absent=frozenset({"memory", "network"})))
    f = container_figures(RUNNING, s, window=60, now=None, host_memory=16 << 30,
                          scale="host").figures
    assert f is not None and f.memory is None and f.net is None
    assert f.cpu.percent > 0 and f.disk.write_bytes == 0  # the rest is there
    from hinedockd.hinemos.customtrap import figure_items

    keys = ["cpu_usage", "host_mem_usage", "limit_mem_usage", "nw_rxkb", "nw_txpck"]
    assert [i.key for i in figure_items(f, None, keys, "2026-12-04")] == ["cpu_usage"]
