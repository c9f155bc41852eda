"""Config pages: create, upload, edit with diff preview, conflicts, history, rollback, zip,
copy with preview, audit, users, tokens, and escaping of everything user-provided."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import sqlalchemy as sa
from flask import Flask

from disconf_web import get_db
from disconf_web.models import AuditEvent, ConfigRevision, Notification

from .conftest import Console, publish

V = "/apps/demo/envs/dev/versions/1_0"
F = V + "/files/a.properties"


def _md5(page: str) -> str:
    match = re.search(r'name="base_md5" value="([0-9a-f]+)"', page)
    assert match, page
    return match.group(1)


def _count(app: Flask, model: Any) -> int:
    with get_db(app).new_session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_create_file_in_editor_and_item(app: Flask, as_role: Any) -> None:
    editor: Console = as_role("editor")
    response = editor.post(
        V + "/files/new", {"name": "db.yaml", "content": "url: x\r\n", "comment": "init"}
    )
    assert response.status_code == 302 and response.location == V
    page = editor.get(V)
    assert "db.yaml" in page.text and "Published file &#39;db.yaml&#39; as revision 1" in page.text
    assert "notification is pending" not in page.text  # flash text differs; just sanity below
    duplicate = editor.post(V + "/files/new", {"name": "db.yaml", "content": "y"})
    assert duplicate.status_code == 409 and "already exists" in duplicate.text
    bad = editor.post(V + "/files/new", {"name": "../etc", "content": "y"})
    assert bad.status_code == 400 and "../etc" in bad.text
    item = editor.post(V + "/items/new", {"name": "timeout", "value": "30"})
    assert item.status_code == 302
    listing = editor.get(V).text
    assert "timeout" in listing and ">30<" in listing
    assert _count(app, Notification) == 2  # each publish queued a ZooKeeper notification
    with get_db(app).new_session() as session:
        value = session.scalar(
            sa.select(ConfigRevision.new_value).where(ConfigRevision.number == 1).limit(1)
        )
        assert value == "url: x\n"  # browsers' CRLF normalised


def test_upload_new_file_and_refusals(app: Flask, as_role: Any) -> None:
    editor: Console = as_role("editor")

    def upload(data: bytes, filename: str, **extra: str) -> Any:
        return editor.post(
            V + "/upload",
            {"file": (io.BytesIO(data), filename), **extra},
            content_type="multipart/form-data",
        )

    assert upload(b"k=v\n", "app.properties", comment="up").status_code == 302
    assert "app.properties" in editor.get(V).text
    latin1 = upload("caf\xe9=1\n".encode("latin-1"), "bad.properties")
    assert latin1.status_code == 400
    assert "not valid UTF-8" in latin1.text and "0xe9" in latin1.text
    app.config["MAX_CONFIG_BYTES"] = limit = 1000  # small: no spooled temp files in the test
    huge = upload(b"x" * (limit + 1), "huge.txt")
    assert huge.status_code == 413 and f"limit of {limit} bytes" in huge.text
    renamed = upload(b"a: 1\n", "local-name.yaml", name="remote.yaml")
    assert renamed.status_code == 302 and "remote.yaml" in editor.get(V).text
    # uploading over an existing file shows the diff first, publishes nothing
    preview = upload(b"k=w\n", "app.properties")
    assert preview.status_code == 200 and "Review your changes" in preview.text
    assert "Publish revision 2" in preview.text
    assert "k=w" in preview.text


def test_edit_preview_publish_and_noop(app: Flask, as_role: Any) -> None:
    publish(app, "a.properties", "a=1\nb=2\n")
    editor: Console = as_role("editor")
    page = editor.get(F)
    md5 = _md5(page.text)
    assert "Review changes" in page.text
    preview = editor.post(F, {"content": "a=1\nb=3\n", "base_md5": md5, "action": "preview"})
    assert preview.status_code == 200
    assert 'class="replace"' in preview.text and "b=3" in preview.text
    assert _count(app, ConfigRevision) == 1  # nothing published by a preview
    same = editor.post(F, {"content": "a=1\nb=2\n", "base_md5": md5, "action": "publish"})
    assert "nothing to publish" in same.text and _count(app, ConfigRevision) == 1
    done = editor.post(
        F, {"content": "a=1\nb=3\n", "base_md5": md5, "action": "publish", "comment": "raise b"}
    )
    assert done.status_code == 302
    assert "as revision 2" in editor.get(V).text
    with get_db(app).new_session() as session:
        rev = session.scalar(sa.select(ConfigRevision).where(ConfigRevision.number == 2))
        assert rev is not None and rev.comment == "raise b" and rev.author == "editor"
        assert rev.old_value == "a=1\nb=2\n"


def test_conflicting_edit_is_shown_never_overwritten(app: Flask, as_role: Any) -> None:
    publish(app, "a.properties", "a=1\n")
    alice: Console = as_role("editor")
    bob: Console = as_role("admin")
    alice_md5 = _md5(alice.get(F).text)
    bob_md5 = _md5(bob.get(F).text)
    assert (
        bob.post(F, {"content": "a=bob\n", "base_md5": bob_md5, "action": "publish"}).status_code
        == 302
    )
    conflict = alice.post(F, {"content": "a=alice\n", "base_md5": alice_md5, "action": "publish"})
    assert conflict.status_code == 409
    assert "someone published since you opened this page" in conflict.text
    assert "a=bob" in conflict.text and "a=alice" in conflict.text
    assert "admin published revision 2" in conflict.text
    with get_db(app).new_session() as session:
        assert session.scalar(sa.select(sa.func.max(ConfigRevision.number))) == 2
    # the conflict page carries the new base: publishing again is a conscious overwrite
    again = alice.post(
        F, {"content": "a=alice\n", "base_md5": _md5(conflict.text), "action": "publish"}
    )
    assert again.status_code == 302


def test_edit_of_a_deleted_config_is_404(app: Flask, as_role: Any) -> None:
    publish(app, "a.properties", "a=1\n")
    editor: Console = as_role("editor")
    md5 = _md5(editor.get(F).text)
    assert editor.post(F + "/delete", {"base_md5": md5, "comment": "gone"}).status_code == 302
    listing = editor.get(V).text
    assert "Deleted file" in listing and f'href="{F}"' not in listing
    response = editor.post(F, {"content": "a=2\n", "base_md5": md5, "action": "publish"})
    assert response.status_code == 404 and "deleted" in response.text


def test_history_diff_and_rollback(app: Flask, as_role: Any) -> None:
    publish(app, "a.properties", "a=1\n")
    publish(app, "a.properties", "a=2\n")
    publish(app, "a.properties", "a=3\n")
    editor: Console = as_role("editor")
    history = editor.get(F + "/history")
    assert history.status_code == 200
    assert history.text.count("Roll back to") == 2  # not to the current revision
    diff = editor.get(F + "/history?a=1&b=3")
    assert "a=1" in diff.text and "a=3" in diff.text and 'class="replace"' in diff.text
    assert editor.get(F + "/history?a=1&b=9").status_code == 404
    notifications = _count(app, Notification)
    md5 = _md5(history.text)
    rolled = editor.post(F + "/rollback", {"revision": "1", "base_md5": md5})
    assert rolled.status_code == 302
    page = editor.get(rolled.location)
    assert "rolled back to revision 1" in page.text
    assert _count(app, Notification) == notifications + 1  # clients are notified
    with get_db(app).new_session() as session:
        rev = session.scalar(sa.select(ConfigRevision).where(ConfigRevision.number == 4))
        assert rev is not None and rev.action == "rollback" and rev.new_value == "a=1\n"
    stale = editor.post(F + "/rollback", {"revision": "2", "base_md5": md5})  # md5 moved on
    assert "was changed since you opened this page" in editor.get(stale.location).text
    assert editor.post(F + "/rollback", {"revision": "x"}).status_code == 400


def test_zip_download_holds_every_file(app: Flask, as_role: Any) -> None:
    publish(app, "a.properties", "a=1\n")
    publish(app, "b.yaml", "b: 2\n")
    publish(app, "item1", "v", kind="item")
    response = as_role("viewer").get(V + "/download.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "demo-dev-1_0.zip" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert sorted(archive.namelist()) == ["a.properties", "b.yaml"]
    assert archive.read("b.yaml") == b"b: 2\n"


def test_copy_preview_and_apply(app: Flask, as_role: Any) -> None:
    publish(app, "same.txt", "s")
    publish(app, "changed.txt", "new")
    publish(app, "added.txt", "a")
    publish(app, "same.txt", "s", version="2_0")
    publish(app, "changed.txt", "old", version="2_0")
    publish(app, "extra.txt", "e", version="2_0")
    editor: Console = as_role("editor")
    query = "from_env=dev&from_version=1_0&to_env=dev&to_version=2_0"
    preview = editor.get("/apps/demo/copy?" + query)
    text = preview.text
    for label in ("1 added", "1 changed", "1 unchanged", "1 only in target"):
        assert label in text, label
    assert "-old" in text and "+new" in text
    fingerprint = re.search(r'name="fingerprint" value="([0-9a-f]+)"', text)
    assert fingerprint is not None
    form = {
        "from_env": "dev",
        "from_version": "1_0",
        "to_env": "dev",
        "to_version": "2_0",
        "fingerprint": fingerprint.group(1),
        "comment": "promote",
    }
    publish(app, "added.txt", "a2")  # the source changed after the preview
    stale = editor.post("/apps/demo/copy", form)
    assert stale.status_code == 409 and "changed since your preview" in stale.text
    fresh = re.search(r'name="fingerprint" value="([0-9a-f]+)"', stale.text)
    assert fresh is not None
    done = editor.post(
        "/apps/demo/copy", {**form, "fingerprint": fresh.group(1), "delete_removed": "1"}
    )
    assert done.status_code == 302 and done.location == "/apps/demo/envs/dev/versions/2_0"
    target = editor.get(done.location).text
    assert "added.txt" in target and "/files/extra.txt" not in target
    again = editor.get("/apps/demo/copy?" + query).text
    assert "Nothing to copy" in again
    assert as_role("viewer").post("/apps/demo/copy", form).status_code == 403
    same = editor.get("/apps/demo/copy?from_env=dev&from_version=1_0&to_env=dev&to_version=1_0")
    assert same.status_code == 400 and "choose another env or version" in same.text


def _without_csrf(page: str) -> str:
    """The page without its CSRF tokens (random text that may contain any short string)."""
    return re.sub(r'name="csrf[-_]token" (content|value)="[^"]*"', "", page)


def test_audit_page_filters(app: Flask, as_role: Any) -> None:
    admin: Console = as_role("admin")
    editor: Console = as_role("editor")
    editor.post(V + "/items/new", {"name": "k", "value": "v"})
    admin.post("/apps/other/envs/dev/versions/1/items/new", {"name": "k2", "value": "v"})
    everything = admin.get("/audit").text
    assert "login.success" in everything and "config.create" in everything
    by_app = admin.get("/audit?app=other").text
    assert "k2" in by_app and "demo/dev/1_0" not in by_app
    by_user = _without_csrf(admin.get("/audit?user=editor").text)
    assert "config.create" in by_user and "k2" not in by_user
    # an editor sees the events of their apps only
    mine = _without_csrf(editor.get("/audit").text)
    assert "demo" in mine and "k2" not in mine


def test_users_page_creates_disables_and_grants(app: Flask, as_role: Any) -> None:
    admin: Console = as_role("admin")
    created = admin.post(
        "/users", {"name": "carol", "password": "password-2", "role": "viewer", "apps": ["demo"]}
    )
    assert created.status_code == 302
    assert "carol" in admin.get("/users").text
    dup = admin.post("/users", {"name": "carol", "password": "password-2", "role": "viewer"})
    assert dup.status_code == 409 and "already exists" in dup.text
    bad = admin.post("/users", {"name": "dave", "password": "password-2", "role": "root"})
    assert bad.status_code == 400 and "invalid role &#39;root&#39;" in bad.text
    assert Console(app).login("carol", "password-2").status_code == 302
    saved = admin.post("/users/carol", {"role": "editor", "active": "1", "apps": ["other"]})
    assert saved.status_code == 302
    page = admin.get("/users/carol").text
    assert 'value="other" checked' in page and 'value="demo" checked' not in page
    with get_db(app).new_session() as session:
        actions = set(
            session.scalars(sa.select(AuditEvent.action).where(AuditEvent.target == "carol"))
        )
    assert {"user.create", "user.role", "grant.create", "grant.revoke"} <= actions
    selfdemote = admin.post("/users/admin", {"role": "viewer", "active": "1"})
    assert selfdemote.status_code == 400 and "yourself" in selfdemote.text
    reset = admin.post("/users/carol", {"role": "editor", "active": "1", "password": "password-3"})
    assert reset.status_code == 302
    assert Console(app).login("carol", "password-3").status_code == 302
    short = admin.post("/users/carol", {"role": "editor", "active": "1", "password": "x"})
    assert short.status_code == 400


def test_tokens_created_once_and_revoked(app: Flask, as_role: Any) -> None:
    editor: Console = as_role("editor")
    created = editor.post("/tokens", {"name": "ci"})
    assert created.status_code == 201
    secret = re.search(r'value="(dsk_[^"]+)"', created.text)
    assert secret is not None
    listing = editor.get("/tokens").text
    assert secret.group(1) not in listing and "ci" in listing  # shown once
    api = app.test_client().get(
        "/api/v1/apps", headers={"Authorization": f"Bearer {secret.group(1)}"}
    )
    assert api.status_code == 200
    token_id = re.search(r"/tokens/(\d+)/revoke", listing)
    assert token_id is not None
    # someone else cannot revoke it
    assert as_role("viewer").post(f"/tokens/{token_id.group(1)}/revoke").status_code == 404
    assert editor.post(f"/tokens/{token_id.group(1)}/revoke").status_code == 302
    api = app.test_client().get(
        "/api/v1/apps", headers={"Authorization": f"Bearer {secret.group(1)}"}
    )
    assert api.status_code == 401


def test_apps_and_envs_pages(app: Flask, as_role: Any) -> None:
    admin: Console = as_role("admin")
    assert admin.post("/envs", {"name": "qa"}).status_code == 302
    assert ">qa<" in admin.get("/envs").text
    dup = admin.post("/envs", {"name": "qa"})
    assert dup.status_code == 409
    created = admin.post("/apps", {"name": "billing", "description": "money"})
    assert created.location == "/apps/billing"
    page = admin.get("/apps/billing").text
    assert "money" in page and "qa" in page
    opened = admin.get("/apps/billing/open?env=qa&version=2_1")
    assert opened.location == "/apps/billing/envs/qa/versions/2_1"
    assert "No configs in billing" in admin.get(opened.location).text
    assert admin.post("/apps", {"name": "bad name"}).status_code == 400


XSS = "<script>alert(1)</script>"


def test_user_provided_text_is_escaped(app: Flask, as_role: Any) -> None:
    admin: Console = as_role("admin")
    admin.post("/apps", {"name": "xss", "description": XSS})
    admin.post(
        "/apps/xss/envs/dev/versions/1/items/new", {"name": "k", "value": XSS, "comment": XSS}
    )
    admin.post(
        "/apps/xss/envs/dev/versions/1/files/new",
        {"name": "f.txt", "content": XSS + "\n", "comment": XSS},
    )
    admin.post("/tokens", {"name": XSS})
    pages = [
        "/apps",
        "/apps/xss",
        "/apps/xss/envs/dev/versions/1",
        "/apps/xss/envs/dev/versions/1/items/k",
        "/apps/xss/envs/dev/versions/1/items/k/history",
        "/apps/xss/envs/dev/versions/1/files/f.txt/history",
        "/audit",
        "/tokens",
        "/apps/xss/copy?from_env=dev&from_version=1&to_env=prod&to_version=1",
    ]
    for url in pages:
        response = admin.get(url)
        assert response.status_code == 200, url
        assert XSS not in response.text, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in admin.get("/apps").text
    md5 = _md5(admin.get("/apps/xss/envs/dev/versions/1/files/f.txt").text)
    preview = admin.post(
        "/apps/xss/envs/dev/versions/1/files/f.txt",
        {"content": XSS + XSS, "base_md5": md5, "action": "preview", "comment": XSS},
    )
    assert XSS not in preview.text and "&lt;script&gt;" in preview.text
    login = Console(app).login(XSS, "whatever-pass")
    assert XSS not in login.text
    error = admin.get("/apps/" + "%3Cscript%3E")
    assert "<script>" not in error.text
