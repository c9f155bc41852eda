"""Console sessions, CSRF protection and security headers.

* Sessions are Flask's signed cookies (``SECRET_KEY``); Flask-Login keeps the signed-in user in
  them. The id it stores is an alternative id, ``"<user id>:<session_version>"``
  (:meth:`disconf_web.auth.SessionUser.get_id`), so bumping a user's ``session_version``
  (password change, disable, role change) logs every session of that user out at once: the
  user loader refuses an id whose version moved on, and a disabled or deleted user.
* The database keeps one row per signed-in session (``console_sessions``, keyed by the SHA-256 of
  the session's CSRF secret, so any web process behind a load balancer accepts the cookie). The
  user loader also requires that row: logout deletes it, so a copied cookie stops working and,
  because a session whose user no longer loads is cleared before the CSRF check, its CSRF token
  dies with it. Rows older than ``PERMANENT_SESSION_LIFETIME`` count as over and are deleted at
  the next sign-in.
* What the cookie holds: Flask-Login's ``_user_id`` (the alternative id), ``_fresh`` and ``_id``
  (a hash of the client's address and user agent), Flask-WTF's raw CSRF secret ``csrf_token``,
  and Flask's ``_permanent``: identifiers, a version and the CSRF secret, never a password hash
  or a role. Flask-Login's session protection is off: the session ends on the server instead
  (row, version), and an address-bound session would end whenever a user's address changes.
* Cookie flags: ``HttpOnly``, ``SameSite=Lax``; ``Secure`` follows ``DISCONF_COOKIE_SECURE``:
  ``auto`` (default) marks the cookie Secure whenever the request came over https, ``true``
  always (use it behind a TLS-terminating proxy), ``false`` never.
* CSRF: Flask-WTF's ``CSRFProtect``. Every console form posts ``csrf_token`` (the signed token
  of :func:`flask_wtf.csrf.generate_csrf`, also in the page's ``csrf-token`` meta tag) and the
  console's ``fetch()`` calls send it as ``X-CSRF-Token``. Tokens live as long as the session
  (no separate time limit: the session row bounds them) and the https Referer check is off
  (behind a TLS-terminating proxy the host the app sees is not the browser's; the token is
  bound to the signed session). :func:`check_csrf` decides per request: every unsafe request
  outside the admin API is checked (console forms, and any form added later); on the admin API
  (``/api/v1``) the check follows what authenticated the request
  (:func:`disconf_web.auth.authenticated_by`): a bearer token is exempt, the session cookie
  needs the header, even when an unrelated ``Authorization`` header rides along (403).

Error Handling
--------------
Each request that carries a session reads the user and its session row from the database (no
process-local state, so a restart or another web process changes nothing). When the database
is unreachable the request fails with the app's database error (503 on the API, the error page
on the console); the session cookie stays valid and works again once the database answers.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import quote

import flask_login  # type: ignore[import-untyped]
from flask import Flask, abort, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import (  # type: ignore[import-untyped]
    CSRFError,
    CSRFProtect,
    generate_csrf,
    validate_csrf,
)
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms.validators import ValidationError  # type: ignore[import-untyped]

from disconf_core import to_bool

from ..auth import SessionUser, authenticated_by
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
    "csrf",
    "csrf_failed",
    "csrf_token",
    "drop_stale_session",
    "end_session",
    "login_manager",
    "login_required",
    "start_session",
]

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"  # the form field, and Flask-WTF's session key of the raw secret
CSRF_HEADER = "X-CSRF-Token"
_USER_KEY = "_user_id"  # Flask-Login's session key
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_ID = 2**31 - 1

F = TypeVar("F", bound=Callable[..., Any])

login_manager = flask_login.LoginManager()
login_manager.session_protection = None  # sessions end on the server (row, version): see above
csrf = CSRFProtect()


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
    """Cookie flags, the session interface, Flask-Login and Flask-WTF's CSRF settings; a
    throwaway key when none is required. The CSRF check itself is :func:`check_csrf`."""
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
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # check_csrf decides (API: per authentication)
    app.config["WTF_CSRF_FIELD_NAME"] = CSRF_FIELD
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # as long as the session (its row bounds it)
    app.config["WTF_CSRF_SSL_STRICT"] = False  # no Referer check: see the module docstring
    app.config["WTF_CSRF_HEADERS"] = [CSRF_HEADER]
    login_manager.user_loader(_load_user)
    login_manager.init_app(app, add_context_processor=False)
    csrf.init_app(app)


def _load_user(alternative_id: str) -> SessionUser | None:
    """The session's user, if its id still names an active user at this session version and
    the session's row exists (not logged out, not over)."""
    user_id, _, version = str(alternative_id).partition(":")
    if not (user_id.isdecimal() and version.isdecimal()) or not 1 <= int(user_id) <= _MAX_ID:
        return None
    db = get_db(current_app).session()
    user = db.get(User, int(user_id))
    if user is None or not user.active or int(version) != (user.session_version or 0):
        return None
    if not console_session_active(
        db,
        user_id=user.id,
        secret=session.get(CSRF_FIELD),
        lifetime=current_app.permanent_session_lifetime,
    ):
        return None
    return SessionUser(user)


def _forget_request_user() -> None:
    for key in ("disconf_user", "disconf_auth", "disconf_token_id", CSRF_FIELD):
        g.pop(key, None)


def start_session(user: User) -> None:
    """Log ``user`` in: a fresh session (new CSRF secret, no pre-login data) holding their
    alternative id, and its server-side row. Signing in again ends the previous session."""
    db = get_db(current_app).session()
    if _USER_KEY in session:
        close_console_session(db, secret=session.get(CSRF_FIELD))
    session.clear()
    _forget_request_user()  # generate_csrf caches the signed token of the old secret in g
    flask_login.login_user(SessionUser(user))
    session.permanent = True
    generate_csrf()  # creates the session's new raw secret
    open_console_session(
        db,
        user_id=user.id,
        secret=session[CSRF_FIELD],
        lifetime=current_app.permanent_session_lifetime,
    )


def end_session() -> None:
    """Logout: delete the session's row (a copied cookie stops working) and clear the cookie."""
    close_console_session(get_db(current_app).session(), secret=session.get(CSRF_FIELD))
    flask_login.logout_user()
    session.clear()
    _forget_request_user()


def drop_stale_session() -> None:
    """Before every request (and before the CSRF check): clear a session whose user no longer
    loads (gone, disabled, re-versioned, row deleted or over), so its CSRF secret goes too."""
    if _USER_KEY not in session:
        return
    if not flask_login.current_user.is_authenticated:
        session.clear()
        _forget_request_user()


def csrf_token() -> str:
    """The signed CSRF token forms post (Flask-WTF; creates the session's secret on first use)."""
    return str(generate_csrf())


def check_csrf() -> None:
    """Before every request: unsafe requests need the session's CSRF token, except on the
    admin API, where only requests the session cookie authenticated need it (a bearer token
    is exempt); there a missing or wrong token is 403 with a hint."""
    if request.method not in _UNSAFE or request.routing_exception is not None:
        return  # no view will run: the 404/405 says more than a CSRF refusal would
    if request.path.startswith("/api/v1"):
        if authenticated_by() != "session":
            return
        try:
            validate_csrf(request.headers.get(CSRF_HEADER))
        except ValidationError:
            abort(
                403, description=f"send the console's {CSRF_HEADER} header (or use a bearer token)"
            )
        return
    csrf.protect()  # raises CSRFError (400), rendered by csrf_failed on the console


def csrf_failed(exc: CSRFError) -> tuple[str, int]:
    """The console's page for a refused form."""
    log.info("CSRF check failed on %s %s: %s", request.method, request.path, exc.description)
    message = (
        "the form expired or did not come from this console (CSRF token missing or wrong): "
        "reload the page and try again"
    )
    return render_template("console/error.html", status=400, message=message), 400


def login_required(view: F) -> F:
    """Redirect anonymous visitors to the login page (then back here)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if authenticated_by() != "session":
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
