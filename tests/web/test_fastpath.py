"""The client endpoints' WSGI fast path (disconf_web.fastpath): it answers found configs itself,
without the console's session (no ``Vary: Cookie``), lets Flask answer everything else, retries
once after a dropped database connection and falls through to Flask's outage handling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, run_wsgi_app

from disconf_core import content_md5
from disconf_web import create_app, get_db, shutdown_app
from disconf_web.fastpath import ClientFastPath
from disconf_web.migrate import upgrade
from disconf_web.protocol import ENDPOINTS, get_protocol

from .conftest import Tokens, make_tokens

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


@pytest.mark.parametrize("database_url", ["mysql", "mysqldb"], indirect=True)  # KILL: a server
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


def test_two_apps_in_one_process_never_share_last_served_values(
    migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each app keeps its own last-served values (app.extensions, not a module global): app B,
    whose database is down, must not answer a value that only app A served."""
    upgrade(f"sqlite:///{tmp_path / 'b.sqlite'}")
    apps = [
        create_app({"TESTING": True, "DATABASE_URL": url, "ZK_ENABLED": False,
                    "LAST_SERVED_DIR": str(tmp_path / name)})
        for name, url in (("a", migrated_url), ("b", f"sqlite:///{tmp_path / 'b.sqlite'}"))
    ]  # fmt: skip
    try:
        first, second = apps
        publish(first.test_client(), make_tokens(first))
        url = f"/api/config/item?{Q}&key=rate"
        assert first.test_client().get(url).json["value"] == "0.5"
        database = get_db(second)
        monkeypatch.setattr(database.reader, "raw_connection", _down)
        monkeypatch.setattr(database.reader, "connect", _down)
        answer = second.test_client().get(url)
        assert answer.status_code == 503
        assert "database unavailable" in answer.json["error"]
        assert get_protocol(first).last_served is not get_protocol(second).last_served
    finally:
        for flask_app in apps:
            shutdown_app(flask_app)


def _down(*_args: Any, **_kwargs: Any) -> Any:
    raise sa.exc.OperationalError("SELECT", {}, Exception("database is down"))


def _through(
    wsgi: Any, url: str, headers: dict[str, str]
) -> tuple[str, list[tuple[str, str]], bytes]:
    environ = EnvironBuilder(path=url.split("?")[0], query_string=url.partition("?")[2],
                             headers=headers).get_environ()  # fmt: skip
    environ["QUERY_STRING"] = url.partition("?")[2]  # raw, as a server passes it
    body, status, answer_headers = run_wsgi_app(wsgi, environ, buffered=True)
    return status, list(answer_headers.items()), b"".join(body)


def test_both_adapters_send_the_same_bytes(app: Flask, client: FlaskClient, tokens: Tokens) -> None:
    """The WSGI fast path and the Flask blueprint send the same status line, headers and body
    for the same request (found, missing, errors, odd inputs, conditional requests), except the
    ``Vary: Cookie`` that Flask's session machinery adds after the protocol answered."""
    publish(client, tokens)
    client.put(f"{BASE}/files/中 文.txt", data="ünï\n".encode(), headers=tokens.headers("admin"))
    fast = app.wsgi_app
    assert isinstance(fast, ClientFastPath)
    item_tag = client.get(f"/api/config/item?{Q}&key=rate").headers["ETag"]
    file_tag = client.get(f"/api/config/file?{Q}&key=a.properties").headers["ETag"]
    requests_: list[tuple[str, dict[str, str]]] = [
        ("/api/zoo/hosts", {}),
        ("/api/zoo/prefix", {}),
        (f"/api/config/item?{Q}&key=rate", {}),
        (f"/api/config/item?{Q}&key=rate&type=1", {"Content-Type": "application/json"}),
        (f"/api/config/item?key=rate&{Q}&key=other", {}),
        (f"/api/config/file?{Q}&key=a.properties", {}),
        (f"/api/config/file?{Q}&key=%E4%B8%AD%20%E6%96%87.txt", {}),
        (f"/api/config/item?{Q}&key=missing", {}),
        (f"/api/config/file?{Q}&key=missing", {}),
        ("/api/config/item?app=nope&env=dev&version=1_0_0&key=x", {}),
        ("/api/config/item?app=demo&env=nope&version=1_0_0&key=x", {}),
        (f"/api/config/item?{Q}", {}),
        ("/api/config/file?app=demo", {}),
        (f"/api/config/item?{Q}&key=a.properties", {}),
        (f"/api/config/item?{Q}&key=%FF%FE", {}),
        (f"/api/config/item?{Q}&key=%ED%A0%80", {}),
        (f"/api/config/item?{Q}&key=%00", {}),
        (f"/api/config/item?{Q}&key=\xff\xfe", {}),  # not UTF-8 at all (latin-1 in WSGI)
        (f"/api/config/file?{Q}&key=\xe4\xb8", {}),
        (f"/api/config/item?{Q}&key=" + "x" * 5000, {}),
        (f"/api/config/item?{Q}&key=rate", {"If-None-Match": item_tag}),
        (f"/api/config/item?{Q}&key=rate", {"If-None-Match": f'"other", W/{item_tag}'}),
        (f"/api/config/item?{Q}&key=rate", {"If-None-Match": '"other"'}),
        (f"/api/config/file?{Q}&key=a.properties", {"If-None-Match": file_tag}),
        (f"/api/config/file?{Q}&key=a.properties", {"If-None-Match": "*"}),
        (f"/api/config/list?{Q}", {}),
        (f"/api/config/simple/list?{Q}", {}),
        ("/api/config/list?app=demo&env=dev", {}),
        ("/api/config/list?app=nope&env=dev&version=1", {}),
        ("/api/config/simple/list?app=demo&env=x&version=1", {}),
        (f"/api/config/item?{Q}&key=rate", {"X-Disconf-Read-Token": "unneeded"}),
    ]
    for url, headers in requests_:
        status, fast_headers, fast_body = _through(fast, url, headers)
        flask_status, flask_headers, flask_body = _through(fast.wrapped, url, headers)
        assert status == flask_status, url
        assert fast_body == flask_body, url
        assert fast_headers == [h for h in flask_headers if h[0] != "Vary"], url
        assert not status.startswith("5"), url


def _same_through_both(fast: ClientFastPath, url: str, headers: dict[str, str]) -> str:
    status, fast_headers, fast_body = _through(fast, url, headers)
    flask_status, flask_headers, flask_body = _through(fast.wrapped, url, headers)
    assert (status, fast_body) == (flask_status, flask_body), url
    assert fast_headers == [h for h in flask_headers if h[0] != "Vary"], url
    return status


def test_both_adapters_send_the_same_bytes_for_credentials_and_outages(
    app: Flask, client: FlaskClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(client, tokens)
    fast = app.wsgi_app
    assert isinstance(fast, ClientFastPath)
    item, file = f"/api/config/item?{Q}&key=rate", f"/api/config/file?{Q}&key=a.properties"
    for url in (item, file):
        client.get(url)  # served once: remembered
    secret = client.put("/api/v1/apps/demo/read-credential", headers=tokens.headers("admin"))
    token = {"X-Disconf-Read-Token": secret.json["token"]}
    wrong = {"X-Disconf-Read-Token": "wrong"}
    cases = [(url, h) for url in (item, file, f"/api/config/list?{Q}") for h in ({}, wrong, token)]
    for url, headers in cases:
        _same_through_both(fast, url, headers)
    database = get_db(app)
    monkeypatch.setattr(database.reader, "raw_connection", _down)
    monkeypatch.setattr(database.reader, "connect", _down)
    statuses = [
        _same_through_both(fast, url, headers)
        for url, headers in [
            *cases,
            (f"/api/config/file?{Q}&key=never.properties", {}),
            (f"/api/config/simple/list?{Q}", token),
        ]
    ]
    assert {"200 OK", "403 FORBIDDEN", "503 SERVICE UNAVAILABLE"} <= set(statuses)


def test_conditional_reads_answer_304_when_the_etag_matches(
    client: FlaskClient, tokens: Tokens
) -> None:
    publish(client, tokens)
    for url in (f"/api/config/item?{Q}&key=rate", f"/api/config/file?{Q}&key=a.properties"):
        first = client.get(url)
        tag = first.headers["ETag"]
        same = client.get(url, headers={"If-None-Match": tag})
        assert same.status_code == 304, url
        assert same.data == b"" and same.headers["ETag"] == tag, url
        assert client.get(url, headers={"If-None-Match": '"0"'}).data == first.data, url
    headers = tokens.headers("admin")
    client.put(f"{BASE}/items/rate", json={"value": "0.7"}, headers=headers)
    url = f"/api/config/item?{Q}&key=rate"
    changed = client.get(url, headers={"If-None-Match": f'"{content_md5("0.5")}"'})
    assert changed.status_code == 200 and changed.json["value"] == "0.7"
    assert changed.headers["ETag"] == f'"{content_md5("0.7")}"'


_QUERY_CHARS = st.characters(codec="latin-1")  # what a WSGI server can put in QUERY_STRING


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(sorted(ENDPOINTS)),
    query=st.one_of(
        st.text(_QUERY_CHARS, max_size=80),
        st.lists(
            st.tuples(
                st.sampled_from(["app", "env", "version", "key", "type", "x"]),
                st.text(_QUERY_CHARS, max_size=12),
            ),
            max_size=6,
        ).map(lambda pairs: "&".join(f"{name}={value}" for name, value in pairs)),
    ),
    # A header value a server passes on never holds CR or LF (HTTP folds or refuses them).
    if_none_match=st.one_of(
        st.none(),
        st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=20),
    ),
)
def test_any_query_string_is_answered_alike_and_never_with_a_5xx(
    app: Flask, path: str, query: str, if_none_match: str | None
) -> None:
    fast = app.wsgi_app
    assert isinstance(fast, ClientFastPath)
    headers = {} if if_none_match is None else {"If-None-Match": if_none_match}
    status = _same_through_both(fast, f"{path}?{query}", headers)
    assert not status.startswith("5"), (path, query)
