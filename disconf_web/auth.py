"""Who is calling, and what they may do.

:func:`current_user` looks at the console's session first (Flask-Login's user, see
:mod:`disconf_web.ui.security`), then at an ``Authorization: Bearer <token>`` header;
:func:`authenticated_by` tells which of the two authenticated the request (the admin API's CSRF
check follows it: a request the session cookie authenticated needs the CSRF header whatever
other headers it has).

Roles: ``admin`` may do everything; ``editor`` may change the apps granted to them (and create
apps, being granted them); ``viewer`` may read the apps granted to them. Only admins create envs
and users.
"""

from __future__ import annotations

import flask_login  # type: ignore[import-untyped]
from flask import current_app, g, request

from .extensions import get_db
from .models import App, Role, User
from .services import Forbidden, Unauthorized
from .services.accounts import granted_app_ids, is_granted, token_for_secret
from .services.catalog import get_app

__all__ = [
    "SessionUser",
    "authenticated_by",
    "current_token_id",
    "current_user",
    "is_admin",
    "require_admin",
    "require_app",
    "require_user",
    "visible_app_ids",
]


class SessionUser:
    """A console user as Flask-Login sees it. Its id is the alternative id
    ``"<user id>:<session_version>"``: bumping the user's ``session_version`` makes every
    stored id stale, which logs all of the user's sessions out."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user: User) -> None:
        self.user = user

    @property
    def is_active(self) -> bool:
        return bool(self.user.active)

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_version or 0}"


def current_user() -> User | None:
    """The authenticated user of this request (session cookie, then bearer token), or None."""
    if "disconf_user" in g:
        user: User | None = g.disconf_user
        return user
    db_session = get_db(current_app).session()
    user = None
    via = None
    token_id = None
    signed_in = flask_login.current_user
    if isinstance(signed_in, SessionUser):
        user, via = signed_in.user, "session"
    if user is None:
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() == "bearer" and secret.strip():
            token = token_for_secret(db_session, secret.strip())
            if token is not None:
                user, via, token_id = token.user, "token", token.id
    g.disconf_user = user
    g.disconf_auth = via
    g.disconf_token_id = token_id
    return user


def authenticated_by() -> str | None:
    """``"session"``, ``"token"`` or None: what authenticated this request."""
    current_user()
    via: str | None = g.get("disconf_auth")
    return via


def current_token_id() -> int | None:
    """The id of the API token that authenticated this request (None: not a token)."""
    current_user()
    token_id: int | None = g.get("disconf_token_id")
    return token_id


def require_user() -> User:
    user = current_user()
    if user is None:
        if request.headers.get("Authorization"):
            raise Unauthorized("invalid, revoked or unknown API token")
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>'")
    return user


def is_admin(user: User) -> bool:
    return user.role == Role.ADMIN.value


def require_admin(user: User, what: str) -> None:
    if not is_admin(user):
        raise Forbidden(f"only admins may {what} (user {user.name!r} is {user.role})")


def visible_app_ids(user: User) -> set[int] | None:
    """None = all apps (admin), else the ids of the apps granted to the user."""
    if is_admin(user):
        return None
    return granted_app_ids(get_db(current_app).session(), user)


def require_app(user: User, app_name: str, *, write: bool) -> App:
    """The app, if ``user`` may read it (``write``: change it); else 404/403."""
    db_session = get_db(current_app).session()
    app = get_app(db_session, app_name)
    if is_admin(user):
        return app
    if not is_granted(db_session, user, app):
        raise Forbidden(f"user {user.name!r} has no access to app {app_name!r}")
    if write and user.role != Role.EDITOR.value:
        raise Forbidden(f"user {user.name!r} is a {user.role}: read-only access to {app_name!r}")
    return app
