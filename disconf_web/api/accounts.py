"""Admin API for users, grants and API tokens (``/api/v1/users``, ``/api/v1/tokens``).

Admins manage users and grants; every user manages their own tokens (admins: anyone's).
"""

from __future__ import annotations

from flask import Response, current_app, jsonify

from .. import services
from ..auth import is_admin, require_admin, require_user
from ..extensions import get_db
from ..models import App, AppGrant
from .admin import _json_body, _string, bp
from .serialize import token_json, user_json

__all__: list[str] = []


def _apps_of(user_id: int) -> list[str]:
    import sqlalchemy as sa

    session = get_db(current_app).session()
    return list(
        session.scalars(
            sa.select(App.name)
            .join(AppGrant, AppGrant.app_id == App.id)
            .where(AppGrant.user_id == user_id)
            .order_by(App.name)
        )
    )


@bp.get("/users")
def list_users() -> Response:
    user = require_user()
    require_admin(user, "list users")
    users = services.list_users(get_db(current_app).session())
    return jsonify({"users": [user_json(row, _apps_of(row.id)) for row in users]})


@bp.post("/users")
def create_user() -> tuple[Response, int]:
    actor = require_user()
    require_admin(actor, "create users")
    body = _json_body()
    apps = body.get("apps", [])
    if not isinstance(apps, list) or not all(isinstance(app, str) for app in apps):
        raise services.BadRequest('field "apps" must be a list of app names')
    user = services.create_user(
        get_db(current_app).session(),
        name=_string(body, "name"),
        password=_string(body, "password"),
        role=_string(body, "role"),
        actor=actor.name,
        apps=apps,
    )
    return jsonify(user_json(user, sorted(apps))), 201


@bp.put("/users/<name>/apps/<app>")
def grant(name: str, app: str) -> Response:
    actor = require_user()
    require_admin(actor, "grant apps")
    services.grant_app(get_db(current_app).session(), user=name, app=app, actor=actor.name)
    return jsonify({"user": name, "app": app, "granted": True})


@bp.delete("/users/<name>/apps/<app>")
def revoke(name: str, app: str) -> Response:
    actor = require_user()
    require_admin(actor, "revoke grants")
    services.revoke_grant(get_db(current_app).session(), user=name, app=app, actor=actor.name)
    return jsonify({"user": name, "app": app, "granted": False})


@bp.get("/tokens")
def list_tokens() -> Response:
    user = require_user()
    tokens = services.list_tokens(get_db(current_app).session(), user=user.name)
    return jsonify({"tokens": [token_json(token) for token in tokens]})


@bp.post("/tokens")
def create_token() -> tuple[Response, int]:
    user = require_user()
    body = _json_body()
    new = services.create_token(
        get_db(current_app).session(),
        user=user.name,
        name=_string(body, "name", required=False, default="default"),
        actor=user.name,
    )
    return jsonify({**token_json(new.token), "token": new.secret}), 201


@bp.delete("/tokens/<int:token_id>")
def revoke_token(token_id: int) -> Response:
    user = require_user()
    services.revoke_token(
        get_db(current_app).session(),
        token_id=token_id,
        actor=user.name,
        user=None if is_admin(user) else user.name,
    )
    return jsonify({"id": token_id, "revoked": True})
