"""The session timeout ZooKeeper grants may differ from the one asked for: it is reported, a
warning is logged, and the takeover bound uses it (against the embedded ZooKeeper, whose
``minSessionTimeout`` is 2 x tickTime and ``maxSessionTimeout`` 60 s)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from kazoo.client import KazooClient

from disconf_client.standby import RETRY_PAUSE, ActiveStandby
from disconf_client.standby.session import make_client, session_timeouts
from disconf_web.embedded_zookeeper import EmbeddedZooKeeper
from tests.helpers import wait_until

MakeElection = Callable[..., ActiveStandby]


def granted(election: ActiveStandby) -> float:
    value = wait_until(
        lambda: election.negotiated_session_timeout, 15, message="a negotiated session timeout"
    )
    assert value is not None
    return value


def test_a_raised_session_timeout_is_reported_and_warned_once(
    make_election: MakeElection, zk_server: EmbeddedZooKeeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="disconf_client.standby")
    minimum = zk_server.tick_ms * 2 / 1000  # the server's minSessionTimeout, in seconds
    asked = minimum / 2
    election = make_election("a", name="short", session_timeout=asked)
    assert granted(election) == minimum
    assert election.takeover_bound == minimum + RETRY_PAUSE
    wait_until(lambda: "'short': ZooKeeper granted" in caplog.text, 10, message="the warning")
    warnings = [r for r in caplog.records if "ZooKeeper granted" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert f"of {minimum:.1f}s, not the {asked:.1f}s asked for" in warnings[0].getMessage()
    assert f"replaced within {minimum + RETRY_PAUSE:.1f}s" in warnings[0].getMessage()


def test_a_lowered_session_timeout_is_reported_too(
    make_election: MakeElection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="disconf_client.standby")
    election = make_election("a", name="long", session_timeout=120.0)
    assert granted(election) == 60.0  # the embedded server's maxSessionTimeout
    assert election.takeover_bound == 60.0 + RETRY_PAUSE
    wait_until(lambda: "of 60.0s, not the 120.0s" in caplog.text, 10, message="the warning")


def test_a_granted_request_is_silent(
    make_election: MakeElection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="disconf_client.standby")
    election = make_election("a", name="exact", session_timeout=2.0)
    assert granted(election) == 2.0
    wait_until(lambda: election.is_master, 10)
    assert "ZooKeeper granted" not in caplog.text
    assert election.takeover_bound == 2.0 + RETRY_PAUSE


def test_shared_clients(make_election: MakeElection, zk: KazooClient, zk_hosts: str) -> None:
    # a client made elsewhere: kazoo does not report the value, the requested one is assumed
    plain = make_election("a", name="plain", client=zk, session_timeout=3.0)
    wait_until(lambda: plain.is_master, 10)
    assert plain.negotiated_session_timeout is None
    assert plain.takeover_bound == 3.0 + RETRY_PAUSE
    # a shared client made by make_client reports it
    shared = make_client(zk_hosts, 1.0)
    shared.start(20)
    election = None
    try:
        observed = session_timeouts(shared)
        assert observed is not None and observed.requested == 1.0
        assert observed.negotiated == 1.0
        election = make_election("b", name="observed", client=shared)
        assert granted(election) == 1.0
    finally:
        if election is not None:
            election.stop()
        shared.stop()
        shared.close()
