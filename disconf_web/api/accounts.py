"""Admin API for users, grants, API tokens and the audit log (``/api/v1/users``,
``/api/v1/tokens``, ``/api/v1/audit``).

Admins manage users and grants; every user manages their own tokens (admins: anyone's). Lists
are paginated like every admin API list (``limit``, ``cursor``, ``next``).

Tokens belong to their user, and a token created by a request that a token authenticated is also
tied to that token: revoking it revokes every token created through it (see
:mod:`disconf_web.services.accounts`). A token created from a console session has no parent.

The audit log answers admins every event, other users the events of the apps granted to them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy.orm as so
from flask import Response, current_app, jsonify, request

from .. import services
from ..auth import current_token_id, is_admin, require_admin, require_user, visible_app_ids
from ..extensions import get_db
from ..models import User
from ..services import listing
from .admin import _json_body, _page_args, _string, bp, paged
from .serialize import audit_json, token_json, user_json

__all__: list[str] = []

_MAX_FILTER = 1024

R = TypeVar("R")


def _session() -> so.Session:
    return get_db(current_app).session()


def admin_only(what: str) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Authenticate and require an admin (``what``: the refused action, for the 403); the view
    receives the admin first."""

    def decorate(view: Callable[..., R]) -> Callable[..., R]:
        @wraps(view)
        def wrapper(**values: Any) -> R:
            actor = require_user()
            require_admin(actor, what)
            return view(actor, **values)

        return wrapper

    return decorate


def authenticated(view: Callable[..., R]) -> Callable[..., R]:
    """Authenticate; the view receives the user first."""

    @wraps(view)
    def wrapper(**values: Any) -> R:
        return view(require_user(), **values)

    return wrapper


@bp.get("/users")
@admin_only("list users")
def list_users(actor: User) -> Response:
    limit, cursor = _page_args()
    page = listing.page_by_name(_session(), User, limit=limit, cursor=cursor)
    apps = services.granted_apps(_session(), [row.id for row in page.items])
    return paged("users", [user_json(row, apps[row.id]) for row in page.items], page.next_cursor)


@bp.post("/users")
@admin_only("create users")
def create_user(actor: User) -> tuple[Response, int]:
    body = _json_body()
    apps = body.get("apps", [])
    if not isinstance(apps, list) or not all(isinstance(app, str) for app in apps):
        raise services.BadRequest('field "apps" must be a list of app names')
    user = services.create_user(
        _session(),
        name=_string(body, "name"),
        password=_string(body, "password"),
        role=_string(body, "role"),
        actor=actor.name,
        apps=apps,
    )
    return jsonify(user_json(user, sorted(apps))), 201


@bp.put("/users/<name>/apps/<app>")
@admin_only("grant apps")
def grant(actor: User, name: str, app: str) -> Response:
    services.grant_app(_session(), user=name, app=app, actor=actor.name)
    return jsonify({"user": name, "app": app, "granted": True})


@bp.delete("/users/<name>/apps/<app>")
@admin_only("revoke grants")
def revoke(actor: User, name: str, app: str) -> Response:
    services.revoke_grant(_session(), user=name, app=app, actor=actor.name)
    return jsonify({"user": name, "app": app, "granted": False})


@bp.get("/tokens")
@authenticated
def list_tokens(user: User) -> Response:
    limit, cursor = _page_args()
    page = listing.page_tokens(_session(), user_id=user.id, limit=limit, cursor=cursor)
    return paged("tokens", [token_json(token) for token in page.items], page.next_cursor)


@bp.post("/tokens")
@authenticated
def create_token(user: User) -> tuple[Response, int]:
    body = _json_body()
    new = services.create_token(
        _session(),
        user=user.name,
        name=_string(body, "name", required=False, default="default"),
        actor=user.name,
        created_by_token_id=current_token_id(),
    )
    return jsonify({**token_json(new.token), "token": new.secret}), 201


@bp.delete("/tokens/<int(max=2147483647):token_id>")
@authenticated
def revoke_token(user: User, token_id: int) -> Response:
    services.revoke_token(
        _session(),
        token_id=token_id,
        actor=user.name,
        user=None if is_admin(user) else user.name,
    )
    return jsonify({"id": token_id, "revoked": True})


def _filter(key: str) -> str | None:
    value = request.args.get(key) or None
    if value is not None and (len(value) > _MAX_FILTER or not listing.storable(value)):
        raise services.BadRequest(f"query parameter {key!r} is not a valid name")
    return value


@bp.get("/audit")
@authenticated
def list_audit(user: User) -> Response:
    """Audit events, newest first; ``?app=`` and ``?actor=`` filter."""
    limit, cursor = _page_args()
    only_apps = services.app_names(_session(), visible_app_ids(user))
    page = listing.page_audit(
        _session(),
        app=_filter("app"),
        actor=_filter("actor"),
        only_apps=only_apps,
        limit=limit,
        cursor=cursor,
    )
    return paged("events", [audit_json(event) for event in page.items], page.next_cursor)
