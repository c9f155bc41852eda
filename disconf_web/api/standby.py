"""Admin API: who is master? Lists an app's master/standby elections and their contenders.

::

    GET /api/v1/apps/<app>/envs/<env>/versions/<version>/standby          every election
    GET /api/v1/apps/<app>/envs/<env>/versions/<version>/standby/<name>   one election

An election is ``<prefix>/<app>_<version>_<env>/standby/<name>`` in ZooKeeper (written by
:mod:`disconf_client.standby`); its contenders are parsed with :mod:`disconf_core.standby`.
Each election answers ``{"name", "path", "master", "contenders", "context"}``: contenders (master
first) with ``host``, ``pid``, ``since``, ``token`` (the fencing token) and ``is_master``;
``context`` is the saved context's metadata (token, size, saved_at, host, pid — never its
content), or null.

Error Handling
--------------
Read-only; any user who may read the app may call it. ZooKeeper unreachable (or disabled):
503 with the reason. No ``standby`` node: an empty list; an unknown election name: 404. A
contender node whose data is not ours is listed with null host/pid/since (it still holds its
place in the queue); an unreadable context is reported as ``{"error": ...}``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify

from disconf_core import app_node, standby_node
from disconf_core.standby import (
    CONTEXT_NODE,
    StandbyDataError,
    decode_context,
    parse_contenders,
)

from .. import services
from ..auth import require_app, require_user
from ..services import NotFound, Unavailable
from ..state import get_notifier
from .admin import VERSION_URL, bp

__all__ = ["get_election", "list_elections"]


def _read_election(path: str, name: str) -> dict[str, Any]:
    children = _children_with_data(path)
    contenders = parse_contenders((child.name, child.data) for child in children)
    context: dict[str, Any] | None = None
    for child in children:
        if child.name == CONTEXT_NODE:
            try:
                saved = decode_context(child.data)
            except StandbyDataError as exc:
                context = {"error": str(exc)}
            else:
                if saved is not None:
                    context = {
                        "token": saved.token,
                        "size": saved.size,
                        "saved_at": saved.saved_at,
                        "host": saved.host,
                        "pid": saved.pid,
                        "format": "bytes" if isinstance(saved.value, bytes) else "json",
                    }
    rows = [contender.to_json() for contender in contenders]
    return {
        "name": name,
        "path": path,
        "master": rows[0] if rows else None,
        "contenders": rows,
        "context": context,
    }


def _children_with_data(path: str) -> list[Any]:
    notifier = get_notifier(current_app)
    notifier.ensure_started()
    try:
        return list(notifier.instances(path))
    except Exception as exc:  # noqa: BLE001 - ZooKeeper disabled, down or timing out
        raise Unavailable(f"cannot read master/standby elections from ZooKeeper: {exc}") from exc


def _check(app: str, env: str, version: str) -> Any:
    user = require_user()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    return coords


@bp.get(VERSION_URL + "/standby")
def list_elections(app: str, env: str, version: str) -> Response:
    coords = _check(app, env, version)
    root = f"{app_node(current_app.config['ZK_PREFIX'], coords)}/standby"
    names = sorted(child.name for child in _children_with_data(root))
    elections = [_read_election(f"{root}/{name}", name) for name in names]
    return jsonify({"path": root, "elections": elections})


@bp.get(VERSION_URL + "/standby/<name>")
def get_election(app: str, env: str, version: str, name: str) -> Response:
    coords = _check(app, env, version)
    try:
        path = standby_node(current_app.config["ZK_PREFIX"], coords, name)
    except ValueError as exc:
        raise services.BadRequest(str(exc)) from exc
    election = _read_election(path, name)
    if not election["contenders"] and election["context"] is None:
        raise NotFound(
            f"no master/standby election {name!r} for {coords}: no contender, no context"
        )
    return jsonify(election)
