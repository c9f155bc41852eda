"""One stuck or hostile thing never freezes the client: a hung callback, a callback raising a
BaseException, an oversized publish, a server list that refuses connections at start; plus the
read credential and the conditional safety-net check. Fake HTTP server, real ZooKeeper."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from disconf_client import (
    ChangeEvent,
    ConfigUnavailableError,
    LoadMode,
    disconf_file,
    disconf_item,
    field,
    load_settings,
    on_change,
)
from disconf_client.cache import LocalSnapshot
from disconf_client.fetcher import READ_TOKEN_HEADER
from disconf_core import ConfigType
from tests.client.conftest import Harness
from tests.helpers import wait_until


def two_classes() -> tuple[type[Any], type[Any]]:
    @disconf_file("a.properties")
    class A:
        value: str = field(key="value", default="a0")

    @disconf_item("b")
    class B:
        value: str = "b0"

    return A, B


def test_a_hung_callback_does_not_stop_other_configs_and_is_reported(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    A, B = two_classes()
    release = threading.Event()
    entered = threading.Event()
    b_events: list[str] = []

    @on_change(A)
    def stuck_listener(event: ChangeEvent[Any]) -> None:
        entered.set()
        release.wait(30)  # bounded: the test releases it below

    on_change(B)(lambda event: b_events.append(event.new.value))
    harness.publish_file("a.properties", "value=a1\n", notify=False)
    harness.publish_item("b", "b1", notify=False)
    client = harness.client([A, B], callback_warn_after=0.2)
    client.start()
    try:
        with caplog.at_level(logging.WARNING, logger="disconf_client"):
            harness.publish_file("a.properties", "value=a2\n")
            wait_until(entered.is_set, message="A's callback entered")
            harness.publish_item("b", "b2")
            wait_until(lambda: b_events == ["b2"], message="B's callback while A's hangs")
            assert B.value == "b2"
            harness.publish_file("a.properties", "value=a3\n")
            wait_until(lambda: A.value == "a3", message="A's values flow while its callback hangs")
            wait_until(lambda: client.stats.slow_callbacks >= 1, message="the slow report")
        slow = [r.getMessage() for r in caplog.records if "has been running" in r.getMessage()]
        assert slow and "stuck_listener" in slow[0] and "file 'a.properties'" in slow[0]
        assert "callback_warn_after=0.2" in slow[0]
    finally:
        release.set()


def test_callbacks_of_one_config_keep_their_order(harness: Harness) -> None:
    A, _ = two_classes()
    seen: list[str] = []
    gate = threading.Event()

    @on_change(A)
    def slow_then_fast(event: ChangeEvent[Any]) -> None:
        gate.wait(10)
        seen.append(event.new.value)

    client = harness.client([A])
    client.start()
    try:
        for number in range(1, 4):
            harness.publish_file("a.properties", f"value=a{number}\n")
            wait_until(lambda n=number: A.value == f"a{n}", message=f"revision {number}")
        gate.set()
        wait_until(lambda: len(seen) == 3, message="every callback")
        assert seen == ["a1", "a2", "a3"]
    finally:
        gate.set()


def test_a_callback_raising_cancelled_error_kills_no_thread(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: asyncio.CancelledError (a BaseException) ended the worker thread silently."""
    A, B = two_classes()
    b_events: list[str] = []

    @on_change(A)
    def cancelling(event: ChangeEvent[Any]) -> None:
        raise asyncio.CancelledError

    on_change(B)(lambda event: b_events.append(event.new.value))
    client = harness.client([A, B])
    client.start()
    with caplog.at_level(logging.ERROR, logger="disconf_client"):
        harness.publish_file("a.properties", "value=a1\n")
        wait_until(lambda: client.stats.callback_errors == 1, message="the error counted")
    assert any("cancelling" in r.getMessage() for r in caplog.records)
    harness.publish_item("b", "b1")
    harness.publish_file("a.properties", "value=a2\n")
    wait_until(lambda: b_events == ["b1"] and A.value == "a2", message="later publishes apply")
    wait_until(lambda: client.stats.callback_errors == 2, message="A's lane still runs")


def test_an_oversized_publish_is_refused_and_the_old_value_kept(harness: Harness) -> None:
    A, _ = two_classes()
    harness.publish_file("a.properties", "value=small\n", notify=False)
    client = harness.client([A], max_config_bytes=1024)
    client.start()
    assert A.value == "small"
    errors = client.stats.fetch_errors
    harness.publish_file("a.properties", "value=" + "x" * 2000 + "\n")
    wait_until(lambda: client.stats.fetch_errors > errors, message="the refusal")
    assert "max_config_bytes=1024" in (client.stats.last_error or "")
    assert A.value == "small"
    snapshot = LocalSnapshot(harness.download_dir).read(ConfigType.FILE, "a.properties")
    assert snapshot == b"value=small\n"


def _seed(harness: Harness, classes: tuple[type[Any], ...]) -> None:
    snapshot = LocalSnapshot(harness.download_dir)
    snapshot.write(ConfigType.FILE, "a.properties", b"value=snap\n")
    snapshot.write(ConfigType.ITEM, "b", b"snap")


def test_refused_everywhere_starts_auto_from_the_snapshot_at_once(harness: Harness) -> None:
    """Before: every config spent the whole retry budget on every server first."""
    A, B = two_classes()
    _seed(harness, (A, B))
    harness.server.down = True
    client = harness.client(
        [A, B], servers=("http://fake", "http://fake2"), retry_times=3, retry_sleep=30.0
    )
    client.start()
    assert (A.value, B.value) == ("snap", "snap")
    # discovery asked each server once; both refused, so neither config asked again
    assert len(harness.server.requests_seen) == 2


def test_server_mode_keeps_its_retries(harness: Harness) -> None:
    A, B = two_classes()
    harness.server.down = True
    client = harness.client(
        [A, B], mode=LoadMode.SERVER, servers=("http://fake", "http://fake2"), retry_sleep=0
    )
    with pytest.raises(ConfigUnavailableError):
        client.start()
    # discovery then the first config: retry_times (2) tries on each of the 2 servers, each
    assert len(harness.server.requests_seen) == 2 * 2 * 2


def test_the_server_coming_back_is_logged_and_caught_up(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    A, B = two_classes()
    _seed(harness, (A, B))
    harness.server.down = True
    harness.publish_file("a.properties", "value=live\n", notify=False)
    client = harness.client([A, B], retry_sleep=0.05)
    client.start()
    assert A.value == "snap"
    with caplog.at_level(logging.WARNING, logger="disconf_client"):
        harness.server.down = False
        wait_until(lambda: A.value == "live", message="caught up in the background")
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_the_read_token_is_sent_on_every_request_and_never_shown(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    A, B = two_classes()
    harness.publish_file("a.properties", "value=a1\n", notify=False)
    harness.publish_item("b", "b1", notify=False)
    secret = "s3cret-read-token"
    with caplog.at_level(logging.DEBUG):
        client = harness.client([A, B], read_token=secret)
        client.start()
        harness.server.down = True
        client.reload()  # failures are logged: the token must not be in them
    assert harness.server.headers_seen
    assert all(h.get(READ_TOKEN_HEADER) == secret for h in harness.server.headers_seen)
    assert secret not in repr(client.settings)
    assert all(secret not in record.getMessage() for record in caplog.records)
    settings = load_settings(
        app="x", servers="h:1", environ={"DISCONF_READ_TOKEN": secret}, properties_file=None
    )
    assert settings.read_token == secret


def test_no_read_token_no_header(harness: Harness) -> None:
    A, _ = two_classes()
    harness.client([A]).start()
    assert all(READ_TOKEN_HEADER not in h for h in harness.server.headers_seen)


def test_the_safety_net_asks_with_if_none_match(harness: Harness) -> None:
    A, B = two_classes()
    harness.publish_file("a.properties", "value=a1\n", notify=False)
    harness.publish_item("b", "b1", notify=False)
    client = harness.client([A, B], recheck_interval=0.2)
    client.start()
    wait_until(lambda: harness.server.not_modified >= 4, message="two rounds answered 304")
    assert client.stats.fetch_errors == 0
    assert (A.value, B.value) == ("a1", "b1")
    harness.publish_file("a.properties", "value=a2\n", notify=False)  # a missed notification
    wait_until(lambda: A.value == "a2", message="the safety net still applies a change")


def test_a_hung_on_error_hook_does_not_stop_the_worker(harness: Harness) -> None:
    A, B = two_classes()
    release = threading.Event()
    reports: list[str] = []

    def stuck_hook(error: Exception) -> None:
        reports.append(str(error))
        release.wait(30)

    harness.publish_file("a.properties", "value=a1\n", notify=False)
    client = harness.client([A, B], on_error=stuck_hook)
    client.start()
    try:
        harness.publish_file("a.properties", b"\xff\xfe not utf-8")  # rejected: the hook hangs
        wait_until(lambda: reports, message="the error hook called")
        harness.publish_item("b", "b1")
        wait_until(lambda: B.value == "b1", message="values flow while the hook hangs")
        assert A.value == "a1" and client.stats.rejected == 1
    finally:
        release.set()
