"""The Disconf client endpoints, byte-compatible with the original server (spec section 1).

No authentication, no session, one indexed query per answer (Core SQL, no ORM objects): these
are the endpoints every client polls. Errors keep the original's shapes: the value envelope
answers HTTP 200 with ``status`` 0 and a message; ``/api/config/file`` answers 404 with an empty
body; the list endpoints answer ``success: "false"`` with a ``global`` message.
Extras on top of the original (ignored by old clients): ``ETag`` and ``X-Disconf-MD5`` on file and
item answers, so a client can check what it downloaded.

Database down: ``/api/config/item`` and ``/api/config/file`` answer the last value this process
served for that config (:class:`LastServed`, consulted only when the query fails), so clients
keep reading already-published configs; a config this process never served fails as before.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, request

from disconf_core import ConfigType
from disconf_core.hashing import content_md5

from ..extensions import get_db
from ..models import App, Config, ConfigStatus, Env

__all__ = ["bp", "envelope"]

bp = Blueprint("client_api", __name__)

_JSON = "application/json;charset=UTF-8"
_C = Config.__table__
_A = App.__table__
_E = Env.__table__

_ONE = (
    sa.select(_C.c.value, _C.c.md5)
    .select_from(_C.join(_A, _A.c.id == _C.c.app_id).join(_E, _E.c.id == _C.c.env_id))
    .where(
        _A.c.name == sa.bindparam("app"),
        _E.c.name == sa.bindparam("env"),
        _C.c.version == sa.bindparam("version"),
        _C.c.type == sa.bindparam("type"),
        _C.c.name == sa.bindparam("name"),
        _C.c.status == int(ConfigStatus.LIVE),
    )
)
_LIST = (
    sa.select(
        _C.c.id,
        _C.c.type,
        _C.c.status,
        _C.c.name,
        _C.c.value,
        _C.c.app_id,
        _C.c.version,
        _C.c.env_id,
        _C.c.created_at,
        _C.c.updated_at,
    )
    .select_from(_C.join(_A, _A.c.id == _C.c.app_id).join(_E, _E.c.id == _C.c.env_id))
    .where(
        _A.c.name == sa.bindparam("app"),
        _E.c.name == sa.bindparam("env"),
        _C.c.version == sa.bindparam("version"),
        _C.c.status == int(ConfigStatus.LIVE),
    )
    .order_by(_C.c.id)
)


def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def envelope(status: int, message: str, value: str) -> Response:
    """The original's value envelope, always HTTP 200, fields in the order status, message,
    value."""
    return Response(
        _dumps({"status": status, "message": message, "value": value}), 200, mimetype=_JSON
    )


def _missing(*names: str) -> str | None:
    for name in names:
        if not request.args.get(name):
            return f"{name} is empty"
    return None


def _why_not_found(app: str, env: str) -> str:
    """Only on a miss: name the unknown app or env, else the config is missing."""
    with get_db(current_app).engine.connect() as connection:
        if connection.execute(sa.select(_A.c.id).where(_A.c.name == app)).first() is None:
            return f"app {app} doesn't exist"
        if connection.execute(sa.select(_E.c.id).where(_E.c.name == env)).first() is None:
            return f"env {env} doesn't exist"
    return "cannot find this config"


def _lookup(kind: ConfigType) -> tuple[str, str] | None:
    args = request.args
    params = {
        "app": args["app"],
        "env": args["env"],
        "version": args["version"],
        "type": int(kind),
        "name": args["key"],
    }
    cache_key = (args["app"], args["env"], args["version"], int(kind), args["key"])
    try:
        with get_db(current_app).engine.connect() as connection:
            row = connection.execute(_ONE, params).first()
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        # Database down: answer the last value this process served (see LastServed).
        cached = _last_served.get(cache_key)
        if cached is None:
            raise
        return cached
    if row is None:
        _last_served.discard(cache_key)
        return None
    _last_served.put(cache_key, (row.value, row.md5))
    return row.value, row.md5


class LastServed:
    """The last (value, md5) this process served per config, used ONLY while the database is
    unreachable, so clients keep reading already-published configs through an outage. Bounded
    (``max_bytes`` of values, least recently served dropped first). Never used while the database
    answers, so it cannot serve a stale value then."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str, str, int, str], tuple[str, str]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, key: tuple[str, str, str, int, str], entry: tuple[str, str]) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[0])
            if len(entry[0]) > self.max_bytes:
                return
            self._entries[key] = entry
            self._bytes += len(entry[0])
            while self._bytes > self.max_bytes:
                _key, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped[0])

    def get(self, key: tuple[str, str, str, int, str]) -> tuple[str, str] | None:
        with self._lock:
            return self._entries.get(key)

    def discard(self, key: tuple[str, str, str, int, str]) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[0])


_last_served = LastServed()


@bp.get("/api/zoo/hosts")
def zoo_hosts() -> Response:
    return envelope(1, "", current_app.config["ZK_HOSTS"])


@bp.get("/api/zoo/prefix")
def zoo_prefix() -> Response:
    return envelope(1, "", current_app.config["ZK_PREFIX"])


@bp.get("/api/config/item")
def config_item() -> Response:
    problem = _missing("app", "env", "version", "key")
    if problem:
        return envelope(0, problem, "")
    found = _lookup(ConfigType.ITEM)
    if found is None:
        return envelope(0, _why_not_found(request.args["app"], request.args["env"]), "")
    value, md5 = found
    response = envelope(1, "", value)
    response.headers["ETag"] = f'"{md5}"'
    response.headers["X-Disconf-MD5"] = md5
    return response


@bp.get("/api/config/file")
def config_file() -> Response:
    if _missing("app", "env", "version", "key"):
        return Response(b"", 404)
    found = _lookup(ConfigType.FILE)
    if found is None:
        return Response(b"", 404)
    value, md5 = found
    body = value.encode("utf-8")
    if content_md5(body) != md5:  # never serve a row whose content does not match its hash
        return Response(b"", 404)
    response = Response(body, 200, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = (
        f"attachment; filename={quote_plus(request.args['key'], safe='*')}"
    )
    response.headers["ETag"] = f'"{md5}"'
    response.headers["X-Disconf-MD5"] = md5
    return response


def _time(value: datetime) -> str:
    return value.strftime("%Y%m%d%H%M%S")


def _list(with_values: bool) -> Response:
    problem = _missing("app", "env", "version")
    if problem is None:
        args = request.args
        params = {"app": args["app"], "env": args["env"], "version": args["version"]}
        with get_db(current_app).engine.connect() as connection:
            rows = connection.execute(_LIST, params).all()
        if not rows:
            message = _why_not_found(args["app"], args["env"])
            if message != "cannot find this config":
                problem = message
    if problem is not None:
        body: dict[str, Any] = {
            "success": "false",
            "message": {"global": problem},
            "sessionId": "",
            "status": 1,
        }
        return Response(_dumps(body), 200, mimetype=_JSON)
    result = [
        {
            "id": row.id,
            "type": row.type,
            "status": row.status,
            "name": row.name,
            "value": row.value if with_values else None,
            "appId": row.app_id,
            "version": row.version,
            "envId": row.env_id,
            "createTime": _time(row.created_at),
            "updateTime": _time(row.updated_at),
        }
        for row in rows
    ]
    body = {
        "success": "true",
        "message": {},
        "sessionId": "",
        "page": {
            "result": result,
            "totalCount": len(result),
            "pageNo": 1,
            "pageSize": len(result),
        },
    }
    return Response(_dumps(body), 200, mimetype=_JSON)


@bp.get("/api/config/list")
def config_list() -> Response:
    return _list(with_values=True)


@bp.get("/api/config/simple/list")
def config_simple_list() -> Response:
    return _list(with_values=False)
