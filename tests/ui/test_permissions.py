"""Every route x every role: refused actions answer 403 (404 for unknown things), in the pages
and in the admin API (with the session cookie too), not merely hidden."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from .conftest import ROLES, Console, publish

V = "/apps/demo/envs/dev/versions/1_0"
F = V + "/files/a.properties"

# (method, url, form, {role: expected status}); 302 = done (redirect), 200 = page.
READ = {"admin": 200, "editor": 200, "viewer": 200, "outsider": 403}
WRITE = {"admin": 302, "editor": 302, "viewer": 403, "outsider": 403}
ADMIN_ONLY_GET = {"admin": 200, "editor": 403, "viewer": 403, "outsider": 403}
EVERYONE = dict.fromkeys(ROLES, 200)

CASES: list[tuple[str, str, dict[str, Any], dict[str, int]]] = [
    ("GET", "/apps", {}, EVERYONE),
    ("GET", "/envs", {}, EVERYONE),
    ("GET", "/audit", {}, EVERYONE),
    ("GET", "/tokens", {}, EVERYONE),
    ("GET", "/password", {}, EVERYONE),
    ("GET", "/users", {}, ADMIN_ONLY_GET),
    ("GET", "/users/viewer", {}, ADMIN_ONLY_GET),
    (
        "POST",
        "/users",
        {"name": "new1", "password": "password-9", "role": "viewer"},
        {"admin": 302, "editor": 403, "viewer": 403, "outsider": 403},
    ),
    (
        "POST",
        "/users/viewer",
        {"role": "viewer", "active": "1"},
        {"admin": 302, "editor": 403, "viewer": 403, "outsider": 403},
    ),
    (
        "POST",
        "/envs",
        {"name": "qa"},
        {"admin": 302, "editor": 403, "viewer": 403, "outsider": 403},
    ),
    (
        "POST",
        "/apps",
        {"name": "fresh"},
        {"admin": 302, "editor": 302, "viewer": 403, "outsider": 302},
    ),
    ("GET", "/apps/demo", {}, READ),
    ("GET", V, {}, READ),
    ("GET", V + "/download.zip", {}, READ),
    ("GET", F, {}, READ),
    ("GET", F + "/raw", {}, READ),
    ("GET", F + "/history", {}, READ),
    ("GET", "/apps/demo/copy", {}, READ),
    ("GET", "/apps/demo/copy?from_env=dev&from_version=1_0&to_env=prod&to_version=1_0", {}, READ),
    ("GET", V + "/files/new", {}, {"admin": 200, "editor": 200, "viewer": 403, "outsider": 403}),
    ("GET", V + "/items/new", {}, {"admin": 200, "editor": 200, "viewer": 403, "outsider": 403}),
    ("POST", V + "/files/new", {"name": "n.txt", "content": "x"}, WRITE),
    ("POST", V + "/items/new", {"name": "k", "value": "v"}, WRITE),
    ("POST", F, {"content": "a=2\n", "base_md5": "MD5", "action": "publish"}, WRITE),
    ("POST", F + "/rollback", {"revision": "1", "base_md5": "MD5"}, WRITE),
    ("POST", F + "/delete", {"base_md5": "MD5"}, WRITE),
]


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(app: Flask, as_role: Any, role: str) -> None:
    client: Console = as_role(role)
    for method, url, form, expected in CASES:
        publish(app, "a.properties", "a=1\n")  # the state each case expects
        if "MD5" in form.values():
            page = as_role("admin").get(F)
            import re

            md5 = re.search(r'name="base_md5" value="([0-9a-f]+)"', page.text)
            assert md5 is not None
            form = {k: (md5.group(1) if v == "MD5" else v) for k, v in form.items()}
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, form)
        assert response.status_code == expected[role], (role, method, url, response.text[:500])
        if expected[role] == 403:
            assert "Not allowed" in response.text


def test_viewer_sees_no_write_buttons(app: Flask, as_role: Any) -> None:
    publish(app, "a.properties", "a=1\n")
    viewer = as_role("viewer")
    page = viewer.get(V).text
    assert "New file" not in page and "Upload a file" not in page
    editor_page = viewer.get(F).text
    assert "Review changes" not in editor_page and "Read-only" in editor_page
    assert "Roll back to" not in viewer.get(F + "/history").text
    assert "New app" not in viewer.get("/apps").text
    editor = as_role("editor")
    assert "New file" in editor.get(V).text
    assert "Users" not in editor.get("/apps").text.split("<main>")[0]


def test_app_list_shows_only_granted_apps(as_role: Any) -> None:
    assert "other" not in as_role("editor").get("/apps").text
    assert ">other<" in as_role("admin").get("/apps").text
    assert "No apps yet" in as_role("outsider").get("/apps").text


def test_outsider_creating_an_app_is_granted_it(as_role: Any) -> None:
    outsider = as_role("outsider")
    assert outsider.post("/apps", {"name": "mine"}).location == "/apps/mine"
    assert outsider.get("/apps/mine").status_code == 200
    created = outsider.post("/apps/mine/envs/dev/versions/1/items/new", {"name": "k", "value": "1"})
    assert created.status_code == 302


def test_unknown_things_are_404(as_role: Any) -> None:
    admin = as_role("admin")
    assert admin.get("/apps/nope").status_code == 404
    assert admin.get("/apps/demo/envs/nope/versions/1").status_code == 404
    assert admin.get(V + "/files/missing.txt").status_code == 404
    assert admin.get("/users/nobody").status_code == 404
    assert admin.get("/apps/demo/envs/dev/versions/bad%20version").status_code == 400


def test_admin_api_refuses_the_same_with_bearer_tokens_and_session(
    app: Flask, as_role: Any
) -> None:
    from disconf_web import get_db, services

    with get_db(app).new_session() as session:
        tokens = {n: services.create_token(session, user=n, actor="t").secret for n in ROLES}
    client = app.test_client()
    url = "/api/v1/apps/demo/envs/dev/versions/1_0/items/k"
    for role, status in (("viewer", 403), ("outsider", 403), ("editor", 201)):
        response = client.put(url, json={"value": role},
                              headers={"Authorization": f"Bearer {tokens[role]}"})  # fmt: skip
        assert response.status_code == status, (role, response.text)
    # the console's session cookie on the admin API: same checks, plus the CSRF header
    viewer = as_role("viewer")
    refused = viewer.client.put(url, json={"value": "x"}, headers={"X-CSRF-Token": viewer.token()})
    assert refused.status_code == 403 and "viewer" in refused.get_json()["error"]
    editor = as_role("editor")
    no_header = editor.client.put(url, json={"value": "y"})
    assert no_header.status_code == 403
    with_header = editor.client.put(
        url, json={"value": "y"}, headers={"X-CSRF-Token": editor.token()}
    )
    assert with_header.status_code == 200
    assert editor.client.get("/api/v1/apps").status_code == 200  # reads need no header
