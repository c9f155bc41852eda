"""The callback lanes alone (no server): isolation between configs, the thread bound, order and
merging within a config, BaseException survival and the slow-callback report."""

from __future__ import annotations

import threading
from typing import Any

from disconf_client.binding import ChangeEvent
from disconf_client.callbacks import MAX_PENDING, CallbackLanes, callback_name
from disconf_core import ConfigType
from tests.helpers import wait_until


def event(name: str, old: int, new: int) -> ChangeEvent[Any]:
    return ChangeEvent(object, ConfigType.ITEM, name, old, new, frozenset({f"k{new}"}), "server")


def test_a_lane_woken_for_another_config_does_not_hold_the_next_one() -> None:
    lanes = CallbackLanes(max_threads=4, warn_after=60)
    release = threading.Event()
    seen: list[str] = []
    try:
        lanes.submit("warm", event("warm", 0, 1), [lambda e: seen.append("warm")])
        wait_until(lambda: lanes.pending() == 0, message="one idle thread")
        lanes.submit("a", event("a", 0, 1), [lambda e: release.wait(20)])
        lanes.submit("b", event("b", 0, 1), [lambda e: seen.append("b")])
        wait_until(lambda: "b" in seen, message="b runs while a hangs")
    finally:
        release.set()
        lanes.close()


def test_at_most_max_threads_callbacks_run_at_once() -> None:
    lanes = CallbackLanes(max_threads=2, warn_after=60)
    release = threading.Event()
    running: list[str] = []
    done: list[str] = []

    def hang(e: ChangeEvent[Any]) -> None:
        running.append(e.name)
        release.wait(20)
        done.append(e.name)

    try:
        for name in ("a", "b", "c"):
            lanes.submit(name, event(name, 0, 1), [hang])
        wait_until(lambda: len(running) == 2, message="two running")
        assert len(lanes.running()) == 2 and "c" not in running
        release.set()
        wait_until(lambda: sorted(done) == ["a", "b", "c"], message="the third, later")
    finally:
        release.set()
        lanes.close()


def test_order_per_config_and_merging_beyond_the_bound() -> None:
    lanes = CallbackLanes(max_threads=2, warn_after=60)
    gate = threading.Event()
    seen: list[tuple[Any, Any, frozenset[str]]] = []

    def record(e: ChangeEvent[Any]) -> None:
        gate.wait(20)
        seen.append((e.old, e.new, e.changed))

    try:
        total = MAX_PENDING + 5
        lanes.submit("a", event("a", 0, 1), [record])
        wait_until(lambda: len(lanes.running()) == 1, message="the first one running")
        for number in range(2, total + 1):
            lanes.submit("a", event("a", number - 1, number), [record])
        gate.set()
        wait_until(lambda: lanes.pending() == 0, message="every event")
        news = [new for _, new, _ in seen]
        assert news == sorted(news) and news[-1] == total  # in order, the last one delivered
        olds = [old for old, _, _ in seen]
        assert olds == [0, *news[:-1]]  # a merged event spans the revisions it stands for
        assert len(seen) == MAX_PENDING + 1  # one running + at most MAX_PENDING waiting
        assert seen[-1][2] >= {f"k{n}" for n in range(news[-2] + 1, total + 1)}
    finally:
        gate.set()
        lanes.close()


def test_base_exceptions_are_reported_and_slow_callbacks_named() -> None:
    errors: list[str] = []
    slow: list[str] = []
    lanes = CallbackLanes(
        max_threads=1, warn_after=0.05, on_error=errors.append, on_slow=slow.append
    )
    release = threading.Event()
    after: list[int] = []

    def exits(e: ChangeEvent[Any]) -> None:
        raise SystemExit(3)

    def lingers(e: ChangeEvent[Any]) -> None:
        release.wait(20)

    try:
        lanes.submit("a", event("a", 0, 1), [exits, lambda e: after.append(e.new)])
        wait_until(lambda: after == [1], message="the next callback still runs")
        assert errors and "exits" in errors[0] and "SystemExit" in errors[0]
        lanes.submit("a", event("a", 1, 2), [lingers])
        wait_until(lambda: slow, message="the slow report")
        assert callback_name(lingers) in slow[0] and "item 'a'" in slow[0]
    finally:
        release.set()
        lanes.close()


def test_a_prestarted_thread_runs_the_first_event_and_close_ends_it() -> None:
    lanes = CallbackLanes(max_threads=4, warn_after=60)
    lanes.prestart()
    lanes.prestart()  # one thread ahead, not one per call
    assert len(lanes._threads) == 1
    thread = lanes._threads[0]
    wait_until(lambda: lanes._idle == 1, message="the thread waits for events")
    seen: list[str] = []
    lanes.submit("a", event("a", 0, 1), [lambda e: seen.append(threading.current_thread().name)])
    wait_until(lambda: seen == [thread.name], message="run on the prestarted thread")
    assert lanes._threads == [thread]
    lanes.close()
    assert not thread.is_alive()
