"""The client endpoints' WSGI fast path (disconf_web.fastpath): it answers found configs itself,
without the console's session (no ``Vary: Cookie``), lets Flask answer everything else, retries
once after a dropped database connection and falls through to Flask's outage handling."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from disconf_web import get_db
from disconf_web.fastpath import ClientFastPath

from .conftest import Tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"
Q = "app=demo&env=dev&version=1_0_0"


def publish(client: FlaskClient, tokens: Tokens) -> None:
    headers = tokens.headers("admin")
    assert client.put(f"{BASE}/items/rate", json={"value": "0.5"}, headers=headers).status_code in (
        200,
        201,
    )
    assert client.put(f"{BASE}/files/a.properties", data=b"a=1\n", headers=headers).status_code in (
        200,
        201,
    )


def test_installed_and_answers_without_the_session(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    assert isinstance(app.wsgi_app, ClientFastPath)
    publish(client, tokens)
    for url in (f"/api/config/item?{Q}&key=rate", f"/api/config/file?{Q}&key=a.properties",
                "/api/zoo/hosts", "/api/zoo/prefix"):  # fmt: skip
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert "Vary" not in answer.headers, url
        assert "Set-Cookie" not in answer.headers, url


def test_everything_else_falls_through_to_flask(client: FlaskClient, tokens: Tokens) -> None:
    publish(client, tokens)
    # a miss: Flask names what is missing (its hooks run: the session is touched)
    miss = client.get("/api/config/item?app=nope&env=dev&version=1_0_0&key=x")
    assert miss.json == {"status": 0, "message": "app nope doesn't exist", "value": ""}
    assert client.get(f"/api/config/item?{Q}").json["message"] == "key is empty"
    assert client.get(f"/api/config/file?{Q}&key=missing").status_code == 404
    # other methods and paths
    assert client.head(f"/api/config/item?{Q}&key=rate").status_code == 200
    assert client.post(f"/api/config/item?{Q}&key=rate").status_code == 405
    assert client.get("/api/zoo/hosts/").status_code in (308, 404)
    listed = client.get(f"/api/config/simple/list?{Q}").json
    assert listed["success"] == "true" and listed["page"]["totalCount"] == 2


def test_database_error_falls_through_to_the_last_served_value(
    app: Flask, client: FlaskClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(client, tokens)
    url = f"/api/config/item?{Q}&key=rate"
    assert client.get(url).json["value"] == "0.5"  # served once: the process remembers it

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise sa.exc.OperationalError("SELECT", {}, Exception("database is down"))

    database = get_db(app)
    monkeypatch.setattr(database.reader, "raw_connection", down)
    monkeypatch.setattr(database.engine, "connect", down)
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer.data == b'{"status":1,"message":"","value":"0.5"}'
    # a config this process never served: Flask's clear 503
    never = client.get(f"/api/config/file?{Q}&key=never.properties")
    assert never.status_code == 503
    assert "database unavailable" in never.json["error"]


@pytest.mark.parametrize("database_url", ["mysql"], indirect=True)  # KILL needs a server
def test_a_dropped_connection_is_retried_once(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    publish(client, tokens)
    url = f"/api/config/item?{Q}&key=rate"
    assert client.get(url).json["value"] == "0.5"  # the reader now holds a pooled connection
    database = get_db(app)
    assert database.is_mysql
    with database.reader.connect() as connection:
        mine = connection.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
    # the pool's connection (idle, the one the next request checks out) is killed server-side
    with database.engine.connect() as admin:
        admin.execute(sa.text(f"KILL {int(mine)}"))
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer.json == {"status": 1, "message": "", "value": "0.5"}
    assert "Vary" not in answer.headers  # answered by the fast path's retry, not by Flask
