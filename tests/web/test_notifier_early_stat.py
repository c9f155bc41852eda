"""The publish's own delivery with the node's stat read sent early (``Notifier.deliver_own``):

* a stat ZooKeeper answered before the publish's commit stands in for the database read (the
  publish writes its own row without reading the outbox back);
* a stat answered only after the commit is followed by the database read, so a newer row that
  another process committed and delivered meanwhile is what ends on the node, never the older;
* another deliverer writing the node between the early stat and the publish's ``set`` makes the
  versioned set fail and the delivery start over with the node's latest row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from kazoo.client import KazooClient

from disconf_web import get_notifier, outbox
from disconf_web.notifier import EarlyStat
from tests.helpers import wait_until

from .conftest import make_tokens
from .test_delivery import BASE, NODE, AppFactory, _app_factory, pending

QUIET = {"NOTIFY_SWEEP_INTERVAL": 3600.0, "NOTIFY_GRACE": 3600.0}


@pytest.fixture
def make_app(migrated_url: str) -> Iterator[AppFactory]:
    yield from _app_factory(migrated_url)


def _two_apps(make_app: AppFactory, zk_hosts: str) -> tuple[Flask, Flask, dict[str, str]]:
    first, second = make_app(zk_hosts, **QUIET), make_app(zk_hosts, **QUIET)
    admin = make_tokens(first).headers("admin")
    for app in (first, second):
        wait_until(lambda app=app: get_notifier(app).connected, timeout=20)
    warm = first.test_client().put(f"{BASE}/items/k", json={"value": "0"}, headers=admin)
    assert warm.get_json()["notification"] == "delivered"
    return first, second, admin


def _count_latest_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the node paths ``outbox.latest`` is asked for (the delivery's database read)."""
    reads: list[str] = []
    real = outbox.latest

    def spy(db: Any, key: outbox.NodeKey) -> Any:
        reads.append(key.path)
        return real(db, key)

    monkeypatch.setattr(outbox, "latest", spy)
    return reads


def test_a_stat_answered_before_the_commit_needs_no_database_read(
    make_app: AppFactory, zk_hosts: str, zk: KazooClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _second, admin = _two_apps(make_app, zk_hosts)
    real_seal = EarlyStat.seal
    sealed: list[bool] = []

    def seal_once_answered(self: EarlyStat) -> None:
        self._answer.get(timeout=10)  # make sure ZooKeeper has answered before the commit
        real_seal(self)
        sealed.append(self.answered_before_commit)

    monkeypatch.setattr(EarlyStat, "seal", seal_once_answered)
    reads = _count_latest_reads(monkeypatch)
    answer = first.test_client().put(f"{BASE}/items/k", json={"value": "1"}, headers=admin)
    assert sealed == [True]
    assert answer.get_json()["notification"] == "delivered"
    assert zk.get(f"{NODE}/item/k")[0] == b"1"
    assert reads == []  # the publish wrote its own row: the stat was in before its commit
    assert pending(first) == 0


def test_a_stat_answered_after_the_commit_reads_the_database(
    make_app: AppFactory, zk_hosts: str, zk: KazooClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The early stat is sent to ZooKeeper only when the delivery waits for it, i.e. after
    the commit, and another process commits and delivers a newer value before that: the
    stat then carries the newer write's version, and writing the publish's own (older) row
    with it would move the node back."""
    first, second, admin = _two_apps(make_app, zk_hosts)
    kazoo = get_notifier(first)._zk
    assert kazoo is not None
    real_exists = kazoo.exists_async
    late: list[str] = []

    class Late:
        """An answer that is sent only when someone waits for it (never ready before)."""

        def __init__(self, path: str) -> None:
            self.path = path

        def ready(self) -> bool:
            return False

        def get(self, block: bool = True, timeout: float | None = None) -> Any:
            late.append(self.path)
            newer = second.test_client().put(f"{BASE}/items/k", json={"value": "2"}, headers=admin)
            assert newer.get_json()["notification"] == "delivered"
            return real_exists(self.path).get(block, timeout)

    calls = {"n": 0}

    def first_exists_late(path: str, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return Late(path) if calls["n"] == 1 else real_exists(path, *args, **kwargs)

    kazoo.exists_async = first_exists_late  # type: ignore[method-assign]
    reads = _count_latest_reads(monkeypatch)
    answer = first.test_client().put(f"{BASE}/items/k", json={"value": "1"}, headers=admin)
    assert answer.status_code == 200
    assert late == [f"{NODE}/item/k"]
    assert f"{NODE}/item/k" in reads  # the delivery read the node's latest row
    assert zk.get(f"{NODE}/item/k")[0] == b"2"  # the newer row, not the publish's own
    assert pending(first) == 0


def test_a_write_between_the_early_stat_and_the_set_makes_the_delivery_start_over(
    make_app: AppFactory, zk_hosts: str, zk: KazooClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stat is answered before the commit; another process publishes and delivers a newer
    value before the first one's ``set``: that set fails, the delivery reads the latest row
    and the node keeps the newer value."""
    first, second, admin = _two_apps(make_app, zk_hosts)
    kazoo = get_notifier(first)._zk
    assert kazoo is not None
    real_set = kazoo.set_async
    refused: list[str] = []
    sets = {"n": 0}

    def set_after_a_newer_delivery(path: str, data: bytes, *args: Any, **kwargs: Any) -> Any:
        sets["n"] += 1
        if sets["n"] == 1:
            newer = second.test_client().put(f"{BASE}/items/k", json={"value": "2"}, headers=admin)
            assert newer.get_json()["notification"] == "delivered"
        answer = real_set(path, data, *args, **kwargs)
        if sets["n"] == 1:
            try:
                answer.get(timeout=10)
            except Exception as exc:  # noqa: BLE001 - recorded; the delivery sees it too
                refused.append(type(exc).__name__)
        return answer

    kazoo.set_async = set_after_a_newer_delivery  # type: ignore[method-assign]
    reads = _count_latest_reads(monkeypatch)
    done = threading.Event()
    answers: list[Any] = []

    def publish() -> None:
        answers.append(
            first.test_client().put(f"{BASE}/items/k", json={"value": "1"}, headers=admin)
        )
        done.set()

    thread = threading.Thread(target=publish)
    thread.start()
    assert done.wait(60)
    thread.join(10)
    assert answers and answers[0].status_code == 200
    assert refused == ["BadVersionError"]  # the early stat's version was stale: no write
    assert f"{NODE}/item/k" in reads  # the second round read the latest row
    assert zk.get(f"{NODE}/item/k")[0] == b"2"
    assert pending(first) == 0
