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
Read-only; any user who may read the app may call it. ZooKeeper unreachable (or disabled,
``SUSPENDED``, session ``LOST``): 503 with the reason; database down: 503. A node shared with
other coordinates (app ``col`` version ``x_v1`` and app ``col_x`` version ``v1`` both map to
``col_x_v1``): 409 naming them, so nobody sees another app's elections.
No ``standby`` node: an empty list; an unknown election name: 404. A
contender node whose data is not ours is listed with null host/pid/since (it still holds its
place in the queue); an unreadable context is reported as ``{"error": ...}``.
"""

from __future__ import annotations

from flask import Response, current_app, jsonify

from disconf_core import Coordinates, standby_node

from .. import services
from ..auth import require_app, require_user
from ..elections import ElectionsUnavailable, elections_root, read_election, read_elections
from ..extensions import get_db
from ..instances import SharedNode, require_own_node
from ..publisher import get_publisher
from ..services import NotFound, Unavailable
from .admin import VERSION_URL, bp

__all__ = ["get_election", "list_elections"]


def _check(app: str, env: str, version: str) -> Coordinates:
    user = require_user()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    try:
        require_own_node(get_db(current_app).session(), current_app.config["ZK_PREFIX"], coords)
    except SharedNode as exc:
        raise services.Conflict(str(exc)) from exc
    return coords


@bp.get(VERSION_URL + "/standby")
def list_elections(app: str, env: str, version: str) -> Response:
    coords = _check(app, env, version)
    prefix = current_app.config["ZK_PREFIX"]
    try:
        elections = read_elections(get_publisher(current_app).instances, prefix, coords)
    except ElectionsUnavailable as exc:
        raise Unavailable(str(exc)) from exc
    return jsonify({"path": elections_root(prefix, coords), "elections": elections})


@bp.get(VERSION_URL + "/standby/<name>")
def get_election(app: str, env: str, version: str, name: str) -> Response:
    coords = _check(app, env, version)
    try:
        path = standby_node(current_app.config["ZK_PREFIX"], coords, name)
    except ValueError as exc:
        raise services.BadRequest(str(exc)) from exc
    try:
        election = read_election(get_publisher(current_app).instances, path, name)
    except ElectionsUnavailable as exc:
        raise Unavailable(str(exc)) from exc
    if not election["contenders"] and election["context"] is None:
        raise NotFound(
            f"no master/standby election {name!r} for {coords}: no contender, no context"
        )
    return jsonify(election)
