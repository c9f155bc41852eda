"""The Disconf client endpoints: exact bytes, headers and envelopes, errors included
(on SQLite and MySQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import Client, TestResponse

from disconf_core import content_md5
from disconf_web import get_db
from disconf_web.fastpath import ClientFastPath

from .conftest import Tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"
Q = "app=demo&env=dev&version=1_0_0"
JSON = "application/json;charset=UTF-8"
PROPS = "redis.host=127.0.0.1\nname=中文 ünïcode\n".encode()


def publish(client: FlaskClient, tokens: Tokens) -> None:
    headers = tokens.headers("admin")
    assert (
        client.put(f"{BASE}/files/redis.properties", data=PROPS, headers=headers).status_code == 201
    )
    assert (
        client.put(f"{BASE}/items/discountRate", json={"value": "0.5"}, headers=headers).status_code
        == 201
    )


def test_zoo_hosts_and_prefix(client: FlaskClient) -> None:
    hosts = client.get("/api/zoo/hosts")
    assert hosts.status_code == 200
    assert hosts.data == b'{"status":1,"message":"","value":"zk:1"}'
    assert hosts.headers["Content-Type"] == JSON
    prefix = client.get("/api/zoo/prefix")
    assert prefix.data == b'{"status":1,"message":"","value":"/disconf"}'


def test_item(client: FlaskClient, tokens: Tokens) -> None:
    publish(client, tokens)
    # The Java client sends content-type: application/json on GETs; it is ignored.
    answer = client.get(
        f"/api/config/item?{Q}&key=discountRate&type=1",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200
    assert answer.data == b'{"status":1,"message":"","value":"0.5"}'
    assert answer.headers["ETag"] == f'"{content_md5("0.5")}"'
    assert answer.headers["X-Disconf-MD5"] == content_md5("0.5")


def test_item_errors_are_http_200_with_status_0(client: FlaskClient, tokens: Tokens) -> None:
    publish(client, tokens)
    cases = {
        "/api/config/item?env=dev&version=1_0_0&key=x": "app is empty",
        "/api/config/item?app=demo&version=1_0_0&key=x": "env is empty",
        "/api/config/item?app=demo&env=dev&key=x": "version is empty",
        f"/api/config/item?{Q}": "key is empty",
        "/api/config/item?app=nope&env=dev&version=1_0_0&key=x": "app nope doesn't exist",
        "/api/config/item?app=demo&env=prod&version=1_0_0&key=x": "env prod doesn't exist",
        f"/api/config/item?{Q}&key=missing": "cannot find this config",
        # a file is not an item
        f"/api/config/item?{Q}&key=redis.properties": "cannot find this config",
    }
    for url, message in cases.items():
        answer = client.get(url)
        assert answer.status_code == 200, url
        expected = {"status": 0, "message": message, "value": ""}
        assert answer.data == json.dumps(expected, separators=(",", ":")).encode(), url


def test_file(client: FlaskClient, tokens: Tokens) -> None:
    publish(client, tokens)
    answer = client.get(f"/api/config/file?key=redis.properties&{Q}&type=0")
    assert answer.status_code == 200
    assert answer.data == PROPS  # real UTF-8, not \\uXXXX escapes
    assert answer.headers["Content-Disposition"] == "attachment; filename=redis.properties"
    assert answer.headers["Content-Length"] == str(len(PROPS))
    assert answer.headers["ETag"] == f'"{content_md5(PROPS)}"'


def test_file_name_is_url_encoded(client: FlaskClient, tokens: Tokens) -> None:
    headers = tokens.headers("admin")
    client.put(f"{BASE}/files/my file+中.yaml", data=b"a: 1\n", headers=headers)
    answer = client.get(f"/api/config/file?{Q}&key=my%20file%2B中.yaml")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == "attachment; filename=my+file%2B%E4%B8%AD.yaml"


def test_file_errors_are_404_with_empty_body(client: FlaskClient, tokens: Tokens) -> None:
    publish(client, tokens)
    for url in (
        "/api/config/file?env=dev&version=1_0_0&key=redis.properties",
        f"/api/config/file?{Q}",
        "/api/config/file?app=nope&env=dev&version=1_0_0&key=redis.properties",
        "/api/config/file?app=demo&env=prod&version=1_0_0&key=redis.properties",
        f"/api/config/file?{Q}&key=missing.properties",
        f"/api/config/file?{Q}&key=discountRate",  # an item is not a file
    ):
        answer = client.get(url)
        assert answer.status_code == 404, url
        assert answer.data == b"", url


def test_deleted_configs_are_gone_from_client_endpoints(
    client: FlaskClient, tokens: Tokens
) -> None:
    publish(client, tokens)
    headers = tokens.headers("admin")
    assert client.delete(f"{BASE}/files/redis.properties", headers=headers).status_code == 200
    assert client.get(f"/api/config/file?{Q}&key=redis.properties").status_code == 404
    rows = client.get(f"/api/config/list?{Q}").get_json()["page"]["result"]
    assert [row["name"] for row in rows] == ["discountRate"]


def test_list_rows(client: FlaskClient, tokens: Tokens) -> None:
    publish(client, tokens)
    answer = client.get(f"/api/config/list?{Q}")
    assert answer.status_code == 200
    body = json.loads(answer.data)
    assert list(body) == ["success", "message", "sessionId", "page"]
    assert body["success"] == "true"
    assert body["message"] == {}
    page = body["page"]
    assert page["totalCount"] == 2
    first, second = page["result"]
    assert list(first) == [
        "id", "type", "status", "name", "value", "appId", "version", "envId",
        "createTime", "updateTime",
    ]  # fmt: skip
    assert first["type"] == 0 and first["name"] == "redis.properties"
    assert first["value"] == PROPS.decode()
    assert first["status"] == 1 and first["version"] == "1_0_0"
    assert len(first["createTime"]) == 14 and first["createTime"].isdigit()
    assert second["type"] == 1 and second["value"] == "0.5"
    simple = json.loads(client.get(f"/api/config/simple/list?{Q}").data)
    assert [row["value"] for row in simple["page"]["result"]] == [None, None]
    assert [row["name"] for row in simple["page"]["result"]] == ["redis.properties", "discountRate"]


def test_list_errors_and_empty(client: FlaskClient, tokens: Tokens) -> None:
    publish(client, tokens)
    empty = json.loads(client.get("/api/config/list?app=demo&env=dev&version=9").data)
    assert empty["success"] == "true" and empty["page"]["result"] == []
    for url, message in (
        ("/api/config/list?env=dev&version=1", "app is empty"),
        ("/api/config/list?app=nope&env=dev&version=1", "app nope doesn't exist"),
        ("/api/config/simple/list?app=demo&env=x&version=1", "env x doesn't exist"),
    ):
        answer = client.get(url)
        assert answer.status_code == 200
        body = json.loads(answer.data)
        assert body["success"] == "false"
        assert body["message"] == {"global": message}


CREDENTIAL = "/api/v1/apps/demo/read-credential"
HEADER = "X-Disconf-Read-Token"


def test_read_credential_is_opt_in_per_app_and_checked_on_every_client_endpoint(
    app: Flask, client: FlaskClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(client, tokens)
    item, file = (
        f"/api/config/item?{Q}&key=discountRate",
        f"/api/config/file?{Q}&key=redis.properties",
    )
    lists = (f"/api/config/list?{Q}", f"/api/config/simple/list?{Q}")
    assert client.get(CREDENTIAL, headers=tokens.headers("admin")).json["enabled"] is False
    assert client.get(item).status_code == 200  # off by default: unmodified clients work
    # admins only
    assert client.put(CREDENTIAL).status_code == 401
    assert client.put(CREDENTIAL, headers=tokens.headers("editor")).status_code == 403
    unknown = client.put("/api/v1/apps/nope/read-credential", headers=tokens.headers("admin"))
    assert unknown.status_code == 404 and "nope" in unknown.json["error"]
    created = client.put(CREDENTIAL, headers=tokens.headers("admin"))
    assert created.status_code == 201 and created.json["header"] == HEADER
    secret = created.json["token"]
    assert client.get(CREDENTIAL, headers=tokens.headers("admin")).json["enabled"] is True

    fast = app.wsgi_app
    assert isinstance(fast, ClientFastPath)
    for wsgi in (fast, fast.wrapped):  # the fast path and the Flask blueprint alike
        denied = _get(wsgi, item)
        assert denied.status_code == 403
        assert denied.json == {
            "status": 0,
            "message": f"app demo requires a read credential: send header {HEADER}",
            "value": "",
        }
        assert (
            _get(wsgi, item, {HEADER: "wrong"})
            .json["message"]
            .startswith("the read credential sent for app demo is not valid")
        )
        assert _get(wsgi, file).status_code == 403
        assert _get(wsgi, f"/api/config/item?{Q}&key=missing").status_code == 403  # no probing
        for url in lists:
            assert _get(wsgi, url).status_code == 403
            assert _get(wsgi, url, {HEADER: secret}).json["success"] == "true"
        allowed = _get(wsgi, item, {HEADER: secret})
        assert allowed.data == b'{"status":1,"message":"","value":"0.5"}'
        assert _get(wsgi, file, {HEADER: secret}).data == PROPS
        assert _get(wsgi, "/api/zoo/hosts").status_code == 200  # no config value in it

    # While the database is down the last-served answer is guarded the same way.
    database = get_db(app)
    with monkeypatch.context() as patched:
        patched.setattr(database.reader, "raw_connection", _down)
        assert client.get(item).status_code == 403
        assert client.get(item, headers={HEADER: secret}).json["value"] == "0.5"

    rotated = client.put(CREDENTIAL, headers=tokens.headers("admin"))
    assert rotated.status_code == 200 and rotated.json["rotated"] is True
    assert client.get(item, headers={HEADER: secret}).status_code == 403
    assert client.get(item, headers={HEADER: rotated.json["token"]}).status_code == 200
    assert client.delete(CREDENTIAL, headers=tokens.headers("viewer")).status_code == 403
    assert client.delete(CREDENTIAL, headers=tokens.headers("admin")).json["enabled"] is False
    assert client.get(item).status_code == 200


def _down(*_args: Any, **_kwargs: Any) -> Any:
    raise sa.exc.OperationalError("SELECT", {}, Exception("database is down"))


def _get(wsgi: Any, url: str, headers: dict[str, str] | None = None) -> TestResponse:
    """GET ``url`` through one WSGI callable (the fast path, or Flask behind it)."""
    return Client(wsgi, TestResponse).get(url, headers=headers or {})
