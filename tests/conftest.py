"""Session-wide real services for the tests.

* ``zk_server``: one ZooKeeper per test session, started from the Debian jars on 127.0.0.1
  (readiness probed with ``ruok``/``srvr``), stopped by PID at the end.
* ``zk_hosts``: a connect string with a fresh chroot per test, so tests never see each
  other's nodes; ``zk``: a connected kazoo client on it; ``zk_proxy``: a loopback proxy in
  front of ``zk_server`` that a test can cut, freeze (accept and never answer) and restore.
* ``mysql_admin_url`` / ``make_mysql_database``: a real MariaDB/MySQL
  (``DISCONF_TEST_MYSQL_URL``, default ``mysql+pymysql://root@127.0.0.1:3306``) with throwaway
  databases dropped at the end of the run.

In CI (``CI=true``) a missing ZooKeeper or MySQL fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from kazoo.client import KazooClient

from disconf_web.embedded_zookeeper import (
    EmbeddedZooKeeper,
    ZooKeeperNotInstalled,
    ZooKeeperStartError,
)
from tests.helpers import service_missing, started_kazoo
from tests.tcp_proxy import TcpProxy

pytest_plugins = ["tests.plugins.web"]

DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306"


@pytest.fixture(scope="session")
def zk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedZooKeeper]:
    server = EmbeddedZooKeeper(tmp_path_factory.mktemp("zookeeper"))
    try:
        server.start(timeout=60)
    except (ZooKeeperNotInstalled, ZooKeeperStartError) as exc:
        service_missing(f"ZooKeeper unavailable: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def zk_hosts(zk_server: EmbeddedZooKeeper) -> Iterator[str]:
    """``127.0.0.1:<port>/t-<random>``: a fresh, existing chroot for this test."""
    chroot = f"/t-{uuid.uuid4().hex[:12]}"
    admin = KazooClient(hosts=zk_server.hosts, timeout=10)
    admin.start(timeout=20)
    try:
        admin.ensure_path(chroot)
    finally:
        admin.stop()
        admin.close()
    yield f"{zk_server.hosts}{chroot}"


@pytest.fixture
def zk(zk_hosts: str) -> Iterator[KazooClient]:
    with started_kazoo(zk_hosts) as client:
        yield client


@pytest.fixture
def zk_proxy(zk_server: EmbeddedZooKeeper) -> Iterator[TcpProxy]:
    proxy = TcpProxy(zk_server.port)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture(scope="session")
def mysql_admin_url() -> str:
    """The server URL (no database) of the real MySQL/MariaDB, checked to answer."""
    import sqlalchemy as sa

    url = os.environ.get("DISCONF_TEST_MYSQL_URL", DEFAULT_MYSQL_URL).rstrip("/")
    engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means: no usable MySQL
        service_missing(f"MySQL/MariaDB unavailable at {url}: {exc}")
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def make_mysql_database(mysql_admin_url: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh empty MySQL databases (utf8mb4); all dropped at the end."""
    import sqlalchemy as sa

    engine = sa.create_engine(mysql_admin_url)
    created: list[str] = []

    def make() -> str:
        name = f"disconf_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with engine.begin() as connection:
            connection.execute(
                sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            )
        created.append(name)
        return f"{mysql_admin_url}/{name}?charset=utf8mb4"

    try:
        yield make
    finally:
        with engine.begin() as connection:
            for name in created:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        engine.dispose()


@pytest.fixture(params=["sqlite", "mysql", "mysqldb"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: on SQLite, and on the real MySQL through each driver we document
    (``mysql``: PyMySQL, ``mysqldb``: the C driver mysqlclient, ``mysql+mysqldb://``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'disconf.sqlite'}"
    make: Callable[[], str] = request.getfixturevalue("make_mysql_database")
    url = make()
    if request.param == "mysqldb":
        return sa.make_url(url).set(drivername="mysql+mysqldb").render_as_string(False)
    return url
