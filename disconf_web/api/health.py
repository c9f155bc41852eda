"""``/healthz`` (the process answers) and ``/readyz`` (database and ZooKeeper reachable)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify

from ..extensions import get_db
from ..state import get_notifier

__all__ = ["bp"]

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    try:
        with get_db(current_app).engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means: not ready
        checks["database"] = f"unreachable: {type(exc).__name__}: {str(exc)[:200]}"
    notifier = get_notifier(current_app)
    if not notifier.enabled:
        checks["zookeeper"] = "disabled"
    elif notifier.connected:
        checks["zookeeper"] = "ok"
    else:
        checks["zookeeper"] = f"not connected to {notifier.hosts}"
    failing = [name for name, state in checks.items() if state not in ("ok", "disabled")]
    if failing:
        body = {"status": "unavailable", "error": f"not reachable: {', '.join(failing)}"}
        return jsonify({**body, "checks": checks}), 503
    return jsonify({"status": "ready", "checks": checks}), 200
