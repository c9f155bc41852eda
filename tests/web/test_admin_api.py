"""The admin API: CRUD, auth and roles, If-Match, refusals that store nothing, revisions,
rollback (on SQLite and MySQL)."""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from disconf_core import quoted_etag
from disconf_web import get_db
from disconf_web.models import ConfigRevision, Notification

from .conftest import Tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"


def counts(app: Flask) -> tuple[int, int]:
    with get_db(app).new_session() as session:
        revisions = session.scalar(sa.select(sa.func.count()).select_from(ConfigRevision))
        notifications = session.scalar(sa.select(sa.func.count()).select_from(Notification))
    return int(revisions or 0), int(notifications or 0)


def test_apps_and_envs(client: FlaskClient, tokens: Tokens) -> None:
    admin = tokens.headers("admin")
    created = client.post("/api/v1/apps", json={"name": "shop", "description": "d"}, headers=admin)
    assert created.status_code == 201
    assert created.get_json()["name"] == "shop"
    duplicate = client.post("/api/v1/apps", json={"name": "shop"}, headers=admin)
    assert duplicate.status_code == 409
    assert duplicate.get_json() == {"error": "app 'shop' already exists"}
    names = [app["name"] for app in client.get("/api/v1/apps", headers=admin).get_json()["apps"]]
    assert names == ["demo", "shop"]
    assert client.post("/api/v1/envs", json={"name": "prod"}, headers=admin).status_code == 201
    envs = client.get("/api/v1/envs", headers=admin).get_json()["envs"]
    assert [env["name"] for env in envs] == ["dev", "prod"]
    assert client.post("/api/v1/envs", json={"name": "prod"}, headers=admin).status_code == 409


def test_bad_names_refused(client: FlaskClient, tokens: Tokens, app: Flask) -> None:
    admin = tokens.headers("admin")
    bad = client.post("/api/v1/apps", json={"name": "a b"}, headers=admin)
    assert bad.status_code == 400
    assert "'a b'" in bad.get_json()["error"]
    assert client.post("/api/v1/envs", json={"name": ".."}, headers=admin).status_code == 400
    version = client.put(
        "/api/v1/apps/demo/envs/dev/versions/1 0/items/k", json={"value": "v"}, headers=admin
    )
    assert version.status_code == 400
    assert "version name '1 0'" in version.get_json()["error"]
    control = client.put(f"{BASE}/items/a%01b", json={"value": "v"}, headers=admin)
    assert control.status_code == 400
    assert "control characters" in control.get_json()["error"]
    assert counts(app) == (0, 0)


def test_missing_fields_and_wrong_media_type(client: FlaskClient, tokens: Tokens) -> None:
    admin = tokens.headers("admin")
    assert client.post("/api/v1/apps", json={}, headers=admin).get_json() == {
        "error": "missing field 'name'"
    }
    form = client.post("/api/v1/apps", data={"name": "x"}, headers=admin)
    assert form.status_code == 415
    item = client.put(f"{BASE}/items/k", data="0.5", headers=admin)
    assert item.status_code == 415
    number = client.put(f"{BASE}/items/k", json={"value": 0.5}, headers=admin)
    assert number.status_code == 400
    assert "must be a JSON string" in number.get_json()["error"]
    # Issue 10: a multipart upload (curl -F file=@a.txt) is accepted as the file's content.
    upload = {"file": (io.BytesIO(b"x"), "a.txt")}
    multipart = client.put(f"{BASE}/files/a.txt", data=upload, headers=admin)
    assert multipart.status_code == 201
    assert client.get(f"{BASE}/files/a.txt", headers=admin).data == b"x"
    unknown = client.get("/api/v1/nothing", headers=admin)
    assert unknown.status_code == 404 and "no such endpoint" in unknown.get_json()["error"]


def test_auth_401(client: FlaskClient, tokens: Tokens) -> None:
    missing = client.get("/api/v1/apps")
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.get_json()["error"]
    wrong = client.get("/api/v1/apps", headers={"Authorization": "Bearer dsk_nope"})
    assert wrong.status_code == 401
    assert wrong.get_json() == {"error": "invalid, revoked or unknown API token"}
    basic = client.get("/api/v1/apps", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401


def test_roles_and_grants(client: FlaskClient, tokens: Tokens) -> None:
    item = f"{BASE}/items/rate"
    # editor: granted demo -> may write; viewer: read-only; outsider: no grant.
    assert (
        client.put(item, json={"value": "1"}, headers=tokens.headers("editor")).status_code == 201
    )
    viewer_write = client.put(item, json={"value": "2"}, headers=tokens.headers("viewer"))
    assert viewer_write.status_code == 403
    assert "viewer" in viewer_write.get_json()["error"]
    assert client.get(item, headers=tokens.headers("viewer")).status_code == 200
    outsider = client.get(item, headers=tokens.headers("outsider"))
    assert outsider.status_code == 403
    assert outsider.get_json() == {"error": "user 'outsider' has no access to app 'demo'"}
    # the outsider sees no apps; creating one grants it to them.
    assert client.get("/api/v1/apps", headers=tokens.headers("outsider")).get_json()["apps"] == []
    own = client.post("/api/v1/apps", json={"name": "own"}, headers=tokens.headers("outsider"))
    assert own.status_code == 201
    apps = client.get("/api/v1/apps", headers=tokens.headers("outsider")).get_json()["apps"]
    assert [app["name"] for app in apps] == ["own"]
    # only admins create envs and users; viewers cannot create apps.
    for role in ("editor", "viewer"):
        env = client.post("/api/v1/envs", json={"name": "x"}, headers=tokens.headers(role))
        assert env.status_code == 403
        user = client.post(
            "/api/v1/users",
            json={"name": "u", "password": "password-1", "role": "viewer"},
            headers=tokens.headers(role),
        )
        assert user.status_code == 403
    viewer_app = client.post("/api/v1/apps", json={"name": "v"}, headers=tokens.headers("viewer"))
    assert viewer_app.status_code == 403
    # admins grant apps.
    granted = client.put("/api/v1/users/outsider/apps/demo", headers=tokens.headers("admin"))
    assert granted.status_code == 200
    assert client.get(item, headers=tokens.headers("outsider")).status_code == 200


def test_users_and_tokens(client: FlaskClient, tokens: Tokens) -> None:
    admin = tokens.headers("admin")
    created = client.post(
        "/api/v1/users",
        json={"name": "carol", "password": "password-1", "role": "editor", "apps": ["demo"]},
        headers=admin,
    )
    assert created.status_code == 201
    assert created.get_json()["apps"] == ["demo"]
    short = client.post(
        "/api/v1/users", json={"name": "dave", "password": "x", "role": "viewer"}, headers=admin
    )
    assert short.status_code == 400
    role = client.post(
        "/api/v1/users", json={"name": "dave", "password": "password-1", "role": "god"},
        headers=admin,
    )  # fmt: skip
    assert role.status_code == 400 and "'god'" in role.get_json()["error"]
    users = client.get("/api/v1/users", headers=admin).get_json()["users"]
    assert "carol" in [user["name"] for user in users]
    new = client.post("/api/v1/tokens", json={"name": "ci"}, headers=admin)
    assert new.status_code == 201
    secret = new.get_json()["token"]
    assert secret.startswith("dsk_")
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/apps", headers=headers).status_code == 200
    listed = client.get("/api/v1/tokens", headers=admin).get_json()["tokens"]
    assert all("token" not in row for row in listed)
    revoked = client.delete(f"/api/v1/tokens/{new.get_json()['id']}", headers=admin)
    assert revoked.status_code == 200
    assert client.get("/api/v1/apps", headers=headers).status_code == 401


def test_file_crud_and_etag(client: FlaskClient, tokens: Tokens, app: Flask) -> None:
    admin = tokens.headers("admin")
    url = f"{BASE}/files/app.properties"
    created = client.put(url, data=b"a=1\n", headers=admin)
    assert created.status_code == 201
    body = created.get_json()
    assert body["revision"] == 1 and body["type"] == "file" and body["changed"] is True
    assert body["notification"] == "pending"  # ZooKeeper disabled in this fixture
    assert created.headers["ETag"] == quoted_etag(b"a=1\n")
    same = client.put(url, data=b"a=1\n", headers=admin)
    assert same.status_code == 200 and same.get_json()["changed"] is False
    assert same.get_json()["notification"] == "none"
    assert counts(app) == (1, 1)
    got = client.get(url, headers=admin)
    assert got.data == b"a=1\n" and got.headers["ETag"] == created.headers["ETag"]
    assert got.headers["X-Disconf-Revision"] == "1"
    not_modified = client.get(url, headers={**admin, "If-None-Match": created.headers["ETag"]})
    assert not_modified.status_code == 304
    listing = client.get(f"{BASE}/configs", headers=admin).get_json()["configs"]
    assert [(row["name"], row["revision"]) for row in listing] == [("app.properties", 1)]
    versions = client.get("/api/v1/apps/demo/envs/dev/versions", headers=admin).get_json()
    assert versions["versions"] == ["1_0_0"]
    deleted = client.delete(url, headers=admin)
    assert deleted.status_code == 200 and deleted.get_json()["deleted"] is True
    assert client.get(url, headers=admin).status_code == 404
    assert client.delete(url, headers=admin).status_code == 404
    revived = client.put(url, data=b"a=2\n", headers=admin)
    assert revived.status_code == 200 and revived.get_json()["revision"] == 3
    history = client.get(f"{url}/revisions", headers=admin).get_json()["revisions"]
    assert [(rev["revision"], rev["action"]) for rev in history] == [
        (3, "update"),
        (2, "delete"),
        (1, "create"),
    ]
    assert history[0]["old_value"] is None and history[0]["new_value"] == "a=2\n"
    assert history[1]["old_value"] == "a=1\n" and history[1]["new_value"] is None


def test_stale_if_match_is_412_and_changes_nothing(
    client: FlaskClient, tokens: Tokens, app: Flask
) -> None:
    admin = tokens.headers("admin")
    url = f"{BASE}/items/rate"
    first = client.put(url, json={"value": "1"}, headers=admin)
    etag = first.headers["ETag"]
    second = client.put(url, json={"value": "2"}, headers={**admin, "If-Match": etag})
    assert second.status_code == 200
    before = counts(app)
    stale = client.put(url, json={"value": "3"}, headers={**admin, "If-Match": etag})
    assert stale.status_code == 412
    assert "has changed" in stale.get_json()["error"]
    assert counts(app) == before
    assert client.get(url, headers=admin).get_json()["value"] == "2"
    stale_delete = client.delete(url, headers={**admin, "If-Match": etag})
    assert stale_delete.status_code == 412
    stale_rollback = client.post(
        f"{url}/rollback", json={"revision": 1}, headers={**admin, "If-Match": etag}
    )
    assert stale_rollback.status_code == 412
    assert counts(app) == before
    new_item = client.put(
        f"{BASE}/items/fresh", json={"value": "x"}, headers={**admin, "If-Match": etag}
    )
    assert new_item.status_code == 412
    star = client.put(url, json={"value": "4"}, headers={**admin, "If-Match": "*"})
    assert star.status_code == 200


def test_oversize_and_non_utf8_store_nothing(client: FlaskClient, tokens: Tokens) -> None:
    app = client.application
    app.config["MAX_CONFIG_BYTES"] = 1000
    admin = tokens.headers("admin")
    big = client.put(f"{BASE}/files/big.txt", data=b"x" * 1001, headers=admin)
    assert big.status_code == 413
    assert "1001 bytes" in big.get_json()["error"] and "1000" in big.get_json()["error"]
    big_item = client.put(f"{BASE}/items/big", json={"value": "é" * 501}, headers=admin)
    assert big_item.status_code == 413
    latin1 = client.put(f"{BASE}/files/latin1.properties", data="name=é".encode("latin-1"),
                        headers=admin)  # fmt: skip
    assert latin1.status_code == 400
    error = latin1.get_json()["error"]
    assert "'latin1.properties'" in error and "UTF-8" in error
    assert counts(app) == (0, 0)
    assert client.get(f"{BASE}/configs", headers=admin).get_json()["configs"] == []


def test_large_file_round_trip(client: FlaskClient, tokens: Tokens) -> None:
    """A 1 MiB file fits (MySQL needs LONGTEXT for this)."""
    admin = tokens.headers("admin")
    content = ("k=" + "v" * 1000 + "\n").encode() * 1040
    assert len(content) <= 1024 * 1024
    assert (
        client.put(f"{BASE}/files/big.properties", data=content, headers=admin).status_code == 201
    )
    answer = client.get("/api/config/file?app=demo&env=dev&version=1_0_0&key=big.properties")
    assert answer.data == content


def test_rollback(client: FlaskClient, tokens: Tokens) -> None:
    admin = tokens.headers("admin")
    url = f"{BASE}/items/rate"
    for value in ("1", "2", "3"):
        client.put(url, json={"value": value}, headers=admin)
    rolled = client.post(f"{url}/rollback", json={"revision": 1, "comment": "oops"}, headers=admin)
    assert rolled.status_code == 200
    assert rolled.get_json()["value"] == "1" and rolled.get_json()["revision"] == 4
    history = client.get(f"{url}/revisions", headers=admin).get_json()["revisions"]
    assert history[0]["action"] == "rollback" and history[0]["comment"] == "oops"
    assert history[0]["old_value"] == "3"
    missing = client.post(f"{url}/rollback", json={"revision": 99}, headers=admin)
    assert missing.status_code == 404 and "no revision 99" in missing.get_json()["error"]
    bad = client.post(f"{url}/rollback", json={"revision": "1"}, headers=admin)
    assert bad.status_code == 400
    client.delete(url, headers=admin)
    to_delete = client.post(f"{url}/rollback", json={"revision": 5}, headers=admin)
    assert to_delete.status_code == 400 and "is a delete" in to_delete.get_json()["error"]
    revive = client.post(f"{url}/rollback", json={"revision": 2}, headers=admin)
    assert revive.status_code == 200 and revive.get_json()["value"] == "2"


def test_unknown_app_env_config(client: FlaskClient, tokens: Tokens) -> None:
    admin = tokens.headers("admin")
    nope = client.put(
        "/api/v1/apps/nope/envs/dev/versions/1/items/k", json={"value": "v"}, headers=admin
    )
    assert nope.status_code == 404 and nope.get_json() == {"error": "app 'nope' does not exist"}
    env = client.put(
        "/api/v1/apps/demo/envs/prod/versions/1/items/k", json={"value": "v"}, headers=admin
    )
    assert env.status_code == 404 and env.get_json() == {"error": "env 'prod' does not exist"}
    missing = client.get(f"{BASE}/files/none.txt", headers=admin)
    assert missing.status_code == 404
    assert missing.get_json() == {"error": "file 'none.txt' does not exist in demo/dev/1_0_0"}
