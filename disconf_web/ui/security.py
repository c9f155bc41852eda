"""Console sessions, CSRF protection and security headers.

* Sessions are Flask's signed cookies (``SECRET_KEY``; nothing kept server-side, so any web
  process behind a load balancer accepts them). The cookie holds only the user id and the
  user's ``session_version``: every request re-reads the user from the database and drops the
  session when the user is gone, disabled, or its version moved on (password change, disable,
  role change), which logs out every other session of that user at once.
* Cookie flags: ``HttpOnly``, ``SameSite=Lax``; ``Secure`` follows ``DISCONF_COOKIE_SECURE``:
  ``auto`` (default) marks the cookie Secure whenever the request came over https, ``true``
  always (use it behind a TLS-terminating proxy), ``false`` never.
* CSRF: a random per-session token (``secrets``) that every console form posts as
  ``csrf_token`` and the console's ``fetch()`` calls send as ``X-CSRF-Token``; compared with
  ``hmac.compare_digest``. Admin API calls authenticated by a bearer token are exempt; admin API
  calls authenticated by the session cookie need the header too.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, Request, abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response as WerkzeugResponse

from ..auth import SESSION_KEY, current_user, login_user
from ..extensions import get_db
from ..models import User

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "ConsoleSessionInterface",
    "check_csrf",
    "configure_sessions",
    "csrf_token",
    "drop_stale_session",
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
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"DISCONF_COOKIE_SECURE={value!r} is not auto, true or false")


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
    login_user(user)
    session[_VERSION_KEY] = user.session_version or 0
    session[_CSRF_KEY] = secrets.token_urlsafe(32)


def drop_stale_session() -> None:
    """Before every request: forget a session whose user is gone, disabled or re-versioned."""
    user_id = session.get(SESSION_KEY)
    if user_id is None:
        return
    user = get_db(current_app).session().get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active or session.get(_VERSION_KEY) != (user.session_version or 0):
        session.clear()
        g.pop("disconf_user", None)


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
    if request.headers.get("Authorization") or session.get(SESSION_KEY) is None:
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
