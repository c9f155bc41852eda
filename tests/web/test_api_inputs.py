"""Hostile input to the admin API answers a JSON 4xx naming the problem, never a 500, and
stores nothing (issue 9, section 6)."""

from __future__ import annotations

import io
from urllib.parse import quote

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from disconf_web import get_db
from disconf_web.models import AuditEvent, ConfigRevision

from .conftest import Tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"
JSON = {"Content-Type": "application/json"}


def _revisions(app: Flask) -> int:
    with get_db(app).new_session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(ConfigRevision)) or 0)


def _error(response: object, status: int, *words: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.mimetype == "application/json"  # type: ignore[attr-defined]
    message = response.get_json()["error"]  # type: ignore[attr-defined]
    for word in words:
        assert word in message, message


def test_lone_surrogates_in_json_strings(client: FlaskClient, tokens: Tokens) -> None:
    headers = {**tokens.headers("admin"), **JSON}
    cases = [
        ("PUT", f"{BASE}/items/k", '{"value": "a\\ud800b"}', "$.value"),
        ("POST", "/api/v1/apps", '{"name": "\\udfff"}', "$.name"),
        ("POST", "/api/v1/envs", '{"name": "x", "\\ud83d": 1}', "a key of $"),
        ("POST", "/api/v1/tokens", '{"name": "\\ud800"}', "$.name"),
        ("POST", "/api/v1/users", '{"name": "u", "password": "p\\udc00assword", "role": "viewer"}',
         "$.password"),
    ]  # fmt: skip
    for method, url, body, where in cases:
        response = client.open(url, method=method, data=body, headers=headers)
        _error(response, 400, where, "surrogate")
    assert _revisions(client.application) == 0


def test_over_long_comments_everywhere(client: FlaskClient, tokens: Tokens) -> None:
    admin = tokens.headers("admin")
    assert client.put(f"{BASE}/items/k", json={"value": "1"}, headers=admin).status_code == 201
    long = "c" * 1001
    _error(
        client.put(f"{BASE}/items/k", json={"value": "2"}, headers={**admin,
                   "X-Disconf-Comment": long}),
        400, "comment", "1000",
    )  # fmt: skip
    _error(
        client.put(f"{BASE}/items/k?comment={long}", json={"value": "2"}, headers=admin),
        400, "comment",
    )  # fmt: skip
    _error(
        client.post(f"{BASE}/items/k/rollback", json={"revision": 1, "comment": long},
                    headers=admin),
        400, "comment", "1000",
    )  # fmt: skip
    _error(client.delete(f"{BASE}/items/k?comment={long}", headers=admin), 400, "comment")
    assert _revisions(client.application) == 1


def test_huge_numbers(client: FlaskClient, tokens: Tokens) -> None:
    admin = tokens.headers("admin")
    assert client.put(f"{BASE}/items/k", json={"value": "1"}, headers=admin).status_code == 201
    for revision in (10**30, 2**31, -1, 0, 1.5, "1", True, None):
        response = client.post(f"{BASE}/items/k/rollback", json={"revision": revision},
                               headers=admin)  # fmt: skip
        _error(response, 400, "revision")
    _error(client.get(f"{BASE}/items/k/revisions/{10**30}", headers=admin), 404, "no such endpoint")
    _error(client.delete(f"/api/v1/tokens/{10**30}", headers=admin), 404)
    _error(client.get(f"{BASE}/items/k/revisions/7", headers=admin), 404, "no revision 7")
    for limit in ("0", "501", "-1", "x", "9" * 40, "１"):
        _error(client.get(f"/api/v1/apps?limit={limit}", headers=admin), 400, "limit")
    for cursor in ("%%%", "e30", "W10", "WzEsMl0", "A" * 5000, "WyJcdWQ4MDAiXQ"):
        _error(client.get(f"/api/v1/apps?cursor={cursor}", headers=admin), 400, "cursor")


def test_file_body_of_any_declared_type(client: FlaskClient, tokens: Tokens) -> None:
    admin = tokens.headers("admin")
    content = b"host=localhost\nport=6379\n"
    for index, mimetype in enumerate(
        ("application/x-www-form-urlencoded", "text/plain", "application/json", None)
    ):
        headers = dict(admin) if mimetype is None else {**admin, "Content-Type": mimetype}
        response = client.put(f"{BASE}/files/f{index}.properties", data=content, headers=headers)
        assert response.status_code == 201, (mimetype, response.text)
        stored = client.get(f"{BASE}/files/f{index}.properties", headers=admin)
        assert stored.data == content
    upload = {"file": (io.BytesIO(content), "redis.properties")}
    multipart = client.put(f"{BASE}/files/m.properties", data=upload, headers=admin)
    assert multipart.status_code == 201
    assert client.get(f"{BASE}/files/m.properties", headers=admin).data == content
    two = {"a": (io.BytesIO(b"1"), "a"), "b": (io.BytesIO(b"2"), "b")}
    _error(client.put(f"{BASE}/files/two.txt", data=two, headers=admin), 400, "exactly one part")


def test_audit_log_is_paginated_and_scoped(client: FlaskClient, tokens: Tokens) -> None:
    admin, viewer = tokens.headers("admin"), tokens.headers("viewer")
    for index in range(5):
        client.put(f"{BASE}/items/k", json={"value": str(index)}, headers=admin)
    first = client.get("/api/v1/audit?limit=2", headers=admin)
    assert first.status_code == 200
    body = first.get_json()
    assert len(body["events"]) == 2 and body["next"]
    assert first.headers["Link"] == f'<{body["next"]}>; rel="next"'
    ids = [event["id"] for event in body["events"]]
    second = client.get(body["next"], headers=admin).get_json()
    assert all(event["id"] < min(ids) for event in second["events"])
    with get_db(client.application).new_session() as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    seen = client.get("/api/v1/audit?limit=500", headers=admin).get_json()["events"]
    assert len(seen) == total
    # the viewer sees only the events of its granted app
    mine = client.get("/api/v1/audit?limit=500", headers=viewer).get_json()["events"]
    assert mine and all(event["app"] == "demo" for event in mine)


def test_over_long_strings_on_bounded_columns(client: FlaskClient, tokens: Tokens) -> None:
    """MySQL enforces column sizes (SQLite does not): every over-long string is a 400 or 404
    naming the problem, never a database error."""
    admin = tokens.headers("admin")
    long = "x" * 5000
    cases = [
        ("POST", "/api/v1/apps", {"name": "newapp", "description": long}),
        ("POST", "/api/v1/apps", {"name": long}),
        ("POST", "/api/v1/envs", {"name": long}),
        ("POST", "/api/v1/tokens", {"name": long}),
        ("POST", "/api/v1/users", {"name": long, "password": "password-1", "role": "viewer"}),
        ("POST", "/api/v1/users", {"name": "u1", "password": long * 100, "role": "viewer"}),
        ("POST", "/api/v1/users", {"name": "u2", "password": "password-1", "role": long}),
        ("POST", "/api/v1/users", {"name": "u3", "password": "password-1", "role": "viewer",
                                   "apps": [long]}),
        ("PUT", f"/api/v1/users/{long}/apps/demo", None),
        ("PUT", f"/api/v1/users/editor/apps/{long}", None),
        ("PUT", f"{BASE}/items/{'k' * 300}", {"value": "1"}),
        ("PUT", f"/api/v1/apps/demo/envs/dev/versions/{'v' * 300}/items/k", {"value": "1"}),
        ("GET", f"/api/v1/audit?app={long}&actor={long}", None),
    ]  # fmt: skip
    for method, url, body in cases:
        response = client.open(url, method=method, json=body, headers=admin)
        assert response.status_code in (201, 400, 404, 200), (url[:80], response.text[:300])
        assert response.mimetype == "application/json", url[:80]
        if response.status_code >= 400:
            assert response.get_json()["error"], url[:80]
    listed = client.get("/api/v1/apps", headers=admin).get_json()["apps"]
    assert all(len(app["description"]) <= 1000 for app in listed)


def test_malformed_config_names_are_400_on_every_config_route(
    client: FlaskClient, tokens: Tokens
) -> None:
    admin = tokens.headers("admin")
    name = "a%0Fb.properties"  # U+000F, a control character
    for method, suffix, body in (
        ("GET", "", None),
        ("PUT", "", {"value": "1"}),
        ("DELETE", "", None),
        ("GET", "/revisions", None),
        ("GET", "/revisions/1", None),
        ("POST", "/rollback", {"revision": 1}),
        ("GET", "/instances", None),
    ):
        response = client.open(
            f"{BASE}/items/{name}{suffix}", method=method, json=body, headers=admin
        )
        _error(response, 400, "U+000F", "control characters")


def test_deeply_nested_json_and_cursors(client: FlaskClient, tokens: Tokens) -> None:
    import base64

    headers = {**tokens.headers("admin"), **JSON}
    deep = "[" * 100_000 + "]" * 100_000
    _error(client.post("/api/v1/apps", data=deep, headers=headers), 400, "nested too deeply")
    nested = '{"name": ' + "[" * 5000 + "]" * 5000 + "}"
    _error(client.post("/api/v1/apps", data=nested, headers=headers), 400)
    cursor = base64.urlsafe_b64encode(b"[" * 1500).decode().rstrip("=")
    _error(client.get(f"/api/v1/apps?cursor={cursor}", headers=headers), 400, "cursor")


def test_page_links_of_names_with_url_characters(client: FlaskClient, tokens: Tokens) -> None:
    admin = tokens.headers("admin")
    name = "q?x#y%z é"
    url = f"{BASE}/items/{quote(name, safe='')}"
    for value in ("1", "2", "3"):
        assert client.put(url, json={"value": value}, headers=admin).status_code in (200, 201)
    first = client.get(f"{url}/revisions?limit=2", headers=admin).get_json()
    assert [rev["revision"] for rev in first["revisions"]] == [3, 2]
    second = client.get(first["next"], headers=admin)
    assert second.status_code == 200, second.text
    assert [rev["revision"] for rev in second.get_json()["revisions"]] == [1]
    one = client.get(first["revisions"][0]["href"], headers=admin)
    assert one.status_code == 200 and one.get_json()["new_value"] == "3"
