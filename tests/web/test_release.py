"""Publish guard and bundles on real ZooKeeper and MariaDB (issue 12, guard and bundles).

* a file of a known format that does not parse is a 422 naming line and column, nothing stored;
* a value one running client's schema rejects is a 422 naming instance, key, value and type,
  accepted once that client is gone; an unmodified client (no schema) is never checked; the
  same for items, whose schemas live in the client's ``schema/<instance>`` node (the item
  instance node keeps the raw value); the PUT answer's ``fleet_check`` says whether the fleet
  was asked (``"unavailable"`` when ZooKeeper could not be);
* an admin forces it with a reason, which is audited; others may not force;
* bundles: export, preview, import into another env, all or nothing under a failure half-way
  (a refused name; a database error on the second config), notified only after the commit;
* copy/promote with a preview, diff of two revisions.

The client runs in this process with a transport that hands its requests to the app (every
other line is the production client, ZooKeeper included).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from kazoo.client import KazooClient

from disconf_client import DisconfClient, MockTransport, disconf_file, disconf_item
from disconf_client.transport import Request, Response
from disconf_core.notification import read_trailer
from disconf_web import create_app, get_db, shutdown_app
from disconf_web.migrate import upgrade
from disconf_web.models import AuditEvent, Config, Notification
from disconf_web.services import configs as config_services
from tests.helpers import wait_until

from .conftest import Tokens, make_tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"
NODE = "/disconf/demo_1_0_0_dev"


@pytest.fixture
def zk_app(make_mysql_database: Callable[[], str], zk_hosts: str) -> Iterator[Flask]:
    url = make_mysql_database()
    upgrade(url)
    app = create_app(
        {"TESTING": True, "DATABASE_URL": url, "ZK_ENABLED": True, "ZK_HOSTS": zk_hosts}
    )
    try:
        yield app
    finally:
        shutdown_app(app)


@pytest.fixture
def web(zk_app: Flask) -> FlaskClient:
    return zk_app.test_client()


@pytest.fixture
def tokens(zk_app: Flask) -> Tokens:
    return make_tokens(zk_app)


def _transport(web: FlaskClient) -> MockTransport:
    lock = threading.Lock()

    def handle(request: Request) -> Response:
        with lock:
            answer = web.get(
                request.path, query_string=request.params, headers=dict(request.headers)
            )
        return Response(answer.status_code, dict(answer.headers), answer.data)

    return MockTransport(handle)


def _shop_class() -> type:
    @disconf_file("shop.properties")
    class Shop:
        port: int
        host: str = "localhost"

    return Shop


def _client(web: FlaskClient, zk_hosts: str, tmp_path: Path, cls: type) -> DisconfClient:
    return DisconfClient(
        [cls],
        app="demo",
        env="dev",
        version="1_0_0",
        servers="http://app.invalid",
        zk_hosts=zk_hosts,
        zk_prefix="/disconf",
        download_dir=str(tmp_path / "download"),
        retry_times=1,
        retry_sleep=0.1,
        properties_file=None,
        transport=_transport(web),
    )


def _put(web: FlaskClient, tokens: Tokens, name: str, body: str, role: str = "admin", **kw: Any):  # type: ignore[no-untyped-def]
    return web.put(f"{BASE}/files/{name}", data=body.encode(), headers=tokens.headers(role), **kw)


def test_syntax_error_is_422_with_line_and_column_and_nothing_is_stored(
    web: FlaskClient, tokens: Tokens, zk_app: Flask
) -> None:
    bad = '{"port": 8080,\n "host" "a"}\n'
    answer = _put(web, tokens, "shop.json", bad)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    body = answer.get_json()
    assert "line 2, column 9" in body["error"]
    [report] = body["guard"]
    assert report["syntax"]["line"] == 2 and report["syntax"]["column"] == 9
    with get_db(zk_app).new_session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Config)) == 0
    # Forcing never stores a syntax error.
    forced = _put(web, tokens, "shop.json", bad, query_string={"force_reason": "urgent"})
    assert forced.status_code == 422
    # The dry run says the same, and a valid document passes.
    check = web.post(f"{BASE}/files/shop.json/check", data=bad, headers=tokens.headers("viewer"))
    assert check.status_code == 200 and check.get_json()["syntax"]["column"] == 9
    assert _put(web, tokens, "shop.json", '{"port": 8080}').status_code == 201
    for name, text in (("a.yaml", "a: [1,\n"), ("a.toml", "a = \n"), ("a.ini", "x=1\n")):
        refused = _put(web, tokens, name, text)
        assert refused.status_code == 422 and "line " in refused.get_json()["error"], name


def test_guard_refuses_what_a_running_client_rejects_until_it_is_gone(
    web: FlaskClient, tokens: Tokens, zk_app: Flask, zk_hosts: str, zk: KazooClient, tmp_path: Path
) -> None:
    assert _put(web, tokens, "shop.properties", "port=8080\nhost=a\n").status_code == 201
    # An unmodified Disconf client (no schema in its node) is never checked.
    zk.create(f"{NODE}/file/shop.properties/legacy_0_x", b'{"port":8080}', ephemeral=True)
    assert _put(web, tokens, "shop.properties", "port=8081\nhost=a\n").status_code == 200
    client = _client(web, zk_hosts, tmp_path, _shop_class()).start()
    try:
        check = web.post(
            f"{BASE}/files/shop.properties/check",
            data="port=80a0\nhost=a\n",
            headers=tokens.headers("editor"),
        ).get_json()
        assert check["ok"] is False and check["instances_checked"] == 1
        [rejection] = check["rejections"]
        assert (rejection["key"], rejection["value"], rejection["expected"]) == (
            "port",
            "80a0",
            "int",
        )
        answer = _put(web, tokens, "shop.properties", "port=80a0\nhost=a\n", role="editor")
        assert answer.status_code == 422, answer.get_data(as_text=True)
        assert (
            "1 instance of demo would reject `port=80a0`: expected int"
            in answer.get_json()["error"]
        )
        [report] = answer.get_json()["guard"]
        assert len(report["rejections"][0]["instances"]) == 1
        # A required key left out is refused too; a value the client accepts passes.
        assert _put(web, tokens, "shop.properties", "host=b\n").status_code == 422
        assert _put(web, tokens, "shop.properties", "port=9090\nhost=a\n").status_code == 200
        # Not an admin: no forcing.
        forbidden = _put(
            web, tokens, "shop.properties", "port=x\n", role="editor",
            query_string={"force_reason": "trust me"},
        )  # fmt: skip
        assert forbidden.status_code == 403
        with get_db(zk_app).new_session() as session:
            config = session.scalar(sa.select(Config).where(Config.name == "shop.properties"))
            assert config is not None and config.value == "port=9090\nhost=a\n"
    finally:
        client.close()
    wait_until(
        lambda: zk.get_children(f"{NODE}/file/shop.properties") == ["legacy_0_x"],
        message="the client's ephemeral instance node to go",
    )
    assert _put(web, tokens, "shop.properties", "port=80a0\nhost=a\n").status_code == 200


def _put_item(web: FlaskClient, tokens: Tokens, key: str, value: str, role: str = "admin"):  # type: ignore[no-untyped-def]
    return web.put(f"{BASE}/items/{key}", json={"value": value}, headers=tokens.headers(role))


def test_guard_refuses_an_item_value_a_running_client_rejects_until_it_is_gone(
    web: FlaskClient, tokens: Tokens, zk_hosts: str, zk: KazooClient, tmp_path: Path
) -> None:
    first = _put_item(web, tokens, "rate", "0.5")
    assert first.status_code == 201 and first.get_json()["fleet_check"] == "checked"
    # An unmodified Disconf client: a raw value in its item instance node, no schema node.
    zk.create(f"{NODE}/item/rate/legacy_0_x", b"0.5", ephemeral=True)
    assert _put_item(web, tokens, "rate", "0.6").status_code == 200

    @disconf_item("rate")
    class Rate:
        rate: float

    client = _client(web, zk_hosts, tmp_path, Rate).start()
    try:
        instance = client.instance_name
        # The item instance node keeps the raw value (what the self-check compares).
        assert zk.get(f"{NODE}/item/rate/{instance}")[0] == b"0.6"
        schema = json.loads(zk.get(f"{NODE}/schema/{instance}")[0])
        assert schema["items"]["rate"]["fields"][0]["type"] == {"type": "float"}
        check = web.post(
            f"{BASE}/items/rate/check", json={"value": "abc"}, headers=tokens.headers("viewer")
        ).get_json()
        assert check["ok"] is False and check["instances_checked"] == 1
        [rejection] = check["rejections"]
        assert (rejection["key"], rejection["value"], rejection["expected"]) == (
            "rate",
            "abc",
            "float",
        )
        assert rejection["instances"] == [instance]
        refused = _put_item(web, tokens, "rate", "abc", role="editor")
        assert refused.status_code == 422, refused.get_data(as_text=True)
        assert (
            "1 instance of demo would reject `rate=abc`: expected float"
            in (refused.get_json()["error"])
        )
        accepted = _put_item(web, tokens, "rate", "0.75", role="editor")
        assert accepted.status_code == 200 and accepted.get_json()["fleet_check"] == "checked"
    finally:
        client.close()
    wait_until(
        lambda: zk.get_children(f"{NODE}/schema") == [],
        message="the client's ephemeral item-schema node to go",
    )
    assert _put_item(web, tokens, "rate", "abc").status_code == 200


def test_admin_forces_with_a_reason_and_it_is_audited(
    web: FlaskClient, tokens: Tokens, zk_app: Flask, zk_hosts: str, tmp_path: Path
) -> None:
    assert _put(web, tokens, "shop.properties", "port=8080\n").status_code == 201
    with _client(web, zk_hosts, tmp_path, _shop_class()):
        answer = web.put(
            f"{BASE}/files/shop.properties",
            data=b"port=80a0\n",
            headers={**tokens.headers("admin"), "X-Disconf-Force-Reason": "migrating the port"},
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
    events = web.get("/api/v1/audit?app=demo", headers=tokens.headers("admin")).get_json()
    forced = [event for event in events["events"] if event["action"] == "config.guard_forced"]
    assert len(forced) == 1
    with get_db(zk_app).new_session() as session:
        event = session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "config.guard_forced")
        )
        assert event is not None
        detail = json.loads(event.detail)
        assert detail["reason"] == "migrating the port"
        assert detail["rejections"][0]["key"] == "port"


def _bundle(web: FlaskClient, tokens: Tokens, base: str = BASE) -> dict[str, Any]:
    answer = web.get(f"{base}/bundle", headers=tokens.headers("viewer"))
    assert answer.status_code == 200
    document: dict[str, Any] = json.loads(answer.data)
    return document


def test_bundle_export_preview_and_import_into_another_env(
    web: FlaskClient, tokens: Tokens, zk_app: Flask, zk: KazooClient
) -> None:
    assert _put(web, tokens, "shop.properties", "port=8080\n").status_code == 201
    web.put(f"{BASE}/items/rate", json={"value": "0.1"}, headers=tokens.headers("admin"))
    document = _bundle(web, tokens)
    assert [(m["kind"], m["name"], m["revision"]) for m in document["manifest"]] == [
        ("file", "shop.properties", 1),
        ("item", "rate", 1),
    ]
    assert document["files"] == {"shop.properties": "port=8080\n"}
    web.post("/api/v1/envs", json={"name": "prod"}, headers=tokens.headers("admin"))
    prod = "/api/v1/apps/demo/envs/prod/versions/1_0_0"
    preview = web.post(f"{prod}/bundle/preview", json=document, headers=tokens.headers("editor"))
    assert preview.status_code == 200, preview.get_data(as_text=True)
    plan = preview.get_json()
    assert plan["counts"]["added"] == 2 and plan["applied"] is False
    applied = web.post(
        f"{prod}/bundle",
        json=document,
        headers=tokens.headers("editor"),
        query_string={"expect": plan["fingerprint"], "comment": "promote"},
    )
    assert applied.status_code == 200, applied.get_data(as_text=True)
    assert applied.get_json()["notification"] == "delivered"
    data, _ = zk.get("/disconf/demo_1_0_0_prod/item/rate")
    assert data == b"0.1"
    again = _bundle(web, tokens, prod)
    assert again["files"] == document["files"] and again["items"] == document["items"]
    # A stale preview is refused; a tampered bundle is refused before anything.
    stale = web.post(
        f"{prod}/bundle", json=document, headers=tokens.headers("editor"),
        query_string={"expect": plan["fingerprint"]},
    )  # fmt: skip
    assert stale.status_code == 409
    document["files"]["shop.properties"] = "port=1\n"
    tampered = web.post(f"{prod}/bundle", json=document, headers=tokens.headers("editor"))
    assert tampered.status_code == 400 and "MD5" in tampered.get_json()["error"]


def _three_configs(name_in_middle: str) -> dict[str, Any]:
    from disconf_core import content_md5

    values = {"a.properties": "a=1\n", name_in_middle: "b=2\n", "c.properties": "c=3\n"}
    return {
        "format": "disconf-bundle",
        "format_version": 1,
        "manifest": [
            {"kind": "file", "name": name, "md5": content_md5(value)}
            for name, value in values.items()
        ],
        "files": values,
    }


def _nothing_applied(zk_app: Flask, zk: KazooClient) -> None:
    with get_db(zk_app).new_session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Config)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
        imports = session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "bundle.import")
        )
        assert imports == 0
    assert zk.exists(f"{NODE}/file/a.properties") is None


def test_import_is_all_or_nothing(
    web: FlaskClient,
    tokens: Tokens,
    zk_app: Flask,
    zk: KazooClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A name that cannot be published, in the middle: refused before anything is written.
    bad_name = web.post(
        f"{BASE}/bundle", json=_three_configs("b/../x.properties"), headers=tokens.headers("admin")
    )
    assert bad_name.status_code == 400, bad_name.get_data(as_text=True)
    _nothing_applied(zk_app, zk)
    # A syntax error in the middle: the guard refuses the whole import.
    bundle = _three_configs("b.json")
    guarded = web.post(f"{BASE}/bundle", json=bundle, headers=tokens.headers("admin"))
    assert guarded.status_code == 422
    _nothing_applied(zk_app, zk)
    # The database fails on the second config, after the first was written in the transaction.
    calls: list[str] = []
    real_stage = config_services._stage

    def failing_stage(session: Any, change: Any) -> Any:
        calls.append(change.name)
        if len(calls) == 2:
            raise sa.exc.OperationalError("UPDATE config", {}, Exception("forced failure"))
        return real_stage(session, change)

    monkeypatch.setattr(config_services, "_stage", failing_stage)
    failed = web.post(
        f"{BASE}/bundle", json=_three_configs("b.properties"), headers=tokens.headers("admin")
    )
    assert failed.status_code == 503, failed.get_data(as_text=True)
    assert calls == ["a.properties", "b.properties"]
    _nothing_applied(zk_app, zk)
    monkeypatch.undo()
    done = web.post(
        f"{BASE}/bundle", json=_three_configs("b.properties"), headers=tokens.headers("admin")
    )
    assert done.status_code == 200 and done.get_json()["counts"]["added"] == 3
    assert read_trailer(zk.get(f"{NODE}/file/c.properties")[0])[0] == b'"c=3\\n"'


def test_copy_with_preview_and_diff_of_two_revisions(web: FlaskClient, tokens: Tokens) -> None:
    assert _put(web, tokens, "shop.properties", "port=1\n").status_code == 201
    assert _put(web, tokens, "shop.properties", "port=2\n").status_code == 200
    diff = web.get(
        f"{BASE}/files/shop.properties/diff",
        query_string={"from": "1", "to": "2"},
        headers=tokens.headers("viewer"),
    ).get_json()
    assert "-port=1\n+port=2\n" in diff["diff"] and diff["identical"] is False
    assert (
        web.get(
            f"{BASE}/files/shop.properties/diff",
            query_string={"from": "²", "to": "2"},
            headers=tokens.headers("viewer"),
        ).status_code
        == 400
    )
    body = {"to_version": "2_0_0", "preview": True}
    preview = web.post(f"{BASE}/copy", json=body, headers=tokens.headers("editor")).get_json()
    assert preview["counts"]["added"] == 1 and preview["applied"] is False
    body.update(preview=False, expect=preview["fingerprint"])
    applied = web.post(f"{BASE}/copy", json=body, headers=tokens.headers("editor"))
    assert applied.status_code == 200 and applied.get_json()["applied"] is True
    target = "/api/v1/apps/demo/envs/dev/versions/2_0_0/files/shop.properties"
    assert web.get(target, headers=tokens.headers("viewer")).data == b"port=2\n"
    # The viewer may preview but not apply.
    viewer = web.post(
        f"{BASE}/copy", json={"to_version": "3_0_0"}, headers=tokens.headers("viewer")
    )
    assert viewer.status_code == 403


def test_a_mute_zookeeper_skips_the_fleet_check_and_the_publish_goes_on(
    make_mysql_database: Callable[[], str],
) -> None:
    """ZooKeeper that accepts and never answers: the guard's fleet read gives up within its
    bounds (instances.CONNECT_WAIT, READ_TIMEOUT), says so, and never blocks a publish; the
    syntax check still runs."""
    mute = socket.create_server(("127.0.0.1", 0), backlog=16)  # never accepts: a black hole
    url = make_mysql_database()
    upgrade(url)
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "ZK_ENABLED": True,
            "ZK_HOSTS": f"127.0.0.1:{mute.getsockname()[1]}",
            "NOTIFY_INLINE_TIMEOUT": 0.5,
        }
    )
    try:
        tokens = make_tokens(app)
        web = app.test_client()
        check = web.post(
            f"{BASE}/files/shop.properties/check", data="port=1\n", headers=tokens.headers("admin")
        ).get_json()
        assert check["ok"] is True and check["fleet"] == "unavailable"
        published = _put(web, tokens, "shop.properties", "port=80a0\n")
        assert published.status_code == 201, published.get_data(as_text=True)
        assert published.get_json()["notification"] == "pending"
        assert published.get_json()["fleet_check"] == "unavailable"
        item = _put_item(web, tokens, "rate", "abc")
        assert item.status_code == 201 and item.get_json()["fleet_check"] == "unavailable"
        assert _put(web, tokens, "shop.json", "{\n").status_code == 422
    finally:
        shutdown_app(app)
        mute.close()


def test_a_rollback_to_a_value_the_fleet_rejects_is_refused_unless_forced(
    web: FlaskClient, tokens: Tokens, zk_hosts: str, tmp_path: Path
) -> None:
    assert _put(web, tokens, "shop.properties", "port=http\n").status_code == 201
    assert _put(web, tokens, "shop.properties", "port=8080\n").status_code == 200
    rollback = f"{BASE}/files/shop.properties/rollback"
    with _client(web, zk_hosts, tmp_path, _shop_class()):
        refused = web.post(rollback, json={"revision": 1}, headers=tokens.headers("editor"))
        assert refused.status_code == 422, refused.get_data(as_text=True)
        assert "`port=http`" in refused.get_json()["error"]
        forced = web.post(
            rollback,
            json={"revision": 1},
            headers=tokens.headers("admin"),
            query_string={"force_reason": "restore the old scheme"},
        )
        assert forced.status_code == 200 and forced.get_json()["revision"] == 3
    # Unknown revisions are still the services' 404.
    missing = web.post(rollback, json={"revision": 9}, headers=tokens.headers("admin"))
    assert missing.status_code == 404
