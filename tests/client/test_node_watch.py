"""NodeWatch and DirectHandler on a real ZooKeeper: changes are read and reported on kazoo's
connection thread, once per version and in order, and nothing a direct function does can stop
the session."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.retry import KazooRetry

from disconf_client import node_watch as node_watch_module
from disconf_client.node_watch import DirectHandler, NodeWatch
from disconf_web.embedded_zookeeper import EmbeddedZooKeeper
from tests.helpers import expire_session, started_kazoo, wait_until
from tests.tcp_proxy import TcpProxy

PATH = "/watched"


@pytest.fixture
def direct_zk(zk_hosts: str) -> Iterator[KazooClient]:
    with started_kazoo(zk_hosts, handler=DirectHandler()) as client:
        yield client


class Reports:
    """What on_change received, and on which threads."""

    def __init__(self) -> None:
        self.data: list[bytes | None] = []
        self.threads: set[threading.Thread] = set()

    def __call__(self, data: bytes | None) -> None:
        self.threads.add(threading.current_thread())
        self.data.append(data)


def armed(zk: KazooClient, reports: Reports) -> NodeWatch:
    watch = NodeWatch(zk, PATH, reports)
    watch.start()
    assert watch.wait_armed(10)
    return watch


def test_each_version_is_reported_once_in_order_on_the_connection_thread(
    direct_zk: KazooClient,
) -> None:
    direct_zk.create(PATH, b"v0")
    reports = Reports()
    before = DirectHandler.direct_calls
    armed(direct_zk, reports)
    for number in range(1, 6):
        value = f"v{number}".encode()
        direct_zk.set(PATH, value)
        wait_until(lambda value=value: value in reports.data, message=f"{value!r} reported")
    assert reports.data == [b"v1", b"v2", b"v3", b"v4", b"v5"]  # not v0: read when armed
    direct_zk.set(PATH, b"v5")  # same data, new version: a change (as the original server)
    wait_until(lambda: len(reports.data) == 6)
    # Neither kazoo's event nor its completion thread, nor the test's: the connection thread.
    kazoo_queues = set(direct_zk.handler._workers)
    assert reports.threads and not reports.threads & kazoo_queues
    assert threading.main_thread() not in reports.threads
    assert DirectHandler.direct_calls - before >= 12  # an event and an answer per change


def test_a_deleted_node_is_none_and_its_re_creation_is_seen(direct_zk: KazooClient) -> None:
    direct_zk.create(PATH, b"a")
    reports = Reports()
    armed(direct_zk, reports)
    direct_zk.delete(PATH)
    wait_until(lambda: reports.data == [None], message="deletion reported")
    direct_zk.create(PATH, b"b")
    wait_until(lambda: reports.data == [None, b"b"], message="re-creation reported")
    direct_zk.set(PATH, b"c")
    wait_until(lambda: reports.data == [None, b"b", b"c"], message="its data watched again")


def test_a_node_missing_when_armed_is_reported_when_created(direct_zk: KazooClient) -> None:
    reports = Reports()
    armed(direct_zk, reports)
    direct_zk.create(PATH, b"new")
    wait_until(lambda: reports.data == [b"new"], message="creation reported")


def test_a_raising_on_change_stops_neither_the_watch_nor_the_session(
    direct_zk: KazooClient,
) -> None:
    direct_zk.create(PATH, b"v0")
    seen: list[bytes | None] = []

    def on_change(data: bytes | None) -> None:
        seen.append(data)
        if data == b"v1":
            raise RuntimeError("a bug in the handler")

    watch = NodeWatch(direct_zk, PATH, on_change)
    watch.start()
    assert watch.wait_armed(10)
    direct_zk.set(PATH, b"v1")
    wait_until(lambda: seen == [b"v1"])
    direct_zk.set(PATH, b"v2")
    wait_until(lambda: seen == [b"v1", b"v2"], message="the watch goes on after the error")
    assert direct_zk.connected and direct_zk.get(PATH)[0] == b"v2"


def test_stop_ends_the_reports(direct_zk: KazooClient) -> None:
    direct_zk.create(PATH, b"v0")
    reports = Reports()
    watch = armed(direct_zk, reports)
    watch.stop()
    direct_zk.set(PATH, b"v1")
    direct_zk.set(PATH, b"v2")
    # ZooKeeper sends the (ignored) event for v1 before it answers that set, and the
    # connection thread handles the event before it reads the answer.
    assert reports.data == []


def test_an_unconfirmed_arm_counts_its_first_answer_as_a_change(direct_zk: KazooClient) -> None:
    """When the caller gave up waiting for the first read, it cannot know which version the
    watch was armed at: that read must be reported, or a change made meanwhile is missed."""
    direct_zk.create(PATH, b"v0")
    reports = Reports()
    watch = NodeWatch(direct_zk, PATH, reports)
    assert not watch.wait_armed(0)  # nothing sent yet: certainly unconfirmed
    watch.start()
    wait_until(lambda: reports.data == [b"v0"], message="the first answer reported")


def test_a_version_missed_with_the_session_is_reported_by_rearm(
    direct_zk: KazooClient, zk_hosts: str
) -> None:
    """Session expiry drops the watch (kazoo sends an event of type NONE, ignored); a change
    made before the new session re-arms is reported once by rearm()."""
    direct_zk.create(PATH, b"v0")
    reports = Reports()
    watch = armed(direct_zk, reports)
    reconnected = threading.Event()

    def on_state(state: str) -> None:
        if state == KazooState.CONNECTED:
            reconnected.set()

    direct_zk.add_listener(on_state)
    other = KazooClient(hosts=zk_hosts, timeout=10)
    other.start(timeout=20)
    try:
        states = expire_session(direct_zk, zk_hosts)
        wait_until(lambda: KazooState.LOST in states, timeout=20, message="session lost")
        assert reconnected.wait(20)
        other.set(PATH, b"v1")  # before the re-arm: no watch is armed on the new session
        assert reports.data == []  # the NONE event of the expiry was not a change
        watch.rearm()
        wait_until(lambda: reports.data == [b"v1"], message="missed version reported")
        other.set(PATH, b"v2")
        wait_until(lambda: reports.data == [b"v1", b"v2"], message="watching again")
    finally:
        other.stop()
        other.close()


def test_without_the_direct_path_the_watch_still_works(
    direct_zk: KazooClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should kazoo stop wrapping its calls as expected, marked functions are queued as kazoo
    does by default: slower, never wrong."""
    monkeypatch.setattr(node_watch_module, "_is_direct", lambda function: False)
    direct_zk.create(PATH, b"v0")
    reports = Reports()
    before = DirectHandler.direct_calls
    armed(direct_zk, reports)
    direct_zk.set(PATH, b"v1")
    wait_until(lambda: reports.data == [b"v1"])
    direct_zk.set(PATH, b"v2")
    wait_until(lambda: reports.data == [b"v1", b"v2"])
    assert DirectHandler.direct_calls == before
    assert reports.threads <= set(direct_zk.handler._workers)


def test_kazoo_recipes_on_the_same_client_keep_kazoos_threads(direct_zk: KazooClient) -> None:
    """A DataWatch (which reads synchronously in its callback) is not marked: it runs on
    kazoo's event thread as usual, and would deadlock on the connection thread."""
    direct_zk.create(PATH, b"v0")
    seen: list[Any] = []
    direct_zk.DataWatch(PATH, lambda data, stat: seen.append((data, threading.current_thread())))
    wait_until(lambda: len(seen) == 1)
    direct_zk.set(PATH, b"v1")
    wait_until(lambda: len(seen) == 2, message="the DataWatch saw the change")
    assert seen[1][0] == b"v1" and seen[1][1] in set(direct_zk.handler._workers)


def test_a_change_during_a_connection_loss_is_reported_once_by_rearm(
    zk_server: EmbeddedZooKeeper, zk_hosts: str
) -> None:
    """The session survives a cut connection but its watches do not (ZooKeeper drops them with
    the connection and kazoo does not re-register them): rearm(), which the client calls on
    every CONNECTED, reports the version missed meanwhile, once, and watches again."""
    chroot = zk_hosts[zk_hosts.index("/") :]
    proxy = TcpProxy(zk_server.port)
    client = KazooClient(
        hosts=proxy.address + chroot,
        timeout=8,
        handler=DirectHandler(),
        connection_retry=KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=0.5),
    )
    other = KazooClient(hosts=zk_hosts, timeout=10)
    states: list[str] = []
    reports = Reports()
    watches: list[NodeWatch] = []

    def on_state(state: str) -> None:
        states.append(state)
        if state == KazooState.CONNECTED and watches:
            client.handler.spawn(watches[0].rearm)  # as ConfigWatcher does

    client.add_listener(on_state)
    try:
        client.start(timeout=20)
        other.start(timeout=20)
        other.create(PATH, b"v0")
        watches.append(armed(client, reports))
        proxy.cut()
        wait_until(lambda: KazooState.SUSPENDED in states, timeout=20, message="suspended")
        other.set(PATH, b"v1")
        proxy.restore()
        wait_until(lambda: reports.data == [b"v1"], timeout=20, message="missed version seen")
        other.set(PATH, b"v2")
        wait_until(lambda: b"v2" in reports.data, message="watching again")
        assert reports.data == [b"v1", b"v2"]
        assert KazooState.LOST not in states  # the same session throughout
    finally:
        other.stop()
        other.close()
        client.stop()
        client.close()
        proxy.close()
