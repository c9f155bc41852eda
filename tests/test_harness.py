"""The test harness itself: the real ZooKeeper it starts, and its chroot isolation."""

from __future__ import annotations

from pathlib import Path

from kazoo.client import KazooClient

from disconf_web.embedded_zookeeper import EmbeddedZooKeeper, four_letter_word


def test_session_zookeeper_answers_ruok(zk_server: EmbeddedZooKeeper) -> None:
    assert four_letter_word(zk_server.port, "ruok") == "imok"
    assert zk_server.mode() == "standalone"
    assert zk_server.hosts.startswith("127.0.0.1:")


def test_each_test_gets_its_own_chroot(zk: KazooClient, zk_hosts: str) -> None:
    assert "/t-" in zk_hosts
    zk.create("/only-here", b"x")
    assert zk.get_children("/") == ["only-here"]


def test_stop_by_pid_and_restart_keeps_data(tmp_path: Path) -> None:
    server = EmbeddedZooKeeper(tmp_path / "zk").start()
    try:
        client = KazooClient(hosts=server.hosts, timeout=5)
        client.start(timeout=10)
        client.create("/kept", b"1")
        client.stop()
        client.close()
        pid = server.pid
        server.stop()
        assert not server.is_running() and pid is not None
        server.start()
        client = KazooClient(hosts=server.hosts, timeout=5)
        client.start(timeout=10)
        assert client.get("/kept")[0] == b"1"
        client.stop()
        client.close()
    finally:
        server.stop()
