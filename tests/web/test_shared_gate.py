"""The freshness gate's reads shared between the worker processes of one server.

A generation read made by another process answers a request only if it *began after the
request arrived*; a fresh pair answers nobody; a failed read is never offered; a worker killed
while holding the lock blocks nobody. Processes are forked, as gunicorn forks its workers after
:func:`disconf_web.protocol.shared_gate.prepare_for_workers`.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from disconf_web.protocol import shared_gate
from disconf_web.protocol.read_cache import FreshnessGate
from disconf_web.protocol.shared_gate import SharedGeneration

FORK = multiprocessing.get_context("fork")
WAIT = 10.0  # seconds: a child process, a lock


@pytest.fixture
def shared() -> Iterator[SharedGeneration]:
    pair = SharedGeneration.create()
    try:
        yield pair
    finally:
        pair.close()


class Reads:
    """A gate's read that counts its calls and answers ``value`` (or raises)."""

    def __init__(self, value: int, error: Exception | None = None) -> None:
        self.value = value
        self.error = error
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.value


def _gate(read: Reads, shared: SharedGeneration | None) -> FreshnessGate:
    return FreshnessGate(read, wait_bound=WAIT, errors=(RuntimeError,), shared=shared)


def _child_round(shared: SharedGeneration, value: int, done: multiprocessing.Queue[float]) -> None:
    """In a forked process: one gate round of a "worker" whose read answers ``value``."""
    gate = _gate(Reads(value), shared)
    assert gate.current() == value
    done.put(gate._last_began)


def _run_child_round(shared: SharedGeneration, value: int) -> float:
    """Fork a process that makes one gate round; returns when that round began."""
    done: multiprocessing.Queue[float] = FORK.Queue()
    child = FORK.Process(target=_child_round, args=(shared, value, done))
    child.start()
    try:
        began = done.get(timeout=WAIT)
    finally:
        child.join(WAIT)
    assert child.exitcode == 0
    return began


def test_a_fresh_pair_answers_nobody(shared: SharedGeneration) -> None:
    assert shared.latest() == (-math.inf, 0)
    read = Reads(5)
    assert _gate(read, shared).current() == 5
    assert read.calls == 1  # the request read the generation itself


def test_only_a_read_that_began_later_replaces_the_kept_one(shared: SharedGeneration) -> None:
    shared.offer(5.0, 7)
    shared.offer(4.0, 9)  # began earlier: may have missed what the kept one saw
    assert shared.latest() == (5.0, 7)
    shared.offer(6.0, 8)
    assert shared.latest() == (6.0, 8)


def test_another_process_read_answers_only_requests_that_arrived_before_it_began(
    shared: SharedGeneration,
) -> None:
    arrived_before = time.monotonic()
    began = _run_child_round(shared, 42)
    assert began > arrived_before
    assert shared.latest() == (began, 42)

    read = Reads(43)
    gate = _gate(read, shared)
    assert gate.current(arrived_before) == 42  # the other worker's read began after it
    assert (read.calls, gate.shared_answers) == (0, 1)

    arrived_after = time.monotonic()
    assert gate.current(arrived_after) == 43  # no read began after this one: it reads
    assert read.calls == 1
    assert shared.latest()[1] == 43  # and offers its read to the other workers


def test_a_failed_read_is_never_offered(shared: SharedGeneration) -> None:
    gate = _gate(Reads(1, RuntimeError("database gone")), shared)
    assert gate.current() is None
    assert shared.latest() == (-math.inf, 0)


def test_without_a_shared_pair_the_gate_reads_per_process() -> None:
    read = Reads(3)
    gate = _gate(read, None)
    arrived = time.monotonic()
    assert gate.current(arrived) == 3
    assert gate.current(arrived) == 3  # its own completed read began after the arrival
    assert read.calls == 1


def _hold_the_lock_forever(shared: SharedGeneration, holding: multiprocessing.Event) -> None:
    import fcntl

    fcntl.lockf(shared._fd, fcntl.LOCK_EX)
    holding.set()
    time.sleep(3600)


def test_a_worker_killed_holding_the_lock_blocks_no_other(shared: SharedGeneration) -> None:
    holding = FORK.Event()
    child = FORK.Process(target=_hold_the_lock_forever, args=(shared, holding))
    child.start()
    try:
        assert holding.wait(WAIT)
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.join(WAIT)
    offered = threading.Thread(target=shared.offer, args=(time.monotonic(), 11), daemon=True)
    offered.start()
    offered.join(WAIT)
    assert not offered.is_alive(), "the dead worker's lock was not released"
    assert shared.latest() is not None and shared.latest()[1] == 11  # type: ignore[index]


def _bounded(call: Callable[[], object]) -> list[object]:
    """Run ``call`` in a thread; fail if it has not returned within ``WAIT`` seconds."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive(), "waited for a worker that holds the lock and never lets go"
    return result


def test_a_worker_stopped_holding_the_lock_stops_no_other(shared: SharedGeneration) -> None:
    shared.offer(5.0, 7)
    holding = FORK.Event()
    child = FORK.Process(target=_hold_the_lock_forever, args=(shared, holding))
    child.start()
    try:
        assert holding.wait(WAIT) and child.pid is not None
        os.kill(child.pid, signal.SIGSTOP)  # holds the lock, answers nothing
        assert _bounded(shared.latest) == [None]  # the reader uses its own reads
        _bounded(lambda: shared.offer(6.0, 8))  # the offer is skipped
        assert shared.busy == 2
        read = Reads(9)
        assert _bounded(lambda: _gate(read, shared).current(0.0)) == [9]
        assert read.calls == 1  # the gate still answers, from its own read
        os.kill(child.pid, signal.SIGCONT)
    finally:
        if child.pid is not None:
            os.kill(child.pid, signal.SIGKILL)
        child.join(WAIT)
    assert shared.latest() == (5.0, 7)  # nothing was half-written meanwhile
    assert shared.disabled is False


def test_the_serving_master_prepares_one_pair_for_all_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shared_gate, "_inherited", None)
    assert shared_gate.inherited() is None  # the test client and scripts share nothing
    first = shared_gate.prepare_for_workers()
    try:
        assert first is not None
        assert shared_gate.prepare_for_workers() is first
        assert shared_gate.inherited() is first
    finally:
        if first is not None:
            first.close()
