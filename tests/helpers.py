"""Small helpers shared by the tests (import as ``from tests.helpers import wait_until``)."""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


#: A gap longer than this between two looks at a :class:`Budget` is counted as this much: the
#: test process was not running (a paused VM, a starved CI host), and a budget is what the code
#: under test may spend, not how long the machine stood still. A clean-clone CI run once had
#: three tests on three workers time out together, one of them a one-second ``wrk`` that was
#: still not done after 121 s.
STALL_GAP = 5.0


class Budget:
    """A timeout that counts the time between looks at it, each look at most :data:`STALL_GAP`.

    Waiting for ``seconds`` on a machine that keeps running takes ``seconds``; a stall of the
    whole machine costs at most :data:`STALL_GAP` of the budget. Still bounded: every look costs
    what passed since the last one (capped), so a loop that looks at least once per
    :data:`STALL_GAP` ends after ``seconds`` of its own time and ``seconds / STALL_GAP`` stalls
    at most."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.spent = 0.0
        self.stalled = 0.0  # wall time not counted, for the failure message
        self._last = time.monotonic()

    def left(self) -> float:
        now = time.monotonic()
        step, self._last = now - self._last, now
        self.spent += min(step, STALL_GAP)
        self.stalled += max(step - STALL_GAP, 0.0)
        return max(self.seconds - self.spent, 0.0)

    def expired(self) -> bool:
        return self.left() <= 0.0

    def describe(self) -> str:
        if self.stalled <= 0:
            return f"{self.seconds:g}s"
        return f"{self.seconds:g}s (and {self.stalled:.0f}s not counted: the machine stalled)"


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
    *,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll ``predicate`` until it returns a truthy value (returned), for a :class:`Budget` of
    ``timeout`` s. An exception of ``retry_on`` counts as "not yet" (e.g. a ZooKeeper connection
    that a loaded machine dropped for a moment); the last one is chained to the timeout's
    error."""
    budget = Budget(timeout)
    error: BaseException | None = None

    def poll() -> T | None:
        nonlocal error
        try:
            return predicate()
        except retry_on as exc:
            error = exc
            return None

    last = poll()
    while not last:
        if budget.expired():
            raise AssertionError(
                f"timed out after {budget.describe()} waiting for {message or predicate}"
            ) from error
        time.sleep(interval)
        last = poll()
    return last


def join_within(thread: threading.Thread, timeout: float) -> bool:
    """Join ``thread`` for a :class:`Budget` of ``timeout`` s; whether it ended."""
    budget = Budget(timeout)
    while thread.is_alive() and not budget.expired():
        thread.join(min(0.5, budget.left()))
    return not thread.is_alive()


def outcome(call: Callable[[], Any], bound: float) -> BaseException | None:
    """Run ``call`` in a thread: its exception, None if it returned; the test fails if it has
    not ended within ``bound`` (a :class:`Budget`), so a call that hangs fails instead of
    hanging the test."""
    box: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box.append(exc)
        else:
            box.append(None)

    threading.Thread(target=run, name="test-call", daemon=True).start()
    wait_until(lambda: box, bound, message="the call to end")
    return box[0]


def service_missing(what: str) -> None:
    """A required real service is unavailable: a failure in CI, a skip on a laptop."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(what)


def in_forked_child(check: Callable[[], int]) -> int:
    """Run ``check`` in a forked child (as a prefork server forks its workers) and return the
    code it returned, 1 if it raised; the child reports through a pipe and never returns into
    pytest."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = check()
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    result = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    return result[0] if result else 1


def expire_session(client: Any, hosts: str) -> list[str]:
    """Expire ``client``'s ZooKeeper session (a second client attaches to the same session and
    closes it); returns the list the client's states are appended to from now on."""
    from kazoo.client import KazooClient

    states: list[str] = []
    client.add_listener(states.append)
    session_id, password = client.client_id
    thief = KazooClient(hosts=hosts, client_id=(session_id, password), timeout=10)
    thief.start(timeout=20)
    thief.stop()
    thief.close()
    return states


@contextmanager
def started_kazoo(hosts: str, **options: Any) -> Iterator[Any]:
    """A started ``KazooClient`` (``timeout`` 10 s unless given), stopped and closed after."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=hosts, **{"timeout": 10, **options})
    client.start(timeout=20)
    try:
        yield client
    finally:
        client.stop()
        client.close()
