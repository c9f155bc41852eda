"""Login, logout, sessions (cookie flags, session version), CSRF, rate limiting, password."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from disconf_web import get_db
from disconf_web.models import AuditEvent, LoginAttempt, User
from disconf_web.services import console as ops

from .conftest import PASSWORD, Console


def _actions(app: Flask) -> list[tuple[str, str]]:
    with get_db(app).new_session() as session:
        rows = session.execute(sa.select(AuditEvent.actor, AuditEvent.action)).all()
        return [(actor, action) for actor, action in rows]


def test_anonymous_pages_redirect_to_login(console: Console) -> None:
    for url in ("/apps", "/envs", "/audit", "/users", "/tokens", "/password", "/apps/demo",
                "/apps/demo/envs/dev/versions/1_0", "/apps/demo/copy"):  # fmt: skip
        response = console.get(url)
        assert response.status_code == 302, url
        assert response.location.startswith("/login?next="), url
    assert console.get("/").location == "/apps"


def test_login_success_and_failure_are_audited(app: Flask, console: Console) -> None:
    page = console.get("/login")
    assert page.status_code == 200 and "Log in to disconf" in page.text
    bad = console.login("editor", "wrong-password")
    assert bad.status_code == 401
    assert "Wrong user name or password" in bad.text
    good = console.login("editor")
    assert good.status_code == 302 and good.location == "/apps"
    assert console.get("/apps").status_code == 200
    assert console.post("/logout").status_code == 302
    assert console.get("/apps").status_code == 302
    actions = _actions(app)
    assert ("editor", "login.failure") in actions
    assert ("editor", "login.success") in actions
    assert ("editor", "logout") in actions


def test_login_redirects_only_to_local_next(console: Console) -> None:
    token = console.csrf()
    form = {"username": "editor", "password": PASSWORD, "csrf_token": token}
    response = console.client.post("/login", data={**form, "next": "/audit"})
    assert response.location == "/audit"
    console.post("/logout")
    for evil in ("//evil.example/x", "https://evil.example/", "javascript:alert(1)"):
        token = console.csrf()
        response = console.client.post("/login", data={**form, "csrf_token": token, "next": evil})
        assert response.location == "/apps", evil
        console.post("/logout")


def test_empty_login_form_is_refused(console: Console) -> None:
    token = console.csrf()
    response = console.client.post("/login", data={"username": "", "csrf_token": token})
    assert response.status_code == 400
    assert "Enter your user name and password" in response.text


def test_post_without_csrf_token_is_refused(app: Flask, console: Console) -> None:
    console.csrf()
    response = console.client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF token" in response.text
    console.login("admin")
    for data in ({}, {"csrf_token": "forged"}):
        response = console.client.post("/apps", data={"name": "sneaky", **data})
        assert response.status_code == 400
    assert "sneaky" not in console.get("/apps").text
    # the header works as well as the form field (the console's fetch() calls)
    response = console.client.post(
        "/apps", data={"name": "viaheader"}, headers={"X-CSRF-Token": console.token()}
    )
    assert response.status_code == 302


def test_cookie_flags(app: Flask, console: Console) -> None:
    response = console.login("editor")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("disconf_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http: auto mode leaves it off
    secure = Console(app)
    secure.environ["wsgi.url_scheme"] = "https"
    response = secure.client.post(
        "/login",
        data={"username": "editor", "password": PASSWORD, "csrf_token": secure.csrf()},
        base_url="https://localhost",
    )
    assert "Secure" in response.headers["Set-Cookie"]


def test_cookie_secure_setting(tmp_path: Any) -> None:
    import pytest

    from disconf_web import SettingsError, shutdown_app

    from .conftest import make_app, seed

    flask_app = make_app(f"sqlite:///{tmp_path / 's.sqlite'}", COOKIE_SECURE="true")
    try:
        seed(flask_app)
        response = Console(flask_app).login("editor")
        assert "Secure" in response.headers["Set-Cookie"]
    finally:
        shutdown_app(flask_app)
    with pytest.raises((SettingsError, ValueError), match="COOKIE_SECURE"):
        make_app(f"sqlite:///{tmp_path / 't.sqlite'}", COOKIE_SECURE="sometimes")


def test_session_holds_only_user_id_version_and_csrf(app: Flask, console: Console) -> None:
    """The signed cookie carries identifiers, the session version and the CSRF secret (the
    keys Flask-Login and Flask-WTF use), never the password, its hash or the role."""
    import hashlib

    from disconf_web.models import ConsoleSession

    console.login("editor")
    with console.client.session_transaction() as session:
        data = dict(session)
    assert set(data) <= {"_user_id", "_fresh", "_id", "csrf_token", "_permanent"}
    with get_db(app).new_session() as db:
        user = db.scalar(sa.select(User).where(User.name == "editor"))
        assert user is not None
        assert data["_user_id"] == f"{user.id}:{user.session_version}"
        row = db.get(ConsoleSession, hashlib.sha256(data["csrf_token"].encode()).hexdigest())
        assert row is not None and row.user_id == user.id  # the CSRF secret names the session
        secrets = (user.password_hash, PASSWORD, user.role)
    text = repr(data)
    assert not any(secret in text for secret in secrets)
    assert set(str(data.get("_id", ""))) <= set("0123456789abcdef")  # a digest, if present


def test_disabling_a_user_logs_out_their_sessions(app: Flask, as_role: Any) -> None:
    editor = as_role("editor")
    admin = as_role("admin")
    assert editor.get("/apps").status_code == 200
    response = admin.post("/users/editor", {"role": "editor", "apps": ["demo"]})  # active unticked
    assert response.status_code == 302
    assert editor.get("/apps").status_code == 302
    assert Console(app).login("editor").status_code == 401
    assert ("admin", "user.disable") in _actions(app)


def test_password_change_logs_out_other_sessions(app: Flask, as_role: Any) -> None:
    first = as_role("editor")
    second = as_role("editor")
    wrong = first.post("/password", {"current": "nope", "new": "new-password-1",
                                      "confirm": "new-password-1"})  # fmt: skip
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    mismatch = first.post("/password", {"current": PASSWORD, "new": "new-password-1",
                                         "confirm": "other-password"})  # fmt: skip
    assert mismatch.status_code == 400 and "do not match" in mismatch.text
    short = first.post("/password", {"current": PASSWORD, "new": "short", "confirm": "short"})
    assert short.status_code == 400 and "at least 8 characters" in short.text
    ok = first.post("/password", {"current": PASSWORD, "new": "new-password-1",
                                   "confirm": "new-password-1"})  # fmt: skip
    assert ok.status_code == 302
    assert first.get("/apps").status_code == 200  # this session stays
    assert second.get("/apps").status_code == 302  # the other one is gone
    assert Console(app).login("editor", "new-password-1").status_code == 302
    assert ("editor", "user.password") in _actions(app)


def test_login_rate_limit_per_user_and_ip(app: Flask) -> None:
    attacker = Console(app, remote_addr="10.0.0.9")
    for _ in range(ops.LOGIN_MAX_FAILURES):
        assert attacker.login("editor", "wrong").status_code == 401
    blocked = attacker.login("editor")  # even the right password
    assert blocked.status_code == 429
    assert "Too many failed logins for &#39;editor&#39;" in blocked.text
    assert "try again in 5 minutes" in blocked.text
    # another address, and another user from the same address, are not blocked
    assert Console(app, remote_addr="10.0.0.10").login("editor").status_code == 302
    assert attacker.login("viewer").status_code == 302
    assert ("editor", "login.blocked") in _actions(app)


def test_rate_limit_window_and_reset(app: Flask) -> None:
    from datetime import timedelta

    from disconf_web.models import utcnow

    db = get_db(app).new_session()
    try:
        old = utcnow() - ops.LOGIN_WINDOW - timedelta(seconds=1)
        for _ in range(ops.LOGIN_MAX_FAILURES):
            ops.record_login_attempt(db, username="u", ip="1.2.3.4", success=False, now=old)
        assert ops.login_blocked(db, username="u", ip="1.2.3.4") == 0  # outside the window
        for _ in range(ops.LOGIN_MAX_FAILURES):
            ops.record_login_attempt(db, username="u", ip="1.2.3.4", success=False)
        wait = ops.login_blocked(db, username="u", ip="1.2.3.4")
        assert 0 < wait <= ops.LOGIN_WINDOW.total_seconds() + 1
        ops.record_login_attempt(db, username="u", ip="1.2.3.4", success=True)
        assert ops.login_blocked(db, username="u", ip="1.2.3.4") == 0
        assert db.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 0
    finally:
        db.close()


def test_security_headers(console: Console) -> None:
    response = console.get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_session_cookie_from_another_key_is_ignored(app: Flask, tmp_path: Any) -> None:
    from disconf_web import shutdown_app

    from .conftest import make_app

    first = Console(app)
    first.login("admin")
    cookie = first.client.get_cookie("disconf_session")
    assert cookie is not None
    other_app = make_app(app.config["DATABASE_URL"], SECRET_KEY="another-secret")
    try:
        other = Console(other_app)
        other.client.set_cookie("disconf_session", cookie.value)
        assert other.get("/apps").status_code == 302
    finally:
        shutdown_app(other_app)


def test_user_row_has_session_version(app: Flask) -> None:
    with get_db(app).new_session() as session:
        user = session.scalar(sa.select(User).where(User.name == "editor"))
        assert user is not None and user.session_version == 0
