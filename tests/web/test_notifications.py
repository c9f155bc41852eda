"""ZooKeeper notifications: node creation and setData payloads as a kazoo watcher sees them,
delivery surviving a ZooKeeper outage and a web restart, the instance self-check."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from kazoo.client import KazooClient
from kazoo.protocol.states import EventType

from disconf_core import ConfigType
from disconf_core.notification import content_from_node, read_trailer, trailer
from disconf_web import create_app, get_db, get_notifier, shutdown_app
from disconf_web.embedded_zookeeper import EmbeddedZooKeeper
from disconf_web.migrate import upgrade
from disconf_web.models import Notification
from tests.helpers import expire_session, join_within, wait_until

from .conftest import make_tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"
NODE = "/disconf/demo_1_0_0_dev"

AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[AppFactory]:
    """Build apps on one SQLite database; all shut down at the end."""
    url = f"sqlite:///{tmp_path / 'disconf.sqlite'}"
    upgrade(url)
    apps: list[Flask] = []

    def make(zk_hosts: str, **config: Any) -> Flask:
        settings = {
            "TESTING": True,
            "DATABASE_URL": url,
            "ZK_HOSTS": zk_hosts,
            "ZK_TIMEOUT": 4.0,
            "NOTIFY_SWEEP_INTERVAL": 0.2,
            "NOTIFY_BACKOFF_INITIAL": 0.1,
            "NOTIFY_BACKOFF_MAX": 0.5,
            **config,
        }
        app = create_app(settings)
        apps.append(app)
        return app

    try:
        yield make
    finally:
        for app in apps:
            shutdown_app(app)


def pending(app: Flask) -> int:
    with get_db(app).new_session() as session:
        query = sa.select(sa.func.count()).select_from(Notification)
        return int(session.scalar(query.where(Notification.delivered_at.is_(None))) or 0)


def test_publish_creates_node_and_sets_payloads(make_app: AppFactory, zk_hosts: str,
                                                zk: KazooClient) -> None:  # fmt: skip
    app = make_app(zk_hosts)
    tokens = make_tokens(app)
    client = app.test_client()
    wait_until(lambda: get_notifier(app).connected, timeout=20)
    admin = tokens.headers("admin")

    created = client.put(f"{BASE}/files/redis.properties", data="a=1\nb=中\n".encode(),
                         headers=admin)  # fmt: skip
    assert created.get_json()["notification"] == "delivered"
    data, _ = zk.get(f"{NODE}/file/redis.properties")
    payload = json.dumps("a=1\nb=中\n", ensure_ascii=False).encode("utf-8")
    assert data == payload + trailer(payload, complete=True)  # spec payload + digest trailer
    assert json.loads(data) == "a=1\nb=中\n"
    assert content_from_node(ConfigType.FILE, data) == "a=1\nb=中\n".encode()

    seen: list[tuple[bytes | None, Any]] = []

    def watcher(value: bytes | None, _stat: Any, event: Any) -> None:
        seen.append((value, event.type if event else None))

    zk.DataWatch(f"{NODE}/file/redis.properties", watcher)
    wait_until(lambda: len(seen) == 1)
    updated = client.put(f"{BASE}/files/redis.properties", data=b"a=2\n", headers=admin)
    assert updated.get_json()["notification"] == "delivered"
    wait_until(lambda: len(seen) == 2)
    assert seen[1] == (b'"a=2\\n"' + trailer(b'"a=2\\n"', complete=True), EventType.CHANGED)

    item = client.put(f"{BASE}/items/discountRate", json={"value": "0.75"}, headers=admin)
    assert item.status_code == 201 and item.get_json()["notification"] == "delivered"
    assert zk.get(f"{NODE}/item/discountRate")[0] == b"0.75"
    assert pending(app) == 0


def test_node_that_a_client_created_first_gets_set(make_app: AppFactory, zk_hosts: str,
                                                   zk: KazooClient) -> None:  # fmt: skip
    """Clients create missing nodes and watch them; the first publish must fire their watch."""
    zk.ensure_path(f"{NODE}/item/rate")
    events: list[Any] = []
    zk.DataWatch(f"{NODE}/item/rate", lambda data, stat, event: events.append(event))
    app = make_app(zk_hosts)
    tokens = make_tokens(app)
    wait_until(lambda: get_notifier(app).connected, timeout=20)
    app.test_client().put(
        f"{BASE}/items/rate", json={"value": "1"}, headers=tokens.headers("admin")
    )
    wait_until(lambda: any(e is not None and e.type == EventType.CHANGED for e in events))
    assert zk.get(f"{NODE}/item/rate")[0] == b"1"


def test_zookeeper_down_at_start_does_not_block(make_app: AppFactory, tmp_path: Path) -> None:
    from disconf_web.embedded_zookeeper import free_port

    # An inline budget no test could wait for: a write that waited for it would fail the bound.
    app = make_app(f"127.0.0.1:{free_port()}", NOTIFY_INLINE_TIMEOUT=3600.0)
    tokens = make_tokens(app)
    client = app.test_client()
    answers: list[Any] = []
    writer = threading.Thread(
        target=lambda: answers.append(
            client.put(f"{BASE}/items/k", json={"value": "v"}, headers=tokens.headers("admin"))
        ),
        daemon=True,
    )
    writer.start()
    assert join_within(writer, 60), "the write waited for a ZooKeeper that is not there"
    answer = answers[0]
    ready = client.get("/readyz/writes")
    # No ZooKeeper: the write succeeds at once, pending; write readiness says what is missing
    # (client reads stay ready: /readyz is 200, see disconf_web.api.health).
    assert answer.status_code == 201 and answer.get_json()["notification"] == "pending"
    assert ready.status_code == 503
    body = ready.get_json()
    assert body["error"] == "not reachable: zookeeper"
    assert body["checks"]["database"] == "ok"
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    instances = client.get(f"{BASE}/items/k/instances", headers=tokens.headers("admin"))
    assert instances.status_code == 503


def test_notifications_survive_zookeeper_outage(make_app: AppFactory, tmp_path: Path) -> None:
    server = EmbeddedZooKeeper(tmp_path / "zk-outage")
    server.start(timeout=60)
    watcher = None
    try:
        app = make_app(server.hosts)
        tokens = make_tokens(app)
        client = app.test_client()
        admin = tokens.headers("admin")
        notifier = get_notifier(app)
        wait_until(lambda: notifier.connected, timeout=20)
        client.put(f"{BASE}/items/k", json={"value": "0"}, headers=admin)

        server.stop()
        wait_until(lambda: not notifier.connected, timeout=20)
        answers = [
            client.put(f"{BASE}/items/k", json={"value": str(n)}, headers=admin).get_json()
            for n in (1, 2, 3)
        ]
        file_answer = client.put(f"{BASE}/files/f.txt", data=b"during outage", headers=admin)
        assert [a["notification"] for a in answers] == ["pending"] * 3
        assert file_answer.get_json()["notification"] == "pending"
        assert pending(app) == 4

        server.start(timeout=60)
        wait_until(lambda: pending(app) == 0, timeout=30, message="pending notifications")
        watcher = KazooClient(hosts=server.hosts, timeout=10)
        watcher.start(timeout=20)
        assert watcher.get(f"{NODE}/item/k")[0] == b"3"  # delivered in order: the last wins
        assert read_trailer(watcher.get(f"{NODE}/file/f.txt")[0])[0] == b'"during outage"'
        assert client.get("/readyz/writes").status_code == 200
    finally:
        if watcher is not None:
            watcher.stop()
            watcher.close()
        server.stop()


def test_pending_notifications_survive_web_restart(make_app: AppFactory, zk_hosts: str,
                                                   zk: KazooClient) -> None:  # fmt: skip
    offline = make_app(zk_hosts, ZK_ENABLED=False)  # a web process that cannot reach ZooKeeper
    tokens = make_tokens(offline)
    admin = tokens.headers("admin")
    client = offline.test_client()
    for value in ("a", "b"):
        answer = client.put(f"{BASE}/items/k", json={"value": value}, headers=admin)
        assert answer.get_json()["notification"] == "pending"
    shutdown_app(offline)
    assert not zk.exists(f"{NODE}/item/k")

    restarted = make_app(zk_hosts)  # a new process on the same database delivers at start-up
    wait_until(lambda: pending(restarted) == 0, timeout=30)
    assert zk.get(f"{NODE}/item/k")[0] == b"b"


def test_instances_self_check(make_app: AppFactory, zk_hosts: str, zk: KazooClient) -> None:
    app = make_app(zk_hosts)
    tokens = make_tokens(app)
    client = app.test_client()
    admin = tokens.headers("admin")
    wait_until(lambda: get_notifier(app).connected, timeout=20)
    client.put(f"{BASE}/files/redis.properties", data=b"host=h\nport=6379\n", headers=admin)
    client.put(f"{BASE}/items/rate", json={"value": "0.5"}, headers=admin)
    empty = client.get(f"{BASE}/files/redis.properties/instances", headers=admin).get_json()
    assert empty["instances"] == [] and empty["counts"] == {"instances": 0, "mismatched": 0}

    file_node = f"{NODE}/file/redis.properties"
    zk.create(f"{file_node}/host1_0_aaa", b'{"host":"h","port":6379}', ephemeral=True)
    zk.create(f"{file_node}/host2_0_bbb", b'{"host":"h","port":6380}', ephemeral=True)
    zk.create(f"{file_node}/host3_0_ccc", b"not json", ephemeral=True)
    zk.create(f"{NODE}/item/rate/host1_0_aaa", b" 0.5 ", ephemeral=True)
    zk.create(f"{NODE}/item/rate/host2_0_bbb", b"0.4", ephemeral=True)

    answer = client.get(f"{BASE}/files/redis.properties/instances", headers=admin)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["counts"] == {"instances": 3, "mismatched": 2}
    rows = {row["name"]: row for row in body["instances"]}
    assert rows["host1_0_aaa"]["ok"] is True
    assert rows["host2_0_bbb"]["mismatched"] == ["port"]
    assert rows["host3_0_ccc"]["error"] == "instance data is not JSON"
    # No gray release runs: no gray part, every instance is compared with the main content.
    assert body["gray"] is None
    assert {row["variant"] for row in body["instances"]} == {"main"}
    items = client.get(f"{BASE}/items/rate/instances", headers=admin).get_json()
    assert items["counts"] == {"instances": 2, "mismatched": 1}
    assert {row["name"]: row["ok"] for row in items["instances"]} == {
        "host1_0_aaa": True,
        "host2_0_bbb": False,
    }
    viewer = client.get(f"{BASE}/items/rate/instances", headers=tokens.headers("viewer"))
    assert viewer.status_code == 200
    assert client.get(f"{BASE}/items/nope/instances", headers=admin).status_code == 404


def test_delivery_after_session_expiry(make_app: AppFactory, zk_hosts: str,
                                       zk: KazooClient) -> None:  # fmt: skip
    """Session LOST: kazoo opens a new session by itself and later changes still arrive."""
    from kazoo.protocol.states import KazooState

    app = make_app(zk_hosts)
    tokens = make_tokens(app)
    client = app.test_client()
    notifier = get_notifier(app)
    wait_until(lambda: notifier.connected, timeout=20)
    server_client = notifier._zk  # the notifier's own session
    assert server_client is not None
    states = expire_session(server_client, zk_hosts)
    wait_until(lambda: KazooState.LOST in states, timeout=30, message="session LOST")
    wait_until(lambda: notifier.connected, timeout=30)
    answer = client.put(f"{BASE}/items/k", json={"value": "after"},
                        headers=tokens.headers("admin"))  # fmt: skip
    assert answer.status_code == 201
    wait_until(lambda: pending(app) == 0, timeout=30)
    assert zk.get(f"{NODE}/item/k")[0] == b"after"
