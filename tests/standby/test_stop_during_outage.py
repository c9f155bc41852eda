"""``ActiveStandby.stop()`` during a ZooKeeper outage returns promptly instead of hanging.

A standby waiting in the lock queue is blocked in a kazoo call that kazoo only answers after a
reconnect; before the fix ``stop()`` sat out its whole ``timeout`` (10 s by default) waiting for
it. Each test stops with a 60 s timeout in a helper thread and requires it to finish within
10 s, so the old behaviour fails them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

from disconf_client.standby import ActiveStandby
from disconf_client.standby.errors import CoordinatorUnavailableError
from tests.helpers import wait_until
from tests.standby.conftest import Recorder
from tests.tcp_proxy import TcpProxy

MakeElection = Callable[..., ActiveStandby]
STOP_TIMEOUT = 60.0
# The steady election's own connection (2 s sessions) may drop for a moment on a loaded machine;
# listing the contenders then fails until kazoo reconnects: not what these tests are about.
BLIP = (CoordinatorUnavailableError,)


def stop_in_background(election: ActiveStandby) -> tuple[threading.Thread, threading.Event]:
    stopped = threading.Event()

    def run() -> None:
        election.stop(timeout=STOP_TIMEOUT)
        stopped.set()

    thread = threading.Thread(target=run, name="test-stop", daemon=True)
    thread.start()
    return thread, stopped


def test_a_standby_stops_promptly_while_zookeeper_is_unreachable(
    make_election: MakeElection, proxy: TcpProxy, chroot: str, recorder: Recorder
) -> None:
    steady = make_election("a")
    wait_until(lambda: steady.is_master, 10)
    flaky = make_election("b", hosts=proxy.address + chroot, session_timeout=4.0)
    wait_until(lambda: "standby" in recorder.of("b"), 10)

    proxy.cut()  # flaky's queued acquisition now waits on a connection that does not come back
    wait_until(lambda: len(steady.contenders()) == 2, 5, retry_on=BLIP)
    thread, stopped = stop_in_background(flaky)
    try:
        wait_until(stopped.is_set, 10, message="stop() returns during the outage")
    finally:
        thread.join(STOP_TIMEOUT + 5)
    assert not flaky.is_master
    # its session is gone with its stopped client: the lock node expires, the master stays
    wait_until(
        lambda: len(steady.contenders()) == 1, 15, message="flaky's node expires", retry_on=BLIP
    )
    assert steady.is_master and recorder.of("b") == ["standby"]


def test_a_shared_client_election_stops_promptly_and_cleans_up_on_reconnect(
    make_election: MakeElection, proxy: TcpProxy, chroot: str, recorder: Recorder
) -> None:
    steady = make_election("a")
    wait_until(lambda: steady.is_master, 10)
    shared = KazooClient(
        hosts=proxy.address + chroot,
        timeout=30.0,  # the session outlives the outage: only the reconnect cleans up
        connection_retry=KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=0.5),
    )
    shared.start(10)
    try:
        flaky = make_election("b", client=shared)
        wait_until(lambda: "standby" in recorder.of("b"), 10)
        proxy.cut()
        wait_until(lambda: not shared.connected, 5)
        thread, stopped = stop_in_background(flaky)
        try:
            wait_until(stopped.is_set, 10, message="stop() returns during the outage")
        finally:
            thread.join(STOP_TIMEOUT + 5)
        # the session, and so its node, is still alive
        wait_until(lambda: len(steady.contenders()) == 2, 5, retry_on=BLIP)
        proxy.restore()
        wait_until(
            lambda: len(steady.contenders()) == 1,
            15,
            message="node deleted on reconnect",
            retry_on=BLIP,
        )
        assert shared.connected and steady.is_master
    finally:
        shared.stop()
        shared.close()
