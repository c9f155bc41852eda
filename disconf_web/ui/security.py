"""Console sessions, CSRF protection and security headers.

* Sessions are Flask's signed cookies (``SECRET_KEY``). The cookie holds only the user id, the
  user's ``session_version`` and the session's CSRF secret; the database keeps one row per
  signed-in session (``console_sessions``, keyed by the SHA-256 of that secret, so any web
  process behind a load balancer accepts the cookie). Every request re-reads the user and the
  row and drops the session when the user is gone, disabled, or its version moved on (password
  change, disable, role change: every session of that user at once), or when the row is gone:
  logout deletes it, so a copied cookie stops working and its CSRF token dies with it. Rows
  older than ``PERMANENT_SESSION_LIFETIME`` count as over and are deleted at the next sign-in.
* Cookie flags: ``HttpOnly``, ``SameSite=Lax``; ``Secure`` follows ``DISCONF_COOKIE_SECURE``:
  ``auto`` (default) marks the cookie Secure whenever the request came over https, ``true``
  always (use it behind a TLS-terminating proxy), ``false`` never.
* CSRF: a random per-session token (``secrets``) that every console form posts as
  ``csrf_token`` and the console's ``fetch()`` calls send as ``X-CSRF-Token``; compared with
  ``hmac.compare_digest``. On the admin API the check follows what authenticated the request
  (:func:`disconf_web.auth.authenticated_by`): a bearer token is exempt, the session cookie
  needs the header too, even when an unrelated ``Authorization`` header rides along.
* Why not Flask-Login and Flask-WTF's ``CSRFProtect``: measured with both installed, Flask-Login
  always writes ``_user_id``, ``_fresh`` and ``_id`` into the cookie (even with session
  protection off) and Flask-WTF keeps a raw token under its form field's name while forms must
  post a signed, time-stamped derivative of it. Both change the session and CSRF contract the
  test suite pins (the cookie's keys, the token a form posts), which this redesign had to keep.

Error Handling
--------------
Each request reads the user and its session row from the database (no process-local state, so a
restart or another web process changes nothing). When the database is unreachable the request
fails with the app's database error (503 on the API, the error page on the console); the
session cookie stays valid and works again once the database answers.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import quote

from flask import Flask, Request, abort, current_app, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response as WerkzeugResponse

from disconf_core import to_bool

from ..auth import SESSION_KEY, authenticated_by, current_user, login_user, logout_user
from ..extensions import get_db
from ..models import User
from ..services.accounts import (
    close_console_session,
    console_session_active,
    open_console_session,
)

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "ConsoleSessionInterface",
    "attachment",
    "check_csrf",
    "configure_sessions",
    "csrf_token",
    "drop_stale_session",
    "end_session",
    "login_required",
    "start_session",
]

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_CSRF_KEY = "csrf"
_VERSION_KEY = "disconf_sv"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

F = TypeVar("F", bound=Callable[..., Any])


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions with ``Secure`` decided per request (``auto``)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        mode = app.config.get("COOKIE_SECURE", "auto")
        if mode == "auto":
            return bool(request) and request.is_secure
        return bool(mode)


def _secure_mode(value: Any) -> str | bool:
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        return to_bool(value)
    except ValueError:
        raise ValueError(f"DISCONF_COOKIE_SECURE={value!r} is not auto, true or false") from None


def configure_sessions(app: Flask) -> None:
    """Cookie flags and the session interface; a throwaway key when none is required."""
    if not app.config.get("SECRET_KEY"):
        # Only reachable when REQUIRE_SECRET_KEY is off (tests): sessions end with the process.
        log.warning("no SECRET_KEY: console sessions use a random key valid for this process")
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["COOKIE_SECURE"] = _secure_mode(app.config.get("COOKIE_SECURE", "auto"))
    app.config.setdefault("SESSION_COOKIE_NAME", "disconf_session")
    app.config["SESSION_COOKIE_NAME"] = app.config.get("SESSION_COOKIE_NAME") or "disconf_session"
    if app.config["SESSION_COOKIE_NAME"] == "session":
        app.config["SESSION_COOKIE_NAME"] = "disconf_session"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = ConsoleSessionInterface()


def start_session(user: User) -> None:
    """Log ``user`` in: a fresh session (new CSRF token) holding their id and version."""
    old_secret = session.get(_CSRF_KEY)
    db = get_db(current_app).session()
    if session.get(SESSION_KEY) is not None:
        close_console_session(db, secret=old_secret)  # signing in again ends the old session
    login_user(user)
    secret = secrets.token_urlsafe(32)
    session[_VERSION_KEY] = user.session_version or 0
    session[_CSRF_KEY] = secret
    open_console_session(
        db, user_id=user.id, secret=secret, lifetime=current_app.permanent_session_lifetime
    )


def end_session() -> None:
    """Logout: delete the session's row (a copied cookie stops working) and clear the cookie."""
    close_console_session(get_db(current_app).session(), secret=session.get(_CSRF_KEY))
    logout_user()
    session.clear()


def drop_stale_session() -> None:
    """Before every request: forget a session whose user is gone, disabled or re-versioned, or
    whose server-side row is gone (logged out, expired)."""
    user_id = session.get(SESSION_KEY)
    if user_id is None:
        return
    db = get_db(current_app).session()
    valid_id = isinstance(user_id, int) and 1 <= user_id <= 2**31 - 1
    user = db.get(User, user_id) if valid_id else None
    if (
        user is None
        or not user.active
        or session.get(_VERSION_KEY) != (user.session_version or 0)
        or not console_session_active(
            db,
            user_id=user.id,
            secret=session.get(_CSRF_KEY),
            lifetime=current_app.permanent_session_lifetime,
        )
    ):
        session.clear()
        logout_user()


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[_CSRF_KEY] = token
    return token


def _token_ok(sent: str | None) -> bool:
    expected = session.get(_CSRF_KEY)
    if not isinstance(expected, str) or not expected or not sent:
        return False
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


def check_csrf(req: Request) -> None:
    """Abort 400 unless an unsafe request carries this session's CSRF token."""
    if req.method not in _UNSAFE:
        return
    sent = req.headers.get(CSRF_HEADER) or req.form.get(CSRF_FIELD)
    if not _token_ok(sent):
        abort(
            400,
            description="the form expired or did not come from this console (CSRF token "
            "missing or wrong): reload the page and try again",
        )


def check_api_csrf() -> None:
    """Admin API calls riding on the console's session cookie must send ``X-CSRF-Token``."""
    if request.method not in _UNSAFE or not request.path.startswith("/api/v1"):
        return
    if authenticated_by() != "session":
        return
    if not _token_ok(request.headers.get(CSRF_HEADER)):
        abort(403, description="send the console's X-CSRF-Token header (or use a bearer token)")


def login_required(view: F) -> F:
    """Redirect anonymous visitors to the login page (then back here)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None or session.get(SESSION_KEY) is None:
            target = request.full_path if request.method == "GET" else None
            return redirect(url_for("console.login", next=target))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` value for downloading ``filename`` (RFC 6266): an ASCII
    ``filename`` fallback (quotes, backslashes and control characters replaced) and the exact
    name as ``filename*=UTF-8''...``, so any name is a valid header and no header injection."""
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\' else "_" for ch in filename)
    exact = quote(filename.encode("utf-8", "replace"), safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


def add_security_headers(response: WerkzeugResponse) -> WerkzeugResponse:
    """Strict headers for console pages (no inline script, no framing)."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
