"""The snapshot and instance-node writes run off the apply path, coalesced per config: a slow
disk never delays a callback, and a burst of revisions costs one write per config, not one per
revision. Unit test of the writer, then through the client (fake HTTP, real ZooKeeper)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from disconf_client import disconf_file, field, on_change, persist
from disconf_client.cache import LocalSnapshot
from disconf_client.persist import CoalescingWriter, _Alarm
from disconf_core import ConfigType
from tests.client.conftest import Harness
from tests.helpers import in_forked_child, wait_until


def test_pending_writes_of_one_key_are_coalesced_to_the_latest() -> None:
    writer = CoalescingWriter()
    entered, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def first() -> None:
        entered.set()
        release.wait(10)
        ran.append("a0")

    writer.submit("a", first)
    assert entered.wait(10)
    for number in range(1, 6):
        writer.submit("a", lambda n=number: ran.append(f"a{n}"))
    writer.submit("b", lambda: ran.append("b1"))
    release.set()
    assert writer.flush(10)
    assert ran == ["a0", "a5", "b1"] and writer.coalesced == 4
    writer.submit("c", lambda: ran.append("c1"))
    writer.close(10)
    assert ran[-1] == "c1"  # close() flushes


def test_a_write_that_raises_does_not_stop_the_writer() -> None:
    writer = CoalescingWriter()
    ran: list[str] = []

    def broken() -> None:
        raise KeyboardInterrupt  # even a BaseException

    writer.submit("a", broken)
    writer.submit("b", lambda: ran.append("b"))
    assert writer.flush(10)
    writer.submit("c", lambda: ran.append("c"))
    writer.close(10)
    assert ran == ["b", "c"]


def test_a_stalled_snapshot_write_delays_no_callback_and_a_burst_is_written_once(
    harness: Harness,
) -> None:
    @disconf_file("burst.properties")
    class Burst:
        value: str = field(key="value", default="")

    seen: list[str] = []
    on_change(Burst)(lambda event: seen.append(event.new.value))
    harness.publish_file("burst.properties", "value=v0\n", notify=False)
    client = harness.client([Burst])
    client.start()
    snapshot: LocalSnapshot = client._snapshot
    real_write = snapshot.write
    writes: list[bytes] = []
    entered, release = threading.Event(), threading.Event()

    def slow_write(kind: ConfigType, name: str, content: bytes) -> None:
        writes.append(content)
        entered.set()
        release.wait(20)  # a disk that stalls (bounded: released below)
        real_write(kind, name, content)

    snapshot.write = slow_write  # type: ignore[method-assign]
    try:
        harness.publish_file("burst.properties", "value=v1\n")
        wait_until(lambda: seen == ["v1"] and entered.is_set(), message="v1 while the disk stalls")
        for number in range(2, 6):
            harness.publish_file("burst.properties", f"value=v{number}\n")
            wait_until(lambda n=number: seen[-1:] == [f"v{n}"], message=f"callback v{number}")
    finally:
        release.set()
    path = harness.download_dir / "burst.properties"
    wait_until(lambda: path.read_bytes() == b"value=v5\n", message="the snapshot catches up")
    assert writes == [b"value=v1\n", b"value=v5\n"]  # v2..v4 were coalesced away
    assert seen == ["v1", "v2", "v3", "v4", "v5"]


def test_close_flushes_the_last_applied_revision(harness: Harness) -> None:
    @disconf_file("flush.properties")
    class Flush:
        value: str = field(key="value", default="")

    harness.publish_file("flush.properties", "value=v0\n", notify=False)
    client = harness.client([Flush])
    client.start()
    harness.publish_file("flush.properties", "value=v1\n")
    wait_until(lambda: Flush.value == "v1", message="v1 applied")
    client.close()
    assert (harness.download_dir / "flush.properties").read_bytes() == b"value=v1\n"


def test_a_delayed_round_starts_within_its_window_for_every_writer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a delay, submit() wakes no writer thread: it asks the alarm thread for a wake-up at
    the end of its window (delay to twice the delay after the submit), and the round runs
    once the alarm has woken the writer, never before the window."""
    delay = 0.2
    writers = [CoalescingWriter(delay=delay) for _ in range(20)]
    asked: dict[int, float] = {}  # the writer -> its wake-up, from the submit
    schedule = persist._ALARM.schedule

    def recorded(due: float, wake: Callable[[], None]) -> None:
        asked[len(asked)] = due - submitted
        schedule(due, wake)

    monkeypatch.setattr(persist._ALARM, "schedule", recorded)
    done: dict[int, float] = {}
    lock = threading.Lock()
    started = time.monotonic()

    def record(number: int) -> None:
        with lock:
            done[number] = time.monotonic() - started

    for number, writer in enumerate(writers):
        submitted = time.monotonic()
        writer.submit("a", lambda n=number: record(n))
    assert len(asked) == len(writers)
    assert all(delay <= after <= 2 * delay for after in asked.values()), asked
    wait_until(lambda: len(done) == len(writers), timeout=10)
    assert min(done.values()) >= delay
    for writer in writers:
        writer.close(10)


def test_the_alarm_wakes_an_earlier_window_scheduled_after_a_later_one() -> None:
    """The alarm sleeps until the later window (far away); an earlier one scheduled then wakes
    it: the early one is called, the late one is not."""
    alarm = _Alarm(linger=0.5)
    woken: dict[str, float] = {}
    now = time.monotonic()
    alarm.schedule(now + 3600.0, lambda: woken.setdefault("late", time.monotonic() - now))
    wait_until(lambda: alarm._sleeping_until is not None, timeout=10)  # asleep until the late one
    alarm.schedule(now + 0.1, lambda: woken.setdefault("early", time.monotonic() - now))
    wait_until(lambda: "early" in woken, timeout=60)
    assert woken["early"] >= 0.1 and "late" not in woken


def test_a_forked_child_gets_an_alarm_of_its_own() -> None:
    """The parent's alarm thread does not exist in a forked child: a window scheduled there
    (by a client created in the child) must still end."""
    parent = CoalescingWriter(delay=0.05)
    parent.submit("a", lambda: None)  # the alarm thread runs in the parent now
    assert persist._ALARM._thread is not None

    def child() -> int:
        done = threading.Event()
        persist._ALARM.schedule(time.monotonic() + 0.05, done.set)
        return 0 if done.wait(5) else 2

    code = in_forked_child(child)
    parent.close(10)
    assert code == 0
