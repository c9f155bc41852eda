"""Who is calling, and what they may do.

:func:`current_user` looks at the Flask session first (the web console logs users in with
:func:`login_user`), then at an ``Authorization: Bearer <token>`` header. Roles: ``admin`` may do
everything; ``editor`` may change the apps granted to them (and create apps, being granted them);
``viewer`` may read the apps granted to them. Only admins create envs and users.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, g, request, session

from .extensions import get_db
from .models import App, AppGrant, Role, User
from .services import Forbidden, NotFound, Unauthorized, user_for_token

__all__ = [
    "current_user",
    "is_admin",
    "login_user",
    "logout_user",
    "require_admin",
    "require_app",
    "require_user",
    "visible_app_ids",
]

SESSION_KEY = "disconf_user_id"


def current_user() -> User | None:
    """The authenticated user of this request (session cookie, then bearer token), or None."""
    if "disconf_user" in g:
        user: User | None = g.disconf_user
        return user
    db_session = get_db(current_app).session()
    user = None
    user_id = session.get(SESSION_KEY)
    if isinstance(user_id, int):
        user = db_session.get(User, user_id)
        if user is not None and not user.active:
            user = None
    if user is None:
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() == "bearer" and secret.strip():
            user = user_for_token(db_session, secret.strip())
    g.disconf_user = user
    return user


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
    db_session = get_db(current_app).session()
    return set(db_session.scalars(sa.select(AppGrant.app_id).where(AppGrant.user_id == user.id)))


def require_app(user: User, app_name: str, *, write: bool) -> App:
    """The app, if ``user`` may read it (``write``: change it); else 404/403."""
    db_session = get_db(current_app).session()
    app = db_session.scalar(sa.select(App).where(App.name == app_name))
    if app is None:
        raise NotFound(f"app {app_name!r} does not exist")
    if is_admin(user):
        return app
    granted = db_session.scalar(
        sa.select(AppGrant.id).where(AppGrant.user_id == user.id, AppGrant.app_id == app.id)
    )
    if granted is None:
        raise Forbidden(f"user {user.name!r} has no access to app {app_name!r}")
    if write and user.role != Role.EDITOR.value:
        raise Forbidden(f"user {user.name!r} is a {user.role}: read-only access to {app_name!r}")
    return app


def login_user(user: User) -> None:
    """Remember ``user`` in the signed session cookie (used by the web console)."""
    session.clear()
    session[SESSION_KEY] = user.id
    session.permanent = True
    g.disconf_user = user


def logout_user() -> None:
    session.pop(SESSION_KEY, None)
    g.pop("disconf_user", None)
