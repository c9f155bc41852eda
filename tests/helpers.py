"""Small helpers shared by the tests (import as ``from tests.helpers import wait_until``)."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
    *,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll ``predicate`` until it returns a truthy value (returned), at most ``timeout`` s.
    An exception of ``retry_on`` counts as "not yet" (e.g. a ZooKeeper connection that a loaded
    machine dropped for a moment); the last one is chained to the timeout's error."""
    deadline = time.monotonic() + timeout
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
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message or predicate}"
            ) from error
        time.sleep(interval)
        last = poll()
    return last


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
