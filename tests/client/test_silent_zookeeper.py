"""A ZooKeeper that accepts and never answers (a paused server, a silent partition) holds the
client for a bounded time, never makes it raise, and once it answers again every config is
watched: through a loopback proxy that a test freezes (:class:`TcpProxy`), on the real
ZooKeeper.

* ``ConfigWatcher.watch()`` while the connection has gone silent: returns within twice the
  ZooKeeper operation timeout for all configs together, without raising; the config nodes it
  could not create are created, and the watches read, on the next ``CONNECTED``.
* A client whose ZooKeeper is silent from the start: ``start()`` returns with the values served
  over HTTP, and live updates arrive once ZooKeeper answers.
"""

from __future__ import annotations

import pytest
from kazoo.client import KazooClient

from disconf_client import disconf_file
from disconf_client import watch as watch_module
from disconf_client.watch import ConfigKey, ConfigWatcher
from disconf_core import ConfigType, config_node
from tests.client.conftest import COORDS, Harness
from tests.helpers import outcome, wait_until
from tests.tcp_proxy import TcpProxy

#: The test's bound for a call that must end within its own timeouts (far above them).
CALL_BOUND = 60.0
OPERATION_TIMEOUT = 1.0  # the watcher's, shortened so the test is quick
KEYS: list[ConfigKey] = [(ConfigType.FILE, f"f{number}.properties") for number in range(5)]


def chroot_of(zk_hosts: str) -> str:
    return zk_hosts[zk_hosts.index("/") :]


def test_watch_on_a_connection_gone_silent_returns_and_arms_after_reconnection(
    zk_proxy: TcpProxy, zk: KazooClient, zk_hosts: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch_module, "_OPERATION_TIMEOUT", OPERATION_TIMEOUT)
    notified: list[tuple[ConfigKey, bytes | None]] = []
    watcher = ConfigWatcher(
        zk_proxy.address + chroot_of(zk_hosts),
        "/disconf",
        COORDS,
        notify=lambda key, data: notified.append((key, data)),
        on_resync=lambda: None,
        session_timeout=4.0,
    )
    try:
        assert watcher.start(20)
        zk_proxy.freeze()
        # The old watcher raised ConnectionLoss here (kazoo's ensure_path, one config at a time).
        assert outcome(lambda: watcher.watch(KEYS), CALL_BOUND) is None
        zk_proxy.restore()
        paths = [config_node("/disconf", COORDS, kind, name) for kind, name in KEYS]
        wait_until(lambda: all(zk.exists(path) for path in paths), 30, message="nodes created anew")
        # Watched again: a change of each node is reported (once the re-read has answered).
        for number, ((kind, name), path) in enumerate(zip(KEYS, paths, strict=True)):
            value = f"v{number}".encode()

            def seen(key: ConfigKey = (kind, name), path: str = path, value: bytes = value) -> bool:
                zk.set(path, value)
                return (key, value) in notified

            wait_until(seen, 30, interval=0.5, message=f"a change of {path} reported")
    finally:
        watcher.close()


def test_a_client_whose_zookeeper_never_answers_starts_and_catches_up_when_it_does(
    harness: Harness, zk_proxy: TcpProxy, zk_hosts: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch_module, "_OPERATION_TIMEOUT", OPERATION_TIMEOUT)

    @disconf_file("redis.properties")
    class Redis:
        host: str = "localhost"

    harness.publish_file("redis.properties", "host=first\n")
    zk_proxy.freeze()
    client = harness.client([Redis], zk_hosts=zk_proxy.address + chroot_of(zk_hosts))
    assert outcome(client.start, CALL_BOUND) is None
    assert Redis.host == "first"  # served over HTTP while ZooKeeper says nothing
    assert not client.zk_connected
    zk_proxy.restore()
    wait_until(lambda: client.zk_connected, 30, message="connected once it answers")
    harness.publish_file("redis.properties", "host=second\n")
    wait_until(lambda: Redis.host == "second", 30, message="the publish reaches the client")
