"""ZooKeeper unreachable or silent: the recipe's calls end within the session timeout with a
``CoordinatorUnavailableError`` — a ``MastershipError``, the one family a master's loop catches.

Each call runs in a helper thread that the test waits for with a bound, so a call that hangs (the
behaviour before the fix, for a request queued while disconnected) fails the test instead of
hanging it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from disconf_client.standby import (
    ActiveStandby,
    CoordinatorUnavailableError,
    MastershipError,
    NotMasterError,
)
from tests.helpers import outcome as call_outcome
from tests.helpers import wait_until
from tests.tcp_proxy import TcpProxy

MakeElection = Callable[..., ActiveStandby]
CALL_BOUND = 30.0  # the test's bound for a call that must end within the session timeout
CONTEXT = b'{"format":"json","token":0,"saved_at":0,"host":"h","pid":1,"size":2}\n{}'


def outcome(call: Callable[[], Any]) -> BaseException | None:
    return call_outcome(call, CALL_BOUND)


def test_a_write_on_a_lost_connection_raises_a_mastership_error(
    make_election: MakeElection, proxy: TcpProxy, chroot: str
) -> None:
    flaky = make_election("a", hosts=proxy.address + chroot, session_timeout=2.0)
    wait_until(lambda: flaky.is_master, 10)
    node = flaky._master_node
    assert node is not None
    proxy.cut()
    wait_until(lambda: not flaky.is_master, 5)
    with pytest.raises(NotMasterError, match="only the master"):
        flaky.save_context({"a": 1})
    # the transaction itself, as when a save was already on its way when the connection died
    error = outcome(lambda: flaky._write_context(node, CONTEXT))
    assert isinstance(error, CoordinatorUnavailableError), error
    assert isinstance(error, MastershipError)
    assert "'job'" in str(error) and "saving the context" in str(error)


def test_calls_to_a_peer_that_never_answers_end_within_the_session_timeout(
    make_election: MakeElection, proxy: TcpProxy, chroot: str
) -> None:
    election = make_election("a", hosts=proxy.address + chroot, session_timeout=2.0)
    wait_until(lambda: election.is_master, 10)
    election.save_context({"n": 1})
    proxy.freeze()  # connections stay open; nothing is ever answered again
    for call in (election.load_context, election.contenders):
        error = outcome(call)
        assert isinstance(error, CoordinatorUnavailableError), error
    wait_until(lambda: not election.is_master, 10, message="the silent session is given up")
    # now a request waits in kazoo's queue for a reconnect that never completes
    for call in (election.load_context, election.contenders):
        error = outcome(call)
        assert isinstance(error, CoordinatorUnavailableError), error
    proxy.restore()

    def load() -> object:
        try:
            return election.load_context()
        except CoordinatorUnavailableError:
            return None  # e.g. the session expired meanwhile: kazoo starts a new one

    loaded = wait_until(load, 20, message="calls work again after restore")
    assert getattr(loaded, "value", None) == {"n": 1}
    wait_until(lambda: election.is_master, 20, message="master again on a new session")
