"""The probes: what each one promises, so a load balancer never drains a fleet that can serve.

* ``GET /healthz`` — **liveness**: the process answers HTTP. Checks no dependency (a database or
  ZooKeeper outage must never make an orchestrator restart every node). Always 200.
* ``GET /readyz`` — **serves client reads**: 200 while the database answers, *or* while this
  process holds last-served values (:mod:`disconf_web.protocol.last_served`, loaded from disk at
  start), because then the Disconf client endpoints still answer every config this node served.
  503 only when the database does not answer and there is nothing to serve. This is the probe a
  load balancer in front of the client endpoints uses.
* ``GET /readyz/writes`` — **accepts writes**: 200 when the database answers and ZooKeeper is
  connected (or disabled); 503 otherwise. For deploy tooling and the admin API's own routing,
  not for the client read path.

Bodies are JSON: ``{"status": "ready"|"unavailable", "checks": {...}}`` (503 bodies add
``"error"`` naming what is not reachable).

Error Handling
--------------
Database: the check is one ``SELECT 1`` on the read engine, bounded by ``DB_CONNECT_TIMEOUT`` +
``DB_READ_TIMEOUT`` (or ``DB_POOL_TIMEOUT`` for a pooled connection), so a hung database makes a
probe answer within that bound instead of holding a worker. ZooKeeper: only the session state is
read (never a network call). Restart: the last-served copies are read from disk when the app is
created, so a node restarted during a database outage is ready for reads at once.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify

from ..extensions import get_db
from ..protocol import get_protocol
from ..publisher import get_notifier

__all__ = ["bp"]

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


def _database() -> str:
    try:
        with get_db(current_app).reader.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc)[:200]
        return f"unreachable: {type(exc).__name__}: {detail}"
    return "ok"


def _zookeeper() -> str:
    notifier = get_notifier(current_app)
    if not notifier.enabled:
        return "disabled"
    if notifier.connected:
        return "ok"
    return f"not connected to {notifier.hosts}"


def _answer(checks: dict[str, Any], failing: list[str]) -> tuple[Response, int]:
    if failing:
        body = {"status": "unavailable", "error": f"not reachable: {', '.join(failing)}"}
        return jsonify({**body, "checks": checks}), 503
    return jsonify({"status": "ready", "checks": checks}), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready to serve client reads (see the module docstring)."""
    database = _database()
    served = len(get_protocol(current_app).last_served)
    checks: dict[str, Any] = {"database": database, "last_served": served}
    failing = [] if database == "ok" or served > 0 else ["database"]
    return _answer(checks, failing)


@bp.get("/readyz/writes")
def readyz_writes() -> tuple[Response, int]:
    """Ready to accept writes: the database answers and ZooKeeper is connected (or disabled)."""
    checks: dict[str, Any] = {"database": _database(), "zookeeper": _zookeeper()}
    failing = [name for name, state in checks.items() if state not in ("ok", "disabled")]
    return _answer(checks, failing)
