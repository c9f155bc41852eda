"""Scale-out fixtures: a 3-node ZooKeeper ensemble, web processes (``disconf-web serve``) on one
MySQL database, a cuttable TCP proxy in front of MySQL, and a ``DisconfClient`` factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bench.harness import WebServer
from disconf_client import DisconfClient, disconf_item
from disconf_web.embedded_zookeeper import ZooKeeperEnsemble
from tests.tcp_proxy import TcpProxy

APP, ENV, VERSION = "shop", "prod", "1_0_0"


@pytest.fixture
def ensemble(tmp_path: Path) -> Iterator[ZooKeeperEnsemble]:
    zk = ZooKeeperEnsemble(tmp_path / "ensemble", size=3)
    try:
        zk.start()
        yield zk
    finally:
        zk.stop()


@pytest.fixture
def mysql_url(make_mysql_database: Callable[[], str]) -> str:
    url = make_mysql_database()
    from disconf_web.migrate import upgrade

    upgrade(url)
    return url


@pytest.fixture
def mysql_proxy(mysql_url: str) -> Iterator[TcpProxy]:
    """A proxy to the MySQL server that a test can cut (the shared MariaDB keeps running)."""
    proxy = TcpProxy(sa.make_url(mysql_url).port or 3306)
    try:
        yield proxy
    finally:
        proxy.close()


def proxied(url: str, proxy: TcpProxy) -> str:
    return sa.make_url(url).set(port=proxy.port).render_as_string(hide_password=False)


@pytest.fixture
def make_web(tmp_path: Path) -> Iterator[Callable[..., WebServer]]:
    """Start web processes (stopped by PID at the end); the first creates the admin token."""
    servers: list[WebServer] = []

    def make(database_url: str, zk_hosts: str, *, workers: int = 2) -> WebServer:
        index = len(servers) + 1
        server = WebServer(
            tmp_path / f"web{index}", database_url, zk_hosts, workers=workers, name=f"web{index}"
        )
        if servers:
            server.admin_token = servers[0].admin_token
        else:
            server.bootstrap_admin()
        servers.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


class Watched:
    """A ``DisconfClient`` on one item, recording every value its callback receives."""

    def __init__(self, server_url: str, key: str, download_dir: Path) -> None:
        self.key = key
        holder: Any = type("Item", (), {"__annotations__": {"value": str}, "value": ""})
        self.cls = disconf_item(key)(holder)
        self.seen: list[str] = []
        self.client = DisconfClient(
            [self.cls], app=APP, env=ENV, version=VERSION, servers=[server_url],
            mode="server", download_dir=download_dir, recheck_interval=3600,
            retry_times=2, retry_sleep=0.2, on_change=lambda e: self.seen.append(e.new.value),
        )  # fmt: skip

    @property
    def value(self) -> str:
        return str(self.cls.value)


@pytest.fixture
def watch(tmp_path: Path) -> Iterator[Callable[[str, str], Watched]]:
    clients: list[Watched] = []

    def make(server_url: str, key: str) -> Watched:
        watched = Watched(server_url, key, tmp_path / f"client{len(clients)}")
        watched.client.start()
        clients.append(watched)
        return watched

    try:
        yield make
    finally:
        for watched in clients:
            watched.client.close()
