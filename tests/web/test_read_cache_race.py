"""End to end: a client re-fetching right after its notification never gets the previous revision.

Two ``disconf-web serve`` processes on one database (MariaDB through PyMySQL and mysqlclient, and
SQLite): node A publishes, a kazoo ``DataWatch`` on the item's node sees each notification, and
on each one the value is fetched at once from node B, whose read cache holds the previous
revision (B is read continuously by background readers, so its gate always has a read in flight
when the fetch arrives). B runs three worker processes, so a fetch may be answered on the strength
of a generation read made by another of its workers (:mod:`disconf_web.protocol.shared_gate`).
Every fetch must answer the published revision or a newer one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from kazoo.client import KazooClient

from bench.harness import WebServer
from disconf_core import ConfigType, Coordinates
from disconf_core.zkpaths import config_node
from tests.helpers import Budget

APP, ENV, VERSION, KEY = "race", "prod", "1_0_0", "counter"
ITERATIONS = 60  # publishes per backend
TIME_BOUND = 120.0  # seconds for all of them
WAIT = 20.0  # seconds: each notification, each fetch


@pytest.fixture(params=["sqlite", "pymysql", "mysqldb"])
def shared_url(
    request: pytest.FixtureRequest, tmp_path: Path, make_mysql_database: Callable[[], str]
) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.sqlite'}"
    url = make_mysql_database()
    driver = "mysql+pymysql" if request.param == "pymysql" else "mysql+mysqldb"
    return sa.make_url(url).set(drivername=driver).render_as_string(hide_password=False)


@pytest.fixture
def two_nodes(shared_url: str, zk_hosts: str, tmp_path: Path) -> Iterator[tuple[WebServer, ...]]:
    servers = [
        WebServer(tmp_path / "a", shared_url, zk_hosts, workers=1, name="a"),
        WebServer(tmp_path / "b", shared_url, zk_hosts, workers=3, name="b"),
    ]
    servers[0].bootstrap_admin()
    servers[1].admin_token = servers[0].admin_token
    try:
        for server in servers:
            server.start()
        yield tuple(servers)
    finally:
        for server in servers:
            server.stop()


def _fetch(session: requests.Session, server: WebServer) -> str:
    answer = session.get(
        server.url + "/api/config/item",
        params={"app": APP, "env": ENV, "version": VERSION, "key": KEY},
        timeout=WAIT,
    )
    answer.raise_for_status()
    return str(answer.json()["value"])


def test_a_fetch_right_after_the_notification_never_gets_the_previous_revision(
    two_nodes: tuple[WebServer, WebServer], zk: KazooClient
) -> None:
    a, b = two_nodes
    a.ensure_app_env(APP, ENV)
    a.publish_item(APP, ENV, VERSION, KEY, "0")
    node = config_node("/disconf", Coordinates(APP, VERSION, ENV), ConfigType.ITEM, KEY)
    notified: queue.Queue[str] = queue.Queue()

    def on_data(data: bytes | None, _stat: Any) -> None:
        if data:
            notified.put(data.decode())  # handed off: the fetch runs on the test thread

    zk.DataWatch(node, on_data)
    stop = threading.Event()
    background_errors: list[BaseException] = []

    def keep_reading() -> None:  # keeps B's gate busy: fetches arrive during in-flight reads
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    _fetch(session, b)
                except requests.RequestException as exc:
                    background_errors.append(exc)
                    return

    readers = [threading.Thread(target=keep_reading, daemon=True) for _ in range(3)]
    for reader in readers:
        reader.start()
    stale: list[tuple[int, str]] = []
    began = time.monotonic()
    done = 0
    try:
        with requests.Session() as session:
            assert _fetch(session, b) == "0"  # B keeps revision "0"
            for number in range(1, ITERATIONS + 1):
                if time.monotonic() - began > TIME_BOUND:
                    break
                a.publish_item(APP, ENV, VERSION, KEY, str(number))
                budget = Budget(WAIT)
                while True:  # the notification of this publish (older ones may come first)
                    assert not budget.expired(), f"no notification of revision {number}"
                    try:
                        seen = notified.get(timeout=min(0.5, budget.left()))
                    except queue.Empty:
                        continue
                    if seen == str(number):
                        break
                value = _fetch(session, b)  # at once, from the other node
                if int(value) < number:
                    stale.append((number, value))
                done = number
    finally:
        stop.set()
        for reader in readers:
            reader.join(WAIT)
    assert not background_errors, background_errors
    assert done >= 10, f"only {done} publishes within {TIME_BOUND}s"
    assert stale == [], f"fetches after a notification answered an older revision: {stale}"
