"""A ZooKeeper that accepts TCP connections and never answers (a black-hole listener on
loopback, :class:`tests.web.fault_proxy.FaultProxy` in black-hole mode): every wait of the
delivery path gives up within its bound. A publish is stored and answers ``pending``, client
reads stay ready while writes are not, and the views that read ZooKeeper (instances self-check,
master/standby elections, the console's self-check page) answer "unavailable" instead of
hanging. (ZooKeeper paused with SIGSTOP and down at start are covered in test_delivery.py and
test_notifications.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from disconf_web import create_app, get_db, get_notifier, shutdown_app
from disconf_web.embedded_zookeeper import EmbeddedZooKeeper, free_port
from disconf_web.migrate import upgrade
from disconf_web.models import Notification
from tests.helpers import wait_until

from .conftest import Tokens, make_tokens
from .fault_proxy import FaultProxy

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"


@pytest.fixture
def black_hole() -> Iterator[str]:
    """``127.0.0.1:<port>`` of a listener that accepts every connection and never answers."""
    proxy = FaultProxy(free_port())
    try:
        proxy.black_hole()
        yield f"127.0.0.1:{proxy.port}"
    finally:
        proxy.stop()


@pytest.fixture
def app(tmp_path: Path, black_hole: str) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path / 'disconf.sqlite'}"
    upgrade(url)
    flask_app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "ZK_HOSTS": black_hole,
            "ZK_TIMEOUT": 2.0,
            "NOTIFY_INLINE_TIMEOUT": 2.0,
            "NOTIFY_SWEEP_INTERVAL": 0.2,
        }
    )
    try:
        yield flask_app
    finally:
        shutdown_app(flask_app)


@pytest.fixture
def tokens(app: Flask) -> Tokens:
    return make_tokens(app)


def _undelivered(app: Flask) -> int:
    """Notification rows neither delivered nor given up on."""
    with get_db(app).new_session() as session:
        count = session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(Notification.delivered_at.is_(None), Notification.failed_at.is_(None))
        )
    return int(count or 0)


def test_publish_is_stored_and_pending(app: Flask, tokens: Tokens) -> None:
    client = app.test_client()
    admin = tokens.headers("admin")
    answer = client.put(f"{BASE}/items/k", json={"value": "v"}, headers=admin)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert answer.get_json()["notification"] == "pending"
    assert not get_notifier(app).connected
    assert _undelivered(app) == 1
    stored = client.get(f"{BASE}/items/k", headers=admin)
    assert stored.status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200  # client reads need the database only
    writes = client.get("/readyz/writes")
    assert writes.status_code == 503
    assert writes.get_json()["checks"]["database"] == "ok"
    assert "zookeeper" in writes.get_json()["error"]


def test_views_that_read_zookeeper_answer_unavailable(app: Flask, tokens: Tokens) -> None:
    client = app.test_client()
    admin = tokens.headers("admin")
    assert client.put(f"{BASE}/files/a.properties", data=b"a=1\n", headers=admin).status_code == 201
    for url in (
        f"{BASE}/files/a.properties/instances",
        f"{BASE}/standby",
        f"{BASE}/standby/worker",
    ):
        answer = client.get(url, headers=admin)
        assert answer.status_code == 503, (url, answer.get_data(as_text=True))
        assert answer.get_json()["error"], url


@pytest.fixture
def proxied(tmp_path: Path, zk_server: EmbeddedZooKeeper) -> Iterator[tuple[Flask, FaultProxy]]:
    """An app whose ZooKeeper connection goes through a proxy to the real server."""
    proxy = FaultProxy(int(zk_server.hosts.rsplit(":", 1)[1]))
    url = f"sqlite:///{tmp_path / 'proxied.sqlite'}"
    upgrade(url)
    flask_app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "ZK_HOSTS": f"127.0.0.1:{proxy.port}",
            "ZK_TIMEOUT": 4.0,
            "NOTIFY_INLINE_TIMEOUT": 2.0,
            "NOTIFY_SWEEP_INTERVAL": 0.2,
        }
    )
    try:
        yield flask_app, proxy
    finally:
        shutdown_app(flask_app)
        proxy.stop()


def test_a_session_that_goes_silent(proxied: tuple[Flask, FaultProxy]) -> None:
    """Connected first, then the peer keeps the connection open and stops answering: the
    publish is stored pending and the views that read ZooKeeper answer 503, none hangs."""
    app, proxy = proxied
    tokens = make_tokens(app)
    client = app.test_client()
    admin = tokens.headers("admin")
    wait_until(lambda: get_notifier(app).connected, timeout=30)
    first = client.put(f"{BASE}/files/a.properties", data=b"a=1\n", headers=admin)
    assert first.get_json()["notification"] == "delivered"
    proxy.black_hole()  # the views first: the client still believes it is connected
    for url in (
        f"{BASE}/files/a.properties/instances",
        f"{BASE}/standby",
        f"{BASE}/standby/worker",
    ):
        view = client.get(url, headers=admin)
        assert view.status_code == 503, (url, view.get_data(as_text=True))
    answer = client.put(f"{BASE}/files/a.properties", data=b"a=2\n", headers=admin)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["notification"] == "pending"
    assert _undelivered(app) == 1
    assert client.get("/readyz").status_code == 200
    # Writes readiness follows the connection state: not ready once the client has given the
    # silent connection up (within its session timeout), while client reads stay ready.
    wait_until(lambda: client.get("/readyz/writes").status_code == 503, timeout=30)
    assert client.get("/readyz").status_code == 200
    proxy.restore()
    wait_until(lambda: _undelivered(app) == 0, timeout=60, message="the pending notification")
