"""The test harness itself: the real ZooKeeper it starts, its chroot isolation, and the budget
that bounds every wait without counting a stall of the whole machine."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from disconf_web.embedded_zookeeper import EmbeddedZooKeeper, four_letter_word
from tests import helpers
from tests.helpers import STALL_GAP, Budget, join_within, wait_until


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


class _Clock:
    """``time.monotonic`` and ``time.sleep`` for :mod:`tests.helpers`, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(helpers.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(helpers.time, "sleep", fake.sleep)
    return fake


def test_a_budget_counts_running_time_and_at_most_the_stall_gap_of_a_stall(clock: _Clock) -> None:
    budget = Budget(10)
    clock.now += 4
    assert budget.left() == 6
    clock.now += 120  # the machine stood still
    assert budget.left() == 6 - STALL_GAP and budget.stalled == 120 - STALL_GAP
    assert "not counted: the machine stalled" in budget.describe()
    clock.now += 1
    assert budget.expired()


def test_wait_until_survives_one_stall_and_still_times_out(clock: _Clock) -> None:
    looks: list[float] = []

    def ready_after_a_stall() -> bool:
        looks.append(clock.now)
        if len(looks) == 2:
            clock.now += 300  # a paused VM between two polls
        return len(looks) == 10

    assert wait_until(ready_after_a_stall, timeout=STALL_GAP + 2, interval=0.1)
    with pytest.raises(AssertionError, match=r"timed out after 2s waiting for never"):
        wait_until(lambda: False, timeout=2, interval=0.1, message="never")
    # Bounded even when every poll is a stall: each one costs STALL_GAP.
    calls: list[int] = []

    def always_stalled() -> bool:
        calls.append(1)
        clock.now += 100
        return False

    with pytest.raises(AssertionError, match="not counted"):
        wait_until(always_stalled, timeout=3 * STALL_GAP)
    assert len(calls) == 3


def test_join_within_ends_with_the_thread_or_with_the_budget() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait, args=(10,), daemon=True)
    thread.start()
    assert not join_within(thread, 0.2)
    release.set()
    assert join_within(thread, 10)
