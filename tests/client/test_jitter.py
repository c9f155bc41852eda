"""A fleet that restarts without a stampede (issue 13): the jitter's bounds, its settings, and
that start-up, the re-sync after a ZooKeeper session loss and the safety net draw from it.
Structural: the delays are recorded (and replaced), never timed."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kazoo.client import KazooClient

import disconf_client.client as client_module
from disconf_client import SettingsError, disconf_file, load_settings
from disconf_client.jitter import MAX_JITTER, jitter_delay
from tests.client.conftest import Harness
from tests.helpers import wait_until


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_delay_within_bounds(bound: float) -> None:
    delay = jitter_delay(bound)
    assert 0.0 <= delay <= max(0.0, min(bound, MAX_JITTER))


def test_delay_is_spread() -> None:
    delays = {jitter_delay(10.0) for _ in range(50)}
    assert len(delays) > 40  # drawn, not a constant
    assert jitter_delay(0) == 0.0 and jitter_delay(-5) == 0.0


def test_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings(app="a", servers="h:1", properties_file=None)
    assert (defaults.start_jitter, defaults.resync_jitter) == (0.0, 2.0)
    monkeypatch.setenv("DISCONF_START_JITTER", "7.5")
    monkeypatch.setenv("DISCONF_RESYNC_JITTER", "0")
    settings = load_settings(app="a", servers="h:1", properties_file=None)
    assert (settings.start_jitter, settings.resync_jitter) == (7.5, 0.0)
    for bad in ("-1", "601", "nan", "soon"):
        with pytest.raises(SettingsError, match="start_jitter|START_JITTER"):
            load_settings(app="a", servers="h:1", properties_file=None, start_jitter=bad)
    assert math.isclose(
        load_settings(
            app="a", servers="h:1", properties_file=None, resync_jitter=600
        ).resync_jitter,
        MAX_JITTER,
    )


class Recorder:
    """Stands in for jitter_delay: records each bound with the downloads made so far."""

    def __init__(self, harness: Harness, delays: dict[float, float]) -> None:
        self.harness = harness
        self.delays = delays
        self.calls: list[tuple[float, int]] = []

    def __call__(self, bound: float) -> float:
        self.calls.append((bound, len(self.harness.server.requests_seen)))
        return self.delays.get(bound, 0.0)


def redis_class() -> type[Any]:
    @disconf_file("redis.properties")
    class Redis:
        port: int = 0

    return Redis


def test_start_waits_its_jitter_before_the_first_request(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(harness, {})
    monkeypatch.setattr(client_module, "jitter_delay", recorder)
    harness.publish_file("redis.properties", "port=1\n")
    client = harness.client([redis_class()], start_jitter=3.5, resync_jitter=1.25)
    client.start()
    assert recorder.calls[0] == (3.5, 0)  # drawn before any request
    wait_until(lambda: len(recorder.calls) >= 2, message="the safety net's first period")
    assert recorder.calls[1][0] == 1.25
    client.close()


def test_close_ends_the_start_wait(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "jitter_delay", lambda bound: 3600.0 if bound else 0.0)
    client = harness.client([redis_class()], start_jitter=5)
    client._stop.set()  # what close() sets: the wait returns at once
    with pytest.raises(Exception, match="start_jitter"):
        client.start()
    assert harness.server.requests_seen == []


def test_resync_after_session_loss_is_jittered(
    harness: Harness, zk_hosts: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Redis = redis_class()
    recorder = Recorder(harness, {7.0: 3600.0})  # the re-sync: "in an hour"
    monkeypatch.setattr(client_module, "jitter_delay", recorder)
    harness.publish_file("redis.properties", "port=1\n")
    client = harness.client([Redis], resync_jitter=7.0)
    client.start()
    assert client._watcher is not None
    drawn = len(recorder.calls)
    harness.publish_file("redis.properties", "port=5\n", notify=False)  # missed
    intruder = KazooClient(hosts=zk_hosts, client_id=client._watcher.zk.client_id, timeout=10)
    intruder.start(timeout=20)
    intruder.stop()
    intruder.close()
    wait_until(lambda: client._resync_due is not None, timeout=30, message="the re-sync drawn")
    assert [bound for bound, _ in recorder.calls[drawn:]].count(7.0) >= 1
    assert Redis.port == 1  # scheduled, not run at once
    # bring the scheduled re-fetch forward: it runs on the maintenance thread
    with client._queue_lock:
        client._resync_due = 0.0
    client._wake.set()
    wait_until(lambda: Redis.port == 5, timeout=20, message="the jittered re-fetch")
    assert client._resync_due is None


def test_resync_without_jitter_is_immediate(harness: Harness, zk_hosts: str) -> None:
    Redis = redis_class()
    harness.publish_file("redis.properties", "port=1\n")
    client = harness.client([Redis], resync_jitter=0)
    client.start()
    assert client._watcher is not None
    harness.publish_file("redis.properties", "port=5\n", notify=False)
    intruder = KazooClient(hosts=zk_hosts, client_id=client._watcher.zk.client_id, timeout=10)
    intruder.start(timeout=20)
    intruder.stop()
    intruder.close()
    wait_until(lambda: Redis.port == 5, timeout=30, message="re-fetch after session loss")
    assert client._resync_due is None


def test_writer_window_coalesces_a_burst_and_flush_cuts_it_short() -> None:
    """With a window, a burst of revisions of one config costs one write, deterministically;
    flush() does not wait for the window."""
    from disconf_client.persist import RECORD_DELAY, CoalescingWriter

    assert RECORD_DELAY > 0
    ran: list[int] = []
    writer = CoalescingWriter(delay=3600.0)  # a window longer than any test
    try:
        for revision in range(5):
            writer.submit("config", lambda r=revision: ran.append(r))
        writer.submit("other", lambda: ran.append(100))
        assert writer.flush(10.0)
        assert sorted(ran) == [4, 100] and writer.coalesced == 4
    finally:
        writer.close(10.0)


def test_node_data_applied_inline_and_never_replaced_by_an_older_one(harness: Harness) -> None:
    """Whole node data is applied on the notifying (kazoo) thread, not handed to the worker;
    an older notification the worker took before it never wins afterwards."""
    from disconf_client import disconf_item
    from disconf_core import ConfigType

    @disconf_item("rate")
    class Rate:
        value: str = "0"

    harness.publish_item("rate", "1")
    client = harness.client([Rate])
    client.start()
    key = (ConfigType.ITEM, "rate")
    threads: list[str] = []
    apply = client._apply

    def recording_apply(*args: Any, **kwargs: Any) -> bool:
        threads.append(threading.current_thread().name)
        return apply(*args, **kwargs)

    client._apply = recording_apply  # type: ignore[method-assign]
    harness.publish_item("rate", "2")  # through ZooKeeper: the watch's data
    wait_until(lambda: Rate.value == "2", message="the inline apply")
    assert threads and not any(name.startswith("disconf-worker") for name in threads)
    assert client.stats.from_notification >= 1
    older = client._notify_seq[key]
    client._notified(key, b"5")  # the newest
    assert Rate.value == "5"
    client._reload(key, node_data=b"4", seq=older)  # popped by the worker before the newest
    assert Rate.value == "5"
