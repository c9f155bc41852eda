"""Sessions end on the server, the API's CSRF check follows what authenticated the request,
tokens created through a token die with it, login costs the same for unknown users, and
downloads carry any file name (issue 9, section 6)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from disconf_web import get_db, services
from disconf_web.models import ApiToken, ConsoleSession, User
from disconf_web.services import accounts

from .conftest import PASSWORD, Console, publish

ITEM_URL = "/api/v1/apps/demo/envs/dev/versions/1_0/items/k"


def _sessions(app: Flask) -> int:
    with get_db(app).new_session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(ConsoleSession)) or 0)


def test_logout_ends_the_session_for_a_copied_cookie(app: Flask, as_role: Any) -> None:
    editor = as_role("editor")
    assert _sessions(app) == 1
    cookie = editor.client.get_cookie("disconf_session")
    assert cookie is not None
    csrf = editor.token()
    thief = Console(app)
    thief.client.set_cookie("disconf_session", cookie.value)
    assert thief.get("/apps").status_code == 200  # the copy works while the session lives

    assert editor.post("/logout").status_code == 302
    assert _sessions(app) == 0
    assert thief.get("/apps").status_code == 302  # the copied cookie is over
    # ... and so is its CSRF token, on the console and on the API
    thief.client.set_cookie("disconf_session", cookie.value)
    api = thief.client.put(ITEM_URL, json={"value": "x"}, headers={"X-CSRF-Token": csrf})
    assert api.status_code == 401
    thief.client.set_cookie("disconf_session", cookie.value)
    form = thief.client.post("/apps", data={"name": "stolen", "csrf_token": csrf})
    assert form.status_code in (302, 400) and "stolen" not in thief.get("/apps").text


def test_other_sessions_survive_one_logout(app: Flask, as_role: Any) -> None:
    first, second = as_role("editor"), as_role("editor")
    assert first.post("/logout").status_code == 302
    assert first.get("/apps").status_code == 302
    assert second.get("/apps").status_code == 200


def test_signing_in_again_replaces_the_session_row(app: Flask, console: Console) -> None:
    assert console.login("editor").status_code == 302
    again = console.client.post(
        "/login", data={"username": "editor", "password": PASSWORD, "csrf_token": console.token()}
    )
    assert again.status_code == 302
    assert _sessions(app) == 1
    assert console.get("/apps").status_code == 200


def test_api_csrf_follows_the_session_even_with_an_unrelated_authorization_header(
    app: Flask, as_role: Any
) -> None:
    editor = as_role("editor")
    for header in ("Basic YTpi", "Bearer dsk_not-a-token", "Token whatever"):
        refused = editor.client.put(
            ITEM_URL, json={"value": "x"}, headers={"Authorization": header}
        )
        assert refused.status_code == 403, header
        assert "X-CSRF-Token" in refused.get_json()["error"]
    allowed = editor.client.put(
        ITEM_URL,
        json={"value": "x"},
        headers={"Authorization": "Basic YTpi", "X-CSRF-Token": editor.token()},
    )
    assert allowed.status_code == 201, allowed.text


def test_bearer_token_alone_needs_no_csrf(app: Flask) -> None:
    with get_db(app).new_session() as session:
        secret = services.create_token(session, user="editor", actor="t").secret
    response = app.test_client().put(
        ITEM_URL, json={"value": "x"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 201


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_tokens_created_through_a_token_are_revoked_with_it(app: Flask) -> None:
    client = app.test_client()
    with get_db(app).new_session() as session:
        root = services.create_token(session, user="editor", actor="t", name="root").secret
        other = services.create_token(session, user="editor", actor="t", name="other").secret
    child = client.post("/api/v1/tokens", json={"name": "child"}, headers=_bearer(root))
    assert child.status_code == 201
    grandchild = client.post(
        "/api/v1/tokens", json={"name": "grandchild"}, headers=_bearer(child.get_json()["token"])
    )
    assert grandchild.status_code == 201
    assert grandchild.get_json()["created_by_token_id"] == child.get_json()["id"]
    root_id = child.get_json()["created_by_token_id"]
    assert root_id is not None

    revoked = client.delete(f"/api/v1/tokens/{root_id}", headers=_bearer(other))
    assert revoked.status_code == 200
    for secret in (root, child.get_json()["token"], grandchild.get_json()["token"]):
        assert client.get("/api/v1/apps", headers=_bearer(secret)).status_code == 401
    assert client.get("/api/v1/apps", headers=_bearer(other)).status_code == 200  # no parent
    with get_db(app).new_session() as session:
        states = dict(session.execute(sa.select(ApiToken.name, ApiToken.revoked_at)).all())
    assert states["other"] is None and states["child"] is not None


def test_tokens_created_from_a_console_session_have_no_parent(app: Flask, as_role: Any) -> None:
    editor = as_role("editor")
    made = editor.client.post(
        "/api/v1/tokens", json={"name": "from-console"}, headers={"X-CSRF-Token": editor.token()}
    )
    assert made.status_code == 201 and made.get_json()["created_by_token_id"] is None


class _SpyHasher:
    """Counts the argon2 verifications of a real PasswordHasher."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.verified: list[str] = []

    def verify(self, stored: str, password: str) -> bool:
        self.verified.append(stored)
        return bool(self.real.verify(stored, password))

    def hash(self, password: str) -> str:
        return str(self.real.hash(password))

    def check_needs_rehash(self, stored: str) -> bool:
        return bool(self.real.check_needs_rehash(stored))


def test_login_verifies_a_hash_for_unknown_and_disabled_users_too(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _SpyHasher(accounts._hasher)
    monkeypatch.setattr(accounts, "_hasher", spy)
    with get_db(app).new_session() as session:
        assert services.authenticate(session, "editor", "wrong-password") is None
        assert services.authenticate(session, "nobody-here", "wrong-password") is None
        user = session.scalar(sa.select(User).where(User.name == "viewer"))
        assert user is not None
        user.active = False
        session.commit()
        assert services.authenticate(session, "viewer", PASSWORD) is None  # disabled
        assert services.authenticate(session, "editor", PASSWORD) is not None
    # one argon2 verification each, whether the user exists, is disabled or not
    assert len(spy.verified) == 4
    assert spy.verified[1].startswith("$argon2") and spy.verified[1] != spy.verified[0]
    assert spy.verified[2] == spy.verified[1]  # the disabled user's real hash is not used


def test_download_of_a_non_latin1_file_name(app: Flask, as_role: Any) -> None:
    publish(app, "配置-é.properties", "a=1\n")
    admin = as_role("admin")
    url = "/apps/demo/envs/dev/versions/1_0/files/%E9%85%8D%E7%BD%AE-%C3%A9.properties/raw"
    response = admin.get(url)
    assert response.status_code == 200, response.text
    disposition = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''%E9%85%8D%E7%BD%AE-%C3%A9.properties" in disposition
    assert disposition.isascii()
    assert response.data == b"a=1\n"


def test_over_long_user_names_at_login_never_fail(database_url: str) -> None:
    """The login form stores the name it was given (attempts, audit): on MySQL's bounded
    columns an over-long name must be refused like any wrong login, up to the rate limit."""
    from disconf_web import shutdown_app
    from disconf_web.services import console as ops

    from .conftest import make_app, seed

    app = make_app(database_url)
    try:
        seed(app)
        visitor = Console(app, remote_addr="10.1.2.3")
        name = "n" * 300
        for _ in range(ops.LOGIN_MAX_FAILURES):
            assert visitor.login(name, "whatever-password").status_code == 401
        assert visitor.login(name, "whatever-password").status_code == 429
        assert visitor.login("é" * 70, "x" * 10_000).status_code == 401
    finally:
        shutdown_app(app)


def test_a_token_whose_parent_was_revoked_after_it_was_created_is_refused(app: Flask) -> None:
    """The race the cascade cannot see: a child created while its parent was being revoked."""
    client = app.test_client()
    with get_db(app).new_session() as session:
        root = services.create_token(session, user="editor", actor="t", name="root")
        child = services.create_token(
            session, user="editor", actor="t", name="child", created_by_token_id=root.token.id
        )
        grandchild = services.create_token(
            session, user="editor", actor="t", name="gc", created_by_token_id=child.token.id
        )
        # the parent's revocation landed without cascading (as if the children came later)
        session.execute(
            sa.update(ApiToken).where(ApiToken.id == root.token.id).values(revoked_at=sa.func.now())
        )
        session.commit()
    for new in (child, grandchild):
        assert client.get("/api/v1/apps", headers=_bearer(new.secret)).status_code == 401


def test_a_malformed_or_unknown_session_user_id_is_anonymous(app: Flask) -> None:
    """Flask-Login's stored id is "<user id>:<session version>"; anything else, or a valid id
    without its server-side session row ("1:0": admin, version 0), loads no user."""
    for stored in ("1:0", "1", "x:0", "1:x", "-1:0", "99999999999:0", "1:0:0", "", "4242:0"):
        visitor = Console(app)
        with visitor.client.session_transaction() as session:
            session["_user_id"] = stored
            session["csrf_token"] = "a" * 40
        response = visitor.get("/apps")
        assert response.status_code == 302, stored
        with visitor.client.session_transaction() as session:
            assert "_user_id" not in session, stored  # the stale session was cleared


def test_signing_in_replaces_the_csrf_secret(app: Flask, console: Console) -> None:
    """A token handed out before login (e.g. planted by an attacker) is void after it."""
    before = console.csrf()
    assert console.login("editor").status_code == 302
    refused = console.client.post("/apps", data={"name": "fixated", "csrf_token": before})
    assert refused.status_code == 400
    assert console.post("/apps", {"name": "fresh"}).status_code == 302
