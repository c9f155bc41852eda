"""Names at the edges: what ZooKeeper cannot store and node names two triples would share.

* A file name or item key ZooKeeper refuses (an emoji: a UTF-16 surrogate pair to Java; U+0085;
  U+E000) is refused with 400 naming the field and the character, by the admin API and the
  console, and nothing is stored (no revision, no notification that could never be delivered).
* ``<app>_<version>_<env>`` is the ZooKeeper node name: app ``col`` version ``x_v1`` and app
  ``col_x`` version ``v1`` share ``col_x_v1_dev``. Whichever comes second is refused with 409
  naming the other, through the API, a copy, and at the database on two racing claims.

On SQLite and on the real MariaDB (``database_url``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from disconf_core import ConfigType
from disconf_web import get_db, services, shutdown_app
from disconf_web.migrate import upgrade
from disconf_web.models import Config, ConfigNode, ConfigRevision, Notification
from disconf_web.services import console as ops
from tests.ui.conftest import Console, make_app, publish, seed

from .conftest import Tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"


def _count(app: Flask, model: Any) -> int:
    with get_db(app).new_session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(
    "path, field, shown",
    [
        ("/files/%F0%9F%98%80.properties", "file name", "(U+1F600)"),
        ("/items/k%C2%85", "item key", "(U+0085)"),
        ("/items/k%EE%80%80", "item key", "(U+E000)"),
        ("/items/k%EF%BF%B0", "item key", "(U+FFF0)"),
    ],
)
def test_api_refuses_names_zookeeper_cannot_store(
    client: FlaskClient, tokens: Tokens, app: Flask, path: str, field: str, shown: str
) -> None:
    admin = tokens.headers("admin")
    if "/files/" in path:
        response = client.put(BASE + path, data=b"a=1", headers=admin)
    else:
        response = client.put(BASE + path, json={"value": "v"}, headers=admin)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert f"invalid {field}" in error and shown in error and "ZooKeeper" in error
    assert (_count(app, ConfigRevision), _count(app, Notification)) == (0, 0)
    # Other names still publish (nothing is blocked by the refused one).
    ok = client.put(BASE + "/items/ok", json={"value": "v"}, headers=admin)
    assert ok.status_code == 201


def test_console_refuses_names_zookeeper_cannot_store(app: Flask, tokens: Tokens) -> None:
    app.config["SECRET_KEY"] = "test-secret"
    console = Console(app)
    assert console.login("editor").status_code == 302
    version = "/apps/demo/envs/dev/versions/1_0_0"
    item = console.post(version + "/items/new", {"name": "k\u0085k", "value": "v"})
    assert item.status_code == 400 and "U+0085" in item.text
    file = console.post(version + "/files/new", {"name": "\U0001f600.txt", "content": "x"})
    assert file.status_code == 400 and "U+1F600" in file.text
    assert _count(app, ConfigRevision) == 0


def test_a_stored_name_zookeeper_refuses_can_be_read_and_deleted(
    client: FlaskClient, tokens: Tokens, app: Flask
) -> None:
    """A config stored before the rule (emoji name) is readable and deletable, not publishable."""
    admin = tokens.headers("admin")
    assert client.put(BASE + "/items/k", json={"value": "v"}, headers=admin).status_code == 201
    with get_db(app).new_session() as session:
        session.execute(sa.update(Config).values(name="\U0001f600"))
        session.commit()
    url = BASE + "/items/%F0%9F%98%80"
    assert client.get(url, headers=admin).status_code == 200
    refused = client.put(url, json={"value": "w"}, headers=admin)
    assert refused.status_code == 400 and "U+1F600" in refused.get_json()["error"]
    assert client.delete(url, headers=admin).status_code in (200, 204)
    assert client.get(url, headers=admin).status_code == 404


def _setup_collision(client: FlaskClient, admin: dict[str, str]) -> None:
    for name in ("col", "col_x"):
        assert client.post("/api/v1/apps", json={"name": name}, headers=admin).status_code == 201


def test_api_refuses_a_triple_whose_node_name_another_holds(
    client: FlaskClient, tokens: Tokens, app: Flask
) -> None:
    admin = tokens.headers("admin")
    _setup_collision(client, admin)
    first = "/api/v1/apps/col/envs/dev/versions/x_v1/items/k"
    second = "/api/v1/apps/col_x/envs/dev/versions/v1/items/k"
    assert client.put(first, json={"value": "a"}, headers=admin).status_code == 201
    refused = client.put(second, json={"value": "b"}, headers=admin)
    assert refused.status_code == 409, refused.get_data(as_text=True)
    error = refused.get_json()["error"]
    assert "'col_x_v1_dev'" in error and "app 'col' env 'dev' version 'x_v1'" in error
    assert _count(app, ConfigRevision) == 1
    # The holder itself keeps publishing, in any name; other triples are untouched.
    again = "/api/v1/apps/col/envs/dev/versions/x_v1/files/b.txt"
    assert client.put(again, data=b"x", headers=admin).status_code == 201
    other = "/api/v1/apps/col_x/envs/dev/versions/v2/items/k"
    assert client.put(other, json={"value": "c"}, headers=admin).status_code == 201
    # An env can collide too: col / x / v1_dev spells col_x_v1_dev.
    assert client.post("/api/v1/envs", json={"name": "v1_dev"}, headers=admin).status_code == 201
    env = client.put("/api/v1/apps/col/envs/v1_dev/versions/x/items/k", json={"value": "d"},
                     headers=admin)  # fmt: skip
    assert env.status_code == 409
    with get_db(app).new_session() as session:
        nodes = sorted(session.scalars(sa.select(ConfigNode.node_name)))
    assert nodes == ["col_x_v1_dev", "col_x_v2_dev"]


def test_copy_into_a_colliding_triple_is_refused(
    client: FlaskClient, tokens: Tokens, app: Flask
) -> None:
    admin = tokens.headers("admin")
    _setup_collision(client, admin)
    assert (
        client.put(
            "/api/v1/apps/col_x/envs/dev/versions/v1/items/k", json={"value": "a"}, headers=admin
        ).status_code
        == 201
    )
    assert (
        client.put(
            "/api/v1/apps/col/envs/dev/versions/1/items/k", json={"value": "b"}, headers=admin
        ).status_code
        == 201
    )
    with get_db(app).new_session() as session:
        plan = ops.plan_copy(
            session,
            services.coordinates("col", "dev", "1"),
            services.coordinates("col", "dev", "x_v1"),
        )
        with pytest.raises(services.Conflict, match="app 'col_x' env 'dev' version 'v1'"):
            ops.apply_copy(session, plan, actor="admin", comment="")
    assert _count(app, ConfigRevision) == 2


def test_the_database_refuses_a_second_claim_of_a_node_name(app: Flask, tokens: Tokens) -> None:
    """Two claims racing past the service's check: the unique node name stops the second."""
    with get_db(app).new_session() as session:
        services.create_app_record(session, name="col", actor="t")
        services.create_app_record(session, name="col_x", actor="t")
    with get_db(app).new_session() as session:
        col, col_x = (services.get_app(session, name) for name in ("col", "col_x"))
        env = services.get_env(session, "dev")
        session.add(ConfigNode(node_name="col_x_v1_dev", app_id=col.id, env_id=env.id,
                               version="x_v1"))  # fmt: skip
        session.commit()
        session.add(ConfigNode(node_name="col_x_v1_dev", app_id=col_x.id, env_id=env.id,
                               version="v1"))  # fmt: skip
        with pytest.raises(sa.exc.IntegrityError):
            session.commit()


def test_migration_claims_existing_triples_oldest_first(database_url: str) -> None:
    """Upgrading a database that already holds two colliding triples: the older one holds the
    node; publishing to the newer one is then refused, its configs stay readable."""
    upgrade(database_url, "0004")
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO apps (id, name, description, created_by, created_at) VALUES "
                    "(1, 'col', '', 't', '2026-01-01'), (2, 'col_x', '', 't', '2026-01-01')"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO envs (id, name, created_by, created_at) "
                    "VALUES (1, 'dev', 't', '2026-01-01')"
                )
            )
            for config_id, app_id, version in ((1, 2, "v1"), (2, 1, "x_v1"), (3, 1, "x_v1")):
                connection.execute(
                    sa.text(
                        "INSERT INTO configs (id, app_id, env_id, version, type, name, value, "
                        "md5, revision, status, created_at, created_by, updated_at, updated_by) "
                        "VALUES (:id, :app, 1, :version, 1, :name, 'v', '', 1, 1, '2026-01-01', "
                        "'t', '2026-01-01', 't')"
                    ),
                    {"id": config_id, "app": app_id, "version": version, "name": f"k{config_id}"},
                )
        upgrade(database_url)
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT node_name, app_id, version FROM config_nodes")
            ).all()
        assert [tuple(row) for row in rows] == [("col_x_v1_dev", 2, "v1")]
    finally:
        engine.dispose()
    from disconf_web import create_app, shutdown_app

    flask_app = create_app(
        {"TESTING": True, "DATABASE_URL": database_url, "ZK_ENABLED": False, "ZK_HOSTS": "zk:1"}
    )
    try:
        with get_db(flask_app).new_session() as session:
            coords = services.coordinates("col", "dev", "x_v1")
            assert services.get_config(session, coords, ConfigType.ITEM, "k2").value == "v"
            with pytest.raises(services.Conflict, match="app 'col_x' env 'dev' version 'v1'"):
                services.publish_config(
                    session, coords=coords, kind=ConfigType.ITEM, name="k2", content="w",
                    actor="t",
                )  # fmt: skip
    finally:
        shutdown_app(flask_app)


@pytest.mark.parametrize("name", ["\ud800", "a b", "x" * 300, ""])
def test_a_name_that_cannot_exist_is_not_found_without_reaching_the_database(
    client: FlaskClient, tokens: Tokens, app: Flask, name: str
) -> None:
    """A lone surrogate cannot even be encoded by the database driver (a service called with
    one raised UnicodeEncodeError); the API refuses it either way, never with a 500."""
    with get_db(app).new_session() as session:
        for lookup in (services.get_app, services.get_env):
            with pytest.raises(services.NotFound, match="does not exist"):
                lookup(session, name)
    body = {"name": "newuser", "password": "password-1", "role": "editor", "apps": [name]}
    response = client.post("/api/v1/users", json=body, headers=tokens.headers("admin"))
    assert response.status_code in (400, 404), response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert ("U+D800" if name == "\ud800" else "does not exist") in error


def test_a_stored_name_zookeeper_refuses_does_not_break_the_self_check(
    tmp_path: Path, zk_hosts: str
) -> None:
    """The version page (with its ZooKeeper self-check) still answers when a config stored
    before the rule has a name no node can have; the other configs are checked as usual."""
    flask_app = make_app(f"sqlite:///{tmp_path / 'z.sqlite'}", ZK_ENABLED=True, ZK_HOSTS=zk_hosts)
    try:
        seed(flask_app)
        publish(flask_app, "a.properties", "a=1\n")
        publish(flask_app, "legacy", "v", kind="item")
        with get_db(flask_app).new_session() as session:
            session.execute(sa.update(Config).where(Config.name == "legacy").values(name="\x85"))
            session.commit()
        console = Console(flask_app)
        assert console.login("viewer").status_code == 302
        page = console.get("/apps/demo/envs/dev/versions/1_0")
        assert page.status_code == 200, page.text[:2000]
        assert "a.properties" in page.text and "self-check unavailable" not in page.text
    finally:
        shutdown_app(flask_app)


# Bound on the racing claim's thread (it waits at most for the first transaction's commit).
RACE_TIMEOUT = 30.0


@pytest.mark.parametrize("second", [("col", "x_v1"), ("col_x", "v1")])
def test_racing_claims_of_one_node_name(
    app: Flask, tokens: Tokens, second: tuple[str, str]
) -> None:
    """Two transactions claim the node name ``col_x_v1_dev`` at once, the first not committed
    yet: the same triple claims it twice without error; a colliding triple gets Conflict naming
    the first (never an IntegrityError, whatever the interleaving)."""
    database = get_db(app)
    with database.new_session() as session:
        services.create_app_record(session, name="col", actor="t")
        services.create_app_record(session, name="col_x", actor="t")
    outcome: dict[str, str] = {}

    def claim(app_name: str, version: str, session: Any) -> str:
        coords = services.coordinates(app_name, "dev", version)
        rows = services.get_app(session, app_name), services.get_env(session, "dev")
        return str(services.claim_node(session, coords, *rows).node_name)

    def racing() -> None:
        with database.new_session() as other:
            try:
                with other.begin():
                    outcome["claimed"] = claim(*second, other)
            except services.Conflict as exc:
                outcome["conflict"] = str(exc)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                outcome["error"] = repr(exc)

    with database.new_session() as first:
        with first.begin():
            assert claim("col", "x_v1", first) == "col_x_v1_dev"
            thread = threading.Thread(target=racing)
            thread.start()
            thread.join(timeout=0.2)  # let it reach the database while the first is open
        thread.join(timeout=RACE_TIMEOUT)
    assert not thread.is_alive()
    if second == ("col", "x_v1"):
        assert outcome == {"claimed": "col_x_v1_dev"}
    else:
        assert set(outcome) == {"conflict"}, outcome
        assert "app 'col' env 'dev' version 'x_v1'" in outcome["conflict"]
