"""A database that hangs, is paused or is gone never holds a request: writes answer 503 naming the
database, client reads answer the last-served value, the probes say what each one promises, and a
web node restarted during the outage still serves (its last-served copy on disk).

Each fault is made twice on the real MariaDB: with a proxy that accepts and never answers (black
hole) and with the proxy process paused (SIGSTOP). The tests assert outcomes, never times; every
request runs in a thread whose wait is bounded (:func:`bounded`), so a missing timeout fails the
test instead of hanging it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from flask import Flask

from disconf_web import SettingsError, create_app, get_db, shutdown_app
from disconf_web.migrate import upgrade
from disconf_web.protocol import get_protocol
from tests.helpers import join_within, wait_until

from .conftest import Tokens, make_tokens
from .fault_proxy import FaultProxy

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"
Q = "app=demo&env=dev&version=1_0_0"
ITEM = f"/api/config/item?{Q}&key=rate"
FILE = f"/api/config/file?{Q}&key=a.properties"
# Short bounds keep the test quick; the defaults are documented in disconf_web.settings.
BOUNDS = {
    "DB_CONNECT_TIMEOUT": 1.0,
    "DB_READ_TIMEOUT": 2.0,
    "DB_WRITE_TIMEOUT": 2.0,
    "DB_POOL_TIMEOUT": 2.0,
    "DB_BUSY_TIMEOUT": 0.5,
}
#: The most any request may take in these tests before it counts as hung (far above the bounds).
HUNG = 60.0

T = TypeVar("T")


def bounded(call: Callable[[], T], timeout: float = HUNG) -> T:
    """Run ``call`` in a thread; fail the test if it has not returned after ``timeout`` (a
    :class:`~tests.helpers.Budget`: a stall of the whole machine is not the request's wait)."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failure.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    if not join_within(worker, timeout):
        pytest.fail(f"request still waiting after {timeout}s: a database wait is unbounded")
    if failure:
        raise failure[0]
    return result[0]


@pytest.fixture(params=["pymysql", "mysqldb"])
def real_mysql_url(request: pytest.FixtureRequest, make_mysql_database: Callable[[], str]) -> str:
    """A migrated MySQL database, once through each driver (PyMySQL, mysqlclient)."""
    url = make_mysql_database()
    upgrade(url)
    driver = f"mysql+{request.param}"
    return sa.make_url(url).set(drivername=driver).render_as_string(hide_password=False)


@pytest.fixture
def proxy(real_mysql_url: str) -> Iterator[FaultProxy]:
    fault = FaultProxy(sa.make_url(real_mysql_url).port or 3306)
    try:
        yield fault
    finally:
        fault.stop()


def make_app(database_url: str, last_served_dir: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "ZK_ENABLED": False,
            "LAST_SERVED_DIR": str(last_served_dir),
            **BOUNDS,
        }
    )


def through(url: str, proxy: FaultProxy) -> str:
    return sa.make_url(url).set(port=proxy.port).render_as_string(hide_password=False)


def publish_and_serve(app: Flask) -> Tokens:
    tokens = make_tokens(app)
    client = app.test_client()
    admin = tokens.headers("admin")
    assert client.put(f"{BASE}/items/rate", json={"value": "0.5"}, headers=admin).status_code == 201
    assert client.put(f"{BASE}/files/a.properties", data=b"a=1\n", headers=admin).status_code == 201
    assert client.get(ITEM).json["value"] == "0.5"  # served once: remembered
    assert client.get(FILE).data == b"a=1\n"
    return tokens


def fault(proxy: FaultProxy, kind: str) -> None:
    if kind == "black-hole":
        proxy.black_hole()
    else:
        proxy.pause()


def restore_and_write_again(
    proxy: FaultProxy, client: Any, admin: dict[str, str], *, before: str | None = None
) -> None:
    """End the fault; once writes are accepted again, the item (``before``: still that value)
    is published anew and served."""
    proxy.restore()
    wait_until(
        lambda: bounded(lambda: client.get("/readyz/writes")).status_code == 200, timeout=HUNG
    )
    if before is not None:
        assert client.get(ITEM).json["value"] == before
    again = client.put(f"{BASE}/items/rate", json={"value": "0.7"}, headers=admin)
    assert again.status_code == 200
    assert client.get(ITEM).json["value"] == "0.7"


@pytest.mark.mysql
@pytest.mark.parametrize("kind", ["black-hole", "paused"])
def test_a_hanging_database_answers_503_to_writes_and_last_served_to_reads(
    kind: str, real_mysql_url: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    app = make_app(through(real_mysql_url, proxy), tmp_path / "last-served")
    try:
        tokens = publish_and_serve(app)
        client = app.test_client()
        admin = tokens.headers("admin")
        fault(proxy, kind)

        write = bounded(
            lambda: client.put(f"{BASE}/items/rate", json={"value": "9"}, headers=admin)
        )
        assert write.status_code == 503
        assert "database unavailable" in write.json["error"]
        item = bounded(lambda: client.get(ITEM))
        assert item.status_code == 200
        assert item.data == b'{"status":1,"message":"","value":"0.5"}'
        assert bounded(lambda: client.get(FILE)).data == b"a=1\n"
        never = bounded(lambda: client.get(f"/api/config/file?{Q}&key=never.properties"))
        assert never.status_code == 503 and "database" in never.json["error"]
        listed = bounded(lambda: client.get(f"/api/config/list?{Q}"))
        assert listed.status_code == 503 and "database" in listed.json["error"]
        # The probes: alive, serving client reads, not accepting writes.
        assert bounded(lambda: client.get("/healthz")).status_code == 200
        ready = bounded(lambda: client.get("/readyz"))
        assert ready.status_code == 200 and ready.json["checks"]["last_served"] == 2
        assert ready.json["checks"]["database"].startswith("unreachable")
        writes = bounded(lambda: client.get("/readyz/writes"))
        assert writes.status_code == 503 and writes.json["error"] == "not reachable: database"
        # Through the Flask adapter too (HEAD is not taken by the fast path).
        assert bounded(lambda: client.head(ITEM)).status_code == 200

        restore_and_write_again(proxy, client, admin)
    finally:
        proxy.restore()
        shutdown_app(app)


@pytest.mark.mysql
def test_a_database_that_hangs_in_the_middle_of_a_write_answers_503_and_keeps_nothing(
    real_mysql_url: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """The database stops answering after the publish transaction's first write: the request
    answers 503 naming the database (not a 500 from cleaning up the dead connection), the half
    transaction is not kept, and writes work again once the database is back."""
    app = make_app(through(real_mysql_url, proxy), tmp_path / "last-served")
    engine = get_db(app).engine
    cut: list[str] = []

    def hang_after_the_first_write(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.lstrip().upper()
        if not cut and (words.startswith(("INSERT", "UPDATE")) or "FOR UPDATE" in words):
            cut.append(statement)
            proxy.black_hole()

    try:
        tokens = publish_and_serve(app)
        client = app.test_client()
        admin = tokens.headers("admin")
        sa.event.listen(engine, "after_cursor_execute", hang_after_the_first_write)
        try:
            write = bounded(
                lambda: client.put(f"{BASE}/items/rate", json={"value": "9"}, headers=admin)
            )
        finally:
            sa.event.remove(engine, "after_cursor_execute", hang_after_the_first_write)
        assert cut, "the fault was never made"
        assert write.status_code == 503, write.data
        assert "database unavailable" in write.json["error"]

        restore_and_write_again(proxy, client, admin, before="0.5")
    finally:
        proxy.restore()
        shutdown_app(app)


@pytest.mark.mysql
@pytest.mark.parametrize("kind", ["black-hole", "paused"])
def test_a_node_restarted_during_the_outage_still_serves_what_it_served(
    kind: str, real_mysql_url: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    copies = tmp_path / "last-served"
    app = make_app(through(real_mysql_url, proxy), copies)
    try:
        publish_and_serve(app)
    finally:
        shutdown_app(app)
    fault(proxy, kind)
    restarted = bounded(lambda: make_app(through(real_mysql_url, proxy), copies))
    try:
        client = restarted.test_client()
        assert bounded(lambda: client.get("/readyz")).status_code == 200
        item = bounded(lambda: client.get(ITEM))
        assert item.data == b'{"status":1,"message":"","value":"0.5"}'
        assert bounded(lambda: client.get(FILE)).data == b"a=1\n"
    finally:
        shutdown_app(restarted)
    # A node that never served anything has nothing to offer: not ready for client reads.
    empty = bounded(lambda: make_app(through(real_mysql_url, proxy), tmp_path / "empty"))
    try:
        client = empty.test_client()
        assert bounded(lambda: client.get("/readyz")).status_code == 503
        assert bounded(lambda: client.get(ITEM)).status_code == 503
    finally:
        proxy.restore()
        shutdown_app(empty)


def test_a_locked_sqlite_database_answers_503_to_writes(tmp_path: Path) -> None:
    path = tmp_path / "disconf.sqlite"
    upgrade(f"sqlite:///{path}")
    app = make_app(f"sqlite:///{path}", tmp_path / "last-served")
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        tokens = publish_and_serve(app)
        holder.execute("BEGIN EXCLUSIVE")  # another writer holds the lock and does not let go
        client = app.test_client()
        answer = bounded(
            lambda: client.put(
                f"{BASE}/items/rate", json={"value": "9"}, headers=tokens.headers("admin")
            )
        )
        assert answer.status_code == 503
        assert "database unavailable" in answer.json["error"]
    finally:
        holder.close()
        shutdown_app(app)


def test_an_exhausted_pool_answers_503_instead_of_waiting(tmp_path: Path) -> None:
    path = tmp_path / "disconf.sqlite"
    upgrade(f"sqlite:///{path}")
    app = make_app(f"sqlite:///{path}", tmp_path / "last-served")
    held: list[Any] = []
    try:
        tokens = publish_and_serve(app)
        engine = get_db(app).engine
        limit = engine.pool.size() + engine.pool._max_overflow  # type: ignore[attr-defined]
        held += [engine.connect() for _ in range(limit)]
        client = app.test_client()
        answer = bounded(lambda: client.get(f"{BASE}/items/rate", headers=tokens.headers("admin")))
        assert answer.status_code == 503
        assert "database unavailable" in answer.json["error"]
    finally:
        for connection in held:
            connection.close()
        shutdown_app(app)


def test_database_bounds_are_settings_checked_all_at_once(tmp_path: Path) -> None:
    bad = {
        "DB_CONNECT_TIMEOUT": "0",
        "DB_READ_TIMEOUT": "soon",
        "DB_WRITE_TIMEOUT": "inf",
        "DB_POOL_TIMEOUT": -1,
        "DB_BUSY_TIMEOUT": "nan",
        "LAST_SERVED_MAX_BYTES": "0",
    }
    with pytest.raises(SettingsError) as raised:
        create_app({"TESTING": True, "ZK_ENABLED": False, **bad})
    for key in bad:
        assert f"DISCONF_{key}=" in str(raised.value), key
    app = create_app(
        {"TESTING": True, "ZK_ENABLED": False, "DATABASE_URL": f"sqlite:///{tmp_path / 'x'}",
         "DB_READ_TIMEOUT": "2.5", "LAST_SERVED_DIR": ""}
    )  # fmt: skip
    try:
        assert get_db(app).timeouts.read == 2.5
        assert get_protocol(app).last_served.directory is None  # "" turns the disk copy off
    finally:
        shutdown_app(app)
