"""Admin API of the opt-in per-app read credential (:mod:`disconf_web.protocol.credentials`).

``GET /api/v1/apps/<app>/read-credential`` — whether the app requires one (never the secret).
``PUT /api/v1/apps/<app>/read-credential`` — set a new credential (201) or rotate it (200); the
answer carries the secret once: ``{"app", "header", "token", "rotated"}``.
``DELETE /api/v1/apps/<app>/read-credential`` — disable it: the client endpoints serve the app's
configs without credentials again.

Admins only (403 for other roles, 401 without credentials). Errors are ``{"error": ...}``.
Database down: 503 through the app's database error handler, nothing changed.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from ..auth import require_admin, require_user
from ..extensions import get_db
from ..protocol.credentials import (
    HEADER,
    disable_read_credential,
    read_credential_state,
    set_read_credential,
)
from ..services import ServiceError
from .admin import error_response

__all__ = ["bp"]

bp = Blueprint("read_credentials_api", __name__, url_prefix="/api/v1")


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Response:
    return error_response(exc.status, str(exc))


def _admin() -> str:
    user = require_user()
    require_admin(user, "manage read credentials")
    return user.name


@bp.get("/apps/<app>/read-credential")
def show(app: str) -> Response:
    _admin()
    state = read_credential_state(get_db(current_app).session(), app)
    return jsonify(
        {
            "app": state.app,
            "enabled": state.enabled,
            "header": HEADER,
            "updated_by": state.updated_by,
            "updated_at": state.updated_at.isoformat() + "Z" if state.updated_at else None,
        }
    )


@bp.put("/apps/<app>/read-credential")
def set_or_rotate(app: str) -> Response:
    actor = _admin()
    created = set_read_credential(get_db(current_app).session(), app, actor=actor)
    response = jsonify(
        {"app": created.app, "header": HEADER, "token": created.secret, "rotated": created.rotated}
    )
    response.status_code = 200 if created.rotated else 201
    return response


@bp.delete("/apps/<app>/read-credential")
def disable(app: str) -> Response:
    actor = _admin()
    was_enabled = disable_read_credential(get_db(current_app).session(), app, actor=actor)
    return jsonify({"app": app, "enabled": False, "was_enabled": was_enabled})
