"""Outbox delivery under hostile input and concurrency, on real ZooKeeper (and MariaDB):

* one poisoned row (a node name ZooKeeper refuses, data too large) is failed and skipped, and
  every other app's notifications are still delivered; it shows in /metrics and the admin API,
  and an admin can retry it;
* a transient failure (ZooKeeper answers NoAuth for one node) delays only that node;
* a request's inline delivery never waits for the sweeper (ZooKeeper paused with SIGSTOP);
* several delivering processes never move a node back to an older revision;
* a database poisoned before the upgrade drains (migration 0003 + start-up repair).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from kazoo.client import KazooClient
from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl

from disconf_web import create_app, get_db, get_notifier, services, shutdown_app
from disconf_web.embedded_zookeeper import EmbeddedZooKeeper
from disconf_web.migrate import upgrade
from disconf_web.models import App, Config, Env, Notification, utcnow
from tests.helpers import wait_until

from .conftest import make_tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"
NODE = "/disconf/demo_1_0_0_dev"

AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(migrated_url: str) -> Iterator[AppFactory]:
    """Apps on one migrated database (SQLite and MySQL); all shut down at the end."""
    yield from _app_factory(migrated_url)


@pytest.fixture
def make_mysql_app(make_mysql_database: Callable[[], str]) -> Iterator[AppFactory]:
    """Apps on one migrated MySQL database (row locks: concurrent writers wait, not fail)."""
    url = make_mysql_database()
    upgrade(url)
    yield from _app_factory(url)


def _app_factory(url: str) -> Iterator[AppFactory]:
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


def raw_config_row(
    app: Flask, name: str, data: str, *, app_name: str = "demo", version: str = "1_0_0"
) -> int:
    """A config and its pending notification written straight into the database, as a server
    from before names were checked left them (the API refuses such names today)."""
    now = utcnow()
    with get_db(app).new_session() as session:
        app_row = session.scalar(sa.select(App).where(App.name == app_name))
        env_row = session.scalar(sa.select(Env).where(Env.name == "dev"))
        assert app_row is not None and env_row is not None
        config = Config(
            app_id=app_row.id, env_id=env_row.id, version=version, type=1, name=name,
            value=data, md5="0" * 32, revision=1, status=1, created_at=now,
            created_by="legacy", updated_at=now, updated_by="legacy",
        )  # fmt: skip
        session.add(config)
        session.flush()
        row = Notification(
            config_id=config.id,
            path=f"/disconf/{app_name}_{version}_dev/item/{name}",
            data=data,
            created_at=now,
            attempts=0,
        )
        session.add(row)
        session.commit()
        return row.id


def metric(client: Any, name: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_poisoned_rows_are_failed_and_others_delivered(make_app: AppFactory, zk_hosts: str,
                                                       zk: KazooClient) -> None:  # fmt: skip
    setup = make_app(zk_hosts, ZK_ENABLED=False)  # write the poison while nobody delivers
    tokens = make_tokens(setup)
    with get_db(setup).new_session() as session:
        services.create_app_record(session, name="other", description="", actor="admin")
    emoji = raw_config_row(setup, "\U0001f600.key", "1")
    control = raw_config_row(setup, "a\u0085b", "2")
    huge = raw_config_row(setup, "huge", "x" * (1024 * 1024 + 10))
    shutdown_app(setup)

    app = make_app(zk_hosts)
    client = app.test_client()
    admin = tokens.headers("admin")
    wait_until(lambda: get_notifier(app).connected, timeout=20)
    answer = client.put(
        "/api/v1/apps/other/envs/dev/versions/1_0_0/items/k", json={"value": "v"}, headers=admin
    )
    assert answer.status_code == 201
    wait_until(lambda: pending(app) == 3, timeout=20, message="good rows delivered")
    wait_until(lambda: metric(client, "disconf_notifications_failed") == 3, timeout=20)
    assert zk.get("/disconf/other_1_0_0_dev/item/k")[0] == b"v"
    assert metric(client, "disconf_notifications_pending") == 0

    listed = client.get("/api/v1/notifications", headers=admin)
    assert listed.status_code == 200
    body = listed.get_json()
    assert body["counts"]["failed"] == 3
    rows = {row["id"]: row for row in body["notifications"]}
    assert set(rows) == {emoji, control, huge}
    assert rows[emoji]["app"] == "demo" and rows[emoji]["env"] == "dev"
    assert rows[emoji]["version"] == "1_0_0" and rows[emoji]["name"] == "\U0001f600.key"
    assert rows[emoji]["state"] == "failed" and "U+1F600" in rows[emoji]["error"]
    assert "U+0085" in rows[control]["error"]
    assert "too large" in rows[huge]["error"]
    assert client.get("/api/v1/notifications", headers=tokens.headers("editor")).status_code == 403
    missing = client.post("/api/v1/notifications/999999/retry", headers=admin)
    assert missing.status_code == 404 and "999999" in missing.get_json()["error"]

    # A retried row is tried again and, still refused, is failed again (with one more attempt).
    assert rows[huge]["attempts"] == 1
    retried = client.post(f"/api/v1/notifications/{huge}/retry", headers=admin)
    assert retried.status_code == 200 and retried.get_json() == {"retried": 1}

    def attempts(row_id: int) -> int:
        listed = client.get("/api/v1/notifications", headers=admin).get_json()
        found = [row for row in listed["notifications"] if row["id"] == row_id]
        return int(found[0]["attempts"]) if found and found[0]["state"] == "failed" else -1

    wait_until(lambda: attempts(huge) == 2, timeout=20, message="retried and failed again")
    assert client.post("/api/v1/notifications/retry", headers=admin).get_json() == {"retried": 3}
    wait_until(lambda: attempts(emoji) == 2 and attempts(huge) == 3, timeout=20)
    # Later publishes are not held up by the failed rows.
    later = client.put(f"{BASE}/items/fine", json={"value": "ok"}, headers=admin)
    assert later.get_json()["notification"] == "delivered"
    assert zk.get(f"{NODE}/item/fine")[0] == b"ok"


def test_transient_failure_delays_only_its_node(make_app: AppFactory, zk_hosts: str,
                                                zk: KazooClient) -> None:  # fmt: skip
    locked = f"{NODE}/item/locked"
    zk.ensure_path(f"{NODE}/item")
    zk.create(locked, b"", acl=[make_digest_acl("owner", "secret", all=True)])
    app = make_app(zk_hosts)
    tokens = make_tokens(app)
    client = app.test_client()
    admin = tokens.headers("admin")
    wait_until(lambda: get_notifier(app).connected, timeout=20)
    first = client.put(f"{BASE}/items/locked", json={"value": "L"}, headers=admin)
    assert first.get_json()["notification"] == "pending"  # NoAuth: retried, not failed
    answers = [
        client.put(f"{BASE}/items/free{n}", json={"value": str(n)}, headers=admin).get_json()
        for n in range(3)
    ]
    assert [answer["notification"] for answer in answers] == ["delivered"] * 3
    for n in range(3):
        assert zk.get(f"{NODE}/item/free{n}")[0] == str(n).encode()
    wait_until(lambda: metric(client, "disconf_notifications_retrying") == 1, timeout=20)
    assert pending(app) == 1 and metric(client, "disconf_notifications_failed") == 0

    zk.add_auth("digest", "owner:secret")
    zk.set_acls(locked, OPEN_ACL_UNSAFE)
    wait_until(lambda: pending(app) == 0, timeout=20, message="the locked node, once opened")
    assert zk.get(locked)[0] == b"L"


def test_inline_delivery_never_waits_for_the_sweeper(make_app: AppFactory,
                                                     tmp_path: Path) -> None:  # fmt: skip
    server = EmbeddedZooKeeper(tmp_path / "zk-paused")
    server.start(timeout=60)
    paused = False
    sweeper: threading.Thread | None = None
    try:
        # A long session timeout: kazoo must not drop the paused server during the test.
        app = make_app(server.hosts, ZK_TIMEOUT=30.0, NOTIFY_SWEEP_INTERVAL=3600.0)
        tokens = make_tokens(app)
        client = app.test_client()
        admin = tokens.headers("admin")
        notifier = get_notifier(app)
        wait_until(lambda: notifier.connected, timeout=20)
        assert client.put(f"{BASE}/items/k", json={"value": "0"}, headers=admin).status_code == 201
        raw_config_row(app, "queued", "q")  # a pending row for the sweeper to hold on to

        kazoo = notifier._zk
        assert kazoo is not None
        in_zookeeper = threading.Event()
        request_thread = threading.current_thread()
        requested: list[float] = []  # the bounds the request asked ZooKeeper's answers for

        class Bounded:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def get(self, block: bool = True, timeout: float | None = None) -> Any:
                requested.append(float("inf") if timeout is None else timeout)
                return self.inner.get(block, timeout)

            def ready(self) -> bool:
                return bool(self.inner.ready())

        for method in ("exists_async", "set_async", "create_async", "get_children_async",
                       "get_async"):  # fmt: skip
            real = getattr(kazoo, method)

            def spy(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
                if threading.current_thread() is sweeper:
                    in_zookeeper.set()
                answer = _real(*args, **kwargs)
                return Bounded(answer) if threading.current_thread() is request_thread else answer

            setattr(kazoo, method, spy)

        assert server.pid is not None
        os.kill(server.pid, signal.SIGSTOP)
        paused = True
        sweeper = threading.Thread(target=lambda: _sweep_quietly(notifier), daemon=True)
        sweeper.start()
        assert in_zookeeper.wait(10), "the sweeper did not reach ZooKeeper"
        budget = app.config["NOTIFY_INLINE_TIMEOUT"]
        for kind, body in (("items/k", {"json": {"value": "1"}}),
                           ("files/app.properties", {"data": b"a=1\n"})):  # fmt: skip
            requested.clear()
            answer = client.put(f"{BASE}/{kind}", headers=admin, **body)
            # The request gave up within its own budget while the sweeper still waits on
            # ZooKeeper: all its ZooKeeper waits (the publish guard's reads of the instances,
            # then the delivery) asked for one budget in total, not one per read.
            assert answer.status_code in (200, 201), answer.get_data(as_text=True)
            assert answer.get_json()["notification"] == "pending"
            assert requested and sum(requested) <= budget + 0.05, requested
            assert sweeper.is_alive()
        os.kill(server.pid, signal.SIGCONT)
        paused = False
        sweeper.join(40)

        def delivered() -> bool:
            notifier.wake()  # the sweep interval is long here: ask for a sweep each time
            return pending(app) == 0

        wait_until(delivered, timeout=40, message="delivered after SIGCONT")
    finally:
        if paused and server.pid is not None:
            os.kill(server.pid, signal.SIGCONT)
        server.stop()


def _sweep_quietly(notifier: Any) -> None:
    try:
        notifier.sweep(grace=0.0, timeout=20.0)
    except Exception:  # noqa: BLE001 - the outcome is checked through the rows
        pass


def test_a_late_deliverer_never_moves_the_node_back(make_app: AppFactory, zk_hosts: str,
                                                    zk: KazooClient) -> None:  # fmt: skip
    """Two processes: A read revision 1 and is slow to write it; B delivers revision 2 meanwhile.
    A's write must not leave the node at revision 1."""
    quiet = {"NOTIFY_SWEEP_INTERVAL": 3600.0, "NOTIFY_GRACE": 3600.0}
    first, second = make_app(zk_hosts, **quiet), make_app(zk_hosts, **quiet)
    tokens = make_tokens(first)
    admin = tokens.headers("admin")
    for app in (first, second):
        wait_until(lambda app=app: get_notifier(app).connected, timeout=20)
    warm = first.test_client().put(f"{BASE}/items/k", json={"value": "0"}, headers=admin)
    assert warm.get_json()["notification"] == "delivered"

    kazoo = get_notifier(first)._zk
    assert kazoo is not None
    real_set = kazoo.set_async
    held, release = threading.Event(), threading.Event()

    def slow_set(*args: Any, **kwargs: Any) -> Any:
        if not held.is_set():
            held.set()
            release.wait(20)  # A has decided what to write; B delivers meanwhile
        return real_set(*args, **kwargs)

    kazoo.set_async = slow_set  # type: ignore[method-assign]
    answers: list[Any] = []
    slow = threading.Thread(
        target=lambda: answers.append(
            first.test_client().put(f"{BASE}/items/k", json={"value": "1"}, headers=admin)
        )
    )
    slow.start()
    assert held.wait(60), [answer.get_data(as_text=True) for answer in answers]
    newer = second.test_client().put(f"{BASE}/items/k", json={"value": "2"}, headers=admin)
    assert newer.get_json()["notification"] == "delivered"
    assert zk.get(f"{NODE}/item/k")[0] == b"2"
    release.set()
    slow.join(30)
    assert answers and answers[0].status_code == 200
    get_notifier(first).sweep(grace=0.0)
    assert zk.get(f"{NODE}/item/k")[0] == b"2"
    assert pending(first) == 0


def test_concurrent_publishes_through_several_deliverers(make_mysql_app: AppFactory,
                                                         zk_hosts: str,
                                                         zk: KazooClient) -> None:  # fmt: skip
    """Rounds of concurrent publishes through three apps (three sessions, three sweepers): the
    node always ends with the newest revision's value."""
    apps = [make_mysql_app(zk_hosts, NOTIFY_GRACE=0.0) for _ in range(3)]
    tokens = make_tokens(apps[0])
    admin = tokens.headers("admin")
    for app in apps:
        wait_until(lambda app=app: get_notifier(app).connected, timeout=20)
    created = apps[0].test_client().put(f"{BASE}/items/k", json={"value": "start"}, headers=admin)
    assert created.status_code == 201
    for round_number in range(4):
        errors: list[BaseException] = []

        def publish(
            app: Flask, worker: int, round_number: int = round_number, errors: Any = errors
        ) -> None:
            client = app.test_client()
            try:
                for n in range(4):
                    value = f"r{round_number}-w{worker}-{n}"
                    answer = client.put(f"{BASE}/items/k", json={"value": value}, headers=admin)
                    assert answer.status_code in (200, 201, 409), answer.get_data(as_text=True)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=publish, args=(apps[n % 3], n)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        wait_until(lambda: pending(apps[0]) == 0, timeout=30, message="all delivered")
        with get_db(apps[0]).new_session() as session:
            latest = session.scalar(sa.select(Config.value).where(Config.name == "k"))
        assert zk.get(f"{NODE}/item/k")[0] == str(latest).encode()


def test_poisoned_database_drains_after_the_upgrade(database_url: str, zk_hosts: str,
                                                    zk: KazooClient) -> None:  # fmt: skip
    """Rows written by an older server (schema 0002) with names ZooKeeper refuses are failed by
    the migration; the good rows behind them are delivered by the first sweep."""
    upgrade(database_url, "0002")
    engine = sa.create_engine(database_url)
    rows = [
        ("/disconf/demo_1_0_0_dev/item/\U0001f600", "1"),
        ("/disconf/demo_1_0_0_dev/item/a\ue000b", "2"),
        ("/disconf/demo_1_0_0_dev/item/good", "3"),
    ]
    with engine.begin() as connection:
        for path, data in rows:
            connection.execute(
                sa.text(
                    "INSERT INTO notifications (path, data, created_at, attempts) "
                    "VALUES (:path, :data, :at, 0)"
                ),
                {"path": path, "data": data, "at": utcnow()},
            )
    engine.dispose()
    upgrade(database_url)
    app = create_app(
        {"TESTING": True, "DATABASE_URL": database_url, "ZK_HOSTS": zk_hosts, "ZK_TIMEOUT": 4.0}
    )
    try:
        good = "/disconf/demo_1_0_0_dev/item/good"
        wait_until(
            lambda: zk.exists(good) is not None and zk.get(good)[0] == b"3",
            timeout=20,
            message="the good row behind the poisoned ones delivered",
        )
        wait_until(lambda: pending(app) == 2, timeout=20)
        with get_db(app).new_session() as session:
            failed = session.scalars(
                sa.select(Notification.path).where(Notification.failed_at.is_not(None))
            ).all()
        assert sorted(failed) == sorted(path for path, _ in rows[:2])
    finally:
        shutdown_app(app)


def test_views_of_a_shared_node_show_nothing(make_app: AppFactory, zk_hosts: str,
                                             zk: KazooClient) -> None:  # fmt: skip
    """App col version x_v1 and app col_x version v1 share the node col_x_v1_dev (a database
    from before such names were refused): neither sees the other's instances or elections."""
    setup = make_app(zk_hosts, ZK_ENABLED=False)
    tokens = make_tokens(setup)
    with get_db(setup).new_session() as session:
        for name in ("col", "col_x"):
            services.create_app_record(session, name=name, description="", actor="admin")
    raw_config_row(setup, "k", "mine", app_name="col", version="x_v1")
    raw_config_row(setup, "k", "theirs", app_name="col_x", version="v1")
    shutdown_app(setup)
    zk.create("/disconf/col_x_v1_dev/item/k/host1_0_a", b"theirs", makepath=True)
    zk.create("/disconf/col_x_v1_dev/standby/job/lock-0000000001", b"{}", makepath=True)

    app = make_app(zk_hosts)
    client = app.test_client()
    admin = tokens.headers("admin")
    wait_until(lambda: get_notifier(app).connected, timeout=20)
    for coords in ("col/envs/dev/versions/x_v1", "col_x/envs/dev/versions/v1"):
        seen = client.get(f"/api/v1/apps/{coords}/items/k/instances", headers=admin)
        assert seen.status_code == 409, seen.get_data(as_text=True)
        assert "shared" in seen.get_json()["error"]
        standby = client.get(f"/api/v1/apps/{coords}/standby", headers=admin)
        assert standby.status_code == 409
    assert (
        "'col_x'"
        in client.get(
            "/api/v1/apps/col/envs/dev/versions/x_v1/items/k/instances", headers=admin
        ).get_json()["error"]
    )
    scraped = client.get("/metrics").get_data(as_text=True)
    assert "disconf_config_instances{" not in scraped  # the shared node is attributed to none

    from disconf_core import Coordinates
    from disconf_web.ui.selfcheck import self_check

    with app.test_request_context():
        with get_db(app).new_session() as session:
            configs = session.scalars(sa.select(Config).where(Config.version == "x_v1")).all()
        checks, reason = self_check(Coordinates("col", "x_v1", "dev"), configs)
    assert checks is None and "shared" in reason


def test_self_check_reads_all_nodes_at_once(make_app: AppFactory, zk_hosts: str,
                                            zk: KazooClient) -> None:  # fmt: skip
    """The console's self-check of a long config list sends every read before waiting for any
    answer (no round trip per config), and still reports each config's instances."""
    app = make_app(zk_hosts, ZK_ENABLED=False)
    tokens = make_tokens(app)
    client = app.test_client()
    admin = tokens.headers("admin")
    for n in range(40):
        client.put(f"{BASE}/items/k{n}", json={"value": str(n)}, headers=admin)
        zk.create(f"{NODE}/item/k{n}/host_0_{n}", str(n).encode(), makepath=True)
    zk.set(f"{NODE}/item/k7/host_0_7", b"wrong")
    shutdown_app(app)

    app = make_app(zk_hosts)
    notifier = get_notifier(app)
    wait_until(lambda: notifier.connected, timeout=20)
    kazoo = notifier._zk
    assert kazoo is not None
    in_flight = [0, 0]  # now, most at once
    real = kazoo.get_children_async

    class Answer:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def get(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return self.inner.get(*args, **kwargs)
            finally:
                in_flight[0] -= 1

    def counting(*args: Any, **kwargs: Any) -> Answer:
        in_flight[0] += 1
        in_flight[1] = max(in_flight[1], in_flight[0])
        return Answer(real(*args, **kwargs))

    kazoo.get_children_async = counting  # type: ignore[method-assign]

    from disconf_core import Coordinates
    from disconf_web.ui.selfcheck import self_check

    coords = Coordinates("demo", "1_0_0", "dev")
    with app.test_request_context():
        configs = services.list_configs(get_db(app).session(), coords)
        checks, reason = self_check(coords, configs)
    assert reason == "" and checks is not None
    assert in_flight[1] == 40
    by_name = {config.name: checks[config.id] for config in configs}
    assert all(len(check.instances) == 1 for check in by_name.values())
    assert [name for name, check in by_name.items() if check.mismatched] == ["k7"]


@pytest.mark.parametrize(
    ("key", "value"),
    [("NOTIFY_MAX_DATA_BYTES", "abc"), ("NOTIFY_MAX_DATA_BYTES", 0), ("NOTIFY_STUCK_SECONDS", -1)],
)
def test_bad_delivery_settings_are_refused(key: str, value: Any) -> None:
    from disconf_web import SettingsError

    with pytest.raises(SettingsError, match=f"DISCONF_{key}"):
        create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "ZK_ENABLED": False, key: value})
