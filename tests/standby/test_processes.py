"""Three real processes compete; the master is SIGKILLed, paused, stopped cleanly, and ZooKeeper
restarts under them. The rules checked on their logs are in :mod:`tests.standby.history`.

Takeover times are printed (``pytest -s``), not asserted: the tests never assert wall-clock
times. Reference bounds: SIGKILL -> session timeout + 2 s, clean exit -> 1 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from disconf_web.embedded_zookeeper import EmbeddedZooKeeper
from tests.helpers import wait_until
from tests.standby.history import Contender, Fleet, check_history

pytestmark = pytest.mark.slow

SESSION_TIMEOUT = 2.0


@pytest.fixture
def fleet(zk_hosts: str, tmp_path: Path) -> Iterator[Fleet]:
    processes = Fleet(zk_hosts, tmp_path, SESSION_TIMEOUT)
    try:
        yield processes
    finally:
        processes.close()


def start_three(fleet: Fleet) -> Contender:
    for label in ("p1", "p2", "p3"):
        fleet.spawn(label)
    wait_until(
        lambda: (
            len(fleet.masters()) == 1
            and sum(m.role() == "standby" for m in fleet.members.values()) == 2
        ),
        30,
        message="one master and two standbys",
    )
    master = fleet.masters()[0]
    # The master saves its context right after it is recorded as master: wait for that, so a
    # test that then stops ZooKeeper or kills the master knows the context was written.
    wait_until(lambda: "saved" in master.events(), 10, message="the master's context saved")
    return master


def new_master(fleet: Fleet, old: Contender, timeout: float) -> Contender:
    return wait_until(
        lambda: [m for m in fleet.masters() if m is not old], timeout, message="a new master"
    )[0]


def master_record(member: Contender) -> dict[str, object]:
    return [r for r in member.records() if r["event"] == "master"][-1]


def test_sigkill_clean_exit_and_context(fleet: Fleet) -> None:
    first = start_three(fleet)
    first_token = master_record(first)["token"]

    killed_at = fleet.kill(first)
    second = new_master(fleet, first, SESSION_TIMEOUT + 15)
    record = master_record(second)
    print(
        f"\nSIGKILL takeover: {record['t'] - killed_at:.2f}s "  # type: ignore[operator]
        f"(bound: session timeout {SESSION_TIMEOUT}s + 2s)"
    )
    assert record["context"] == {"by": first.label, "token": first_token}

    fleet.terminate(second)
    stopped_events = second.events()
    assert stopped_events[-2:] == ["lost", "exit"]
    third = new_master(fleet, second, 10)
    record3 = master_record(third)
    lost_at = [r for r in second.records() if r["event"] == "lost"][-1]["t"]
    print(f"clean-exit takeover: {record3['t'] - lost_at:.3f}s (bound: 1s)")  # type: ignore[operator]
    assert record3["context"] == {"by": second.label, "token": record["token"]}

    intervals = check_history(fleet)
    assert [i.label for i in intervals] == [first.label, second.label, third.label]


def test_sigstop_then_sigcont_is_fenced(fleet: Fleet) -> None:
    first = start_three(fleet)
    stopped_at = fleet.pause(first)
    second = new_master(fleet, first, SESSION_TIMEOUT + 15)
    record = master_record(second)
    print(f"\ntakeover from a paused master: {record['t'] - stopped_at:.2f}s")
    resumed_at = fleet.resume(first, stopped_at)
    wait_until(lambda: first.role() == "standby", 20, message="the paused master steps down")
    lost = [r for r in first.records() if r["event"] == "lost"][-1]
    assert lost["t"] >= resumed_at  # it learnt of its demotion only once it ran again
    assert record["context"] == {"by": first.label, "token": master_record(first)["token"]}
    assert fleet.masters() == [second]
    intervals = check_history(fleet)
    assert [i.label for i in intervals] == [first.label, second.label]


def test_zookeeper_restart(tmp_path: Path) -> None:
    server = EmbeddedZooKeeper(tmp_path / "zk")
    server.start(timeout=60)
    fleet = Fleet(server.hosts, tmp_path, 4.0)
    try:
        first = start_three(fleet)
        server.stop()
        wait_until(lambda: first.role() == "lost", 10, message="the master steps down")
        assert fleet.masters() == []
        server.start(timeout=60)
        master = wait_until(fleet.masters, 30, message="a master after the restart")[0]
        print(f"\nafter the ZooKeeper restart the master is {master.label}")
        wait_until(
            lambda: sum(m.role() == "standby" for m in fleet.members.values()) == 2,
            30,
            message="the others are standbys again",
        )
        intervals = check_history(fleet)
        assert len(intervals) >= 2 and intervals[-1].label == master.label
        assert master_record(master)["context"] is not None
    finally:
        fleet.close()
        server.stop()
