"""The admin REST API under ``/api/v1``: apps, envs, versions, files, items, revisions,
rollback and the instance self-check. JSON in and out (a file's PUT and GET carry its raw
bytes); errors are ``{"error": "<message>"}`` with the matching HTTP status.

Every change goes through :mod:`disconf_web.services`; after the commit the request delivers its
own ZooKeeper notification inline (bounded by ``NOTIFY_INLINE_TIMEOUT``) and answers
``"notification": "delivered"`` or ``"pending"`` (the notifier's sweeper retries pending ones).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from disconf_core import (
    ConfigType,
    check_file_instance,
    check_item_instance,
    config_node,
)

from .. import services
from ..auth import require_admin, require_app, require_user, visible_app_ids
from ..extensions import get_db
from ..models import Config, Role
from ..notifier import ZooKeeperUnavailable
from ..services import (
    BadRequest,
    ChangeResult,
    ServiceError,
    Unavailable,
    UnsupportedMediaType,
)
from ..state import get_notifier
from .serialize import app_json, config_json, env_json, revision_json

__all__ = ["bp", "error_response"]

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1")

VERSION_URL = "/apps/<app>/envs/<env>/versions/<version>"
_KINDS = {"files": ConfigType.FILE, "items": ConfigType.ITEM}


def error_response(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Response:
    return error_response(exc.status, str(exc))


def _session() -> Any:
    return get_db(current_app).session()


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise UnsupportedMediaType(
            f"send a JSON object with Content-Type: application/json "
            f"(got {request.mimetype or 'no Content-Type'!r})"
        )
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body is not a JSON object")
    return body


def _string(body: dict[str, Any], key: str, *, required: bool = True, default: str = "") -> str:
    value = body.get(key, None)
    if value is None:
        if required:
            raise BadRequest(f"missing field {key!r}")
        return default
    if not isinstance(value, str):
        raise BadRequest(f"field {key!r} must be a string, not {type(value).__name__}: {value!r}")
    return value


def _comment() -> str:
    comment = request.args.get("comment") or request.headers.get("X-Disconf-Comment") or ""
    if len(comment) > 1000:
        raise BadRequest("comment is longer than 1000 characters")
    return comment


def _settings() -> dict[str, Any]:
    config = current_app.config
    return {"zk_prefix": config["ZK_PREFIX"]}


def _deliver(result: ChangeResult) -> str:
    if not result.changed or not result.notification_ids:
        return "none"
    notifier = get_notifier(current_app)
    notifier.ensure_started()
    return "delivered" if notifier.deliver_through(result.notification_ids) else "pending"


def _config_response(result: ChangeResult, notification: str, status: int) -> Response:
    body = config_json(result.config, with_value=result.config.type == ConfigType.ITEM)
    body.update(changed=result.changed, notification=notification)
    response = jsonify(body)
    response.status_code = status
    response.headers["ETag"] = f'"{result.config.md5}"'
    return response


# -- apps and envs ---------------------------------------------------------------------------


@bp.get("/apps")
def list_apps() -> Response:
    user = require_user()
    apps = services.list_apps(_session(), only_ids=visible_app_ids(user))
    return jsonify({"apps": [app_json(app) for app in apps]})


@bp.post("/apps")
def create_app() -> tuple[Response, int]:
    user = require_user()
    if user.role == Role.VIEWER.value:
        raise services.Forbidden(f"user {user.name!r} is a viewer: viewers cannot create apps")
    body = _json_body()
    app = services.create_app_record(
        _session(),
        name=_string(body, "name"),
        description=_string(body, "description", required=False),
        actor=user.name,
        actor_user_id=user.id,
    )
    return jsonify(app_json(app)), 201


@bp.get("/apps/<app>")
def get_app(app: str) -> Response:
    user = require_user()
    return jsonify(app_json(require_app(user, app, write=False)))


@bp.get("/envs")
def list_envs() -> Response:
    require_user()
    return jsonify({"envs": [env_json(env) for env in services.list_envs(_session())]})


@bp.post("/envs")
def create_env() -> tuple[Response, int]:
    user = require_user()
    require_admin(user, "create envs")
    env = services.create_env(_session(), name=_string(_json_body(), "name"), actor=user.name)
    return jsonify(env_json(env)), 201


@bp.get("/apps/<app>/envs/<env>/versions")
def list_versions(app: str, env: str) -> Response:
    user = require_user()
    require_app(user, app, write=False)
    versions = services.list_versions(_session(), app, env)
    return jsonify({"app": app, "env": env, "versions": versions})


@bp.get(VERSION_URL + "/configs")
def list_configs(app: str, env: str, version: str) -> Response:
    user = require_user()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    configs = services.list_configs(_session(), coords)
    return jsonify(
        {
            "app": app,
            "env": env,
            "version": version,
            "configs": [config_json(config) for config in configs],
        }
    )


# -- files and items -------------------------------------------------------------------------


def _kind(kind: str) -> ConfigType:
    try:
        return _KINDS[kind]
    except KeyError:
        raise services.NotFound(f"unknown config kind {kind!r}: use files or items") from None


def _item_value() -> str:
    body = _json_body()
    if "value" not in body:
        raise BadRequest('missing field "value": send {"value": "<the item value>"}')
    value = body["value"]
    if not isinstance(value, str):
        raise BadRequest(
            f'field "value" must be a JSON string, not {type(value).__name__}: send '
            f'{{"value": "{value}"}}'
        )
    return value


def _file_content() -> bytes:
    limit = current_app.config["MAX_CONFIG_BYTES"]
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise UnsupportedMediaType(
            f"send the raw file bytes as the request body, not {request.mimetype}"
        )
    if request.content_length is not None and request.content_length > limit:
        raise services.PayloadTooLarge(
            f"file {request.view_args['name']!r} is {request.content_length} bytes: "  # type: ignore[index]
            f"over the limit of {limit} bytes (DISCONF_MAX_CONFIG_BYTES)"
        )
    return request.get_data(cache=False)


@bp.put(VERSION_URL + "/<any(files, items):kind>/<name>")
def put_config(app: str, env: str, version: str, kind: str, name: str) -> Response:
    user = require_user()
    config_type = _kind(kind)
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=True)
    content: bytes | str = _file_content() if config_type is ConfigType.FILE else _item_value()
    result = services.publish_config(
        _session(),
        coords=coords,
        kind=config_type,
        name=name,
        content=content,
        actor=user.name,
        comment=_comment(),
        if_match=request.headers.get("If-Match"),
        max_bytes=current_app.config["MAX_CONFIG_BYTES"],
        **_settings(),
    )
    status = 201 if result.created else 200
    return _config_response(result, _deliver(result), status)


def _live(app: str, env: str, version: str, kind: str, name: str) -> Config:
    user = require_user()
    config_type = _kind(kind)
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    return services.get_config(_session(), coords, config_type, name)


@bp.get(VERSION_URL + "/<any(files, items):kind>/<name>")
def get_config(app: str, env: str, version: str, kind: str, name: str) -> Response:
    config = _live(app, env, version, kind, name)
    etag = f'"{config.md5}"'
    if config.type == ConfigType.FILE:
        response = Response(config.value.encode("utf-8"), 200, mimetype="application/octet-stream")
        response.headers["X-Disconf-Revision"] = str(config.revision)
    else:
        response = jsonify(config_json(config, with_value=True))
    response.headers["ETag"] = etag
    if etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers={"ETag": etag})
    return response


@bp.delete(VERSION_URL + "/<any(files, items):kind>/<name>")
def delete_config(app: str, env: str, version: str, kind: str, name: str) -> Response:
    user = require_user()
    config_type = _kind(kind)
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=True)
    result = services.delete_config(
        _session(),
        coords=coords,
        kind=config_type,
        name=name,
        actor=user.name,
        comment=_comment(),
        if_match=request.headers.get("If-Match"),
        **_settings(),
    )
    body = config_json(result.config)
    body.update(deleted=True, notification="none")
    return jsonify(body)


@bp.get(VERSION_URL + "/<any(files, items):kind>/<name>/revisions")
def list_revisions(app: str, env: str, version: str, kind: str, name: str) -> Response:
    user = require_user()
    config_type = _kind(kind)
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    revisions = services.list_revisions(_session(), coords, config_type, name)
    return jsonify({"name": name, "revisions": [revision_json(rev) for rev in revisions]})


@bp.post(VERSION_URL + "/<any(files, items):kind>/<name>/rollback")
def rollback(app: str, env: str, version: str, kind: str, name: str) -> Response:
    user = require_user()
    config_type = _kind(kind)
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=True)
    body = _json_body()
    target = body.get("revision")
    if isinstance(target, bool) or not isinstance(target, int):
        raise BadRequest(f'field "revision" must be an integer revision number, not {target!r}')
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        raise BadRequest('field "comment" must be a string')
    result = services.rollback_config(
        _session(),
        coords=coords,
        kind=config_type,
        name=name,
        to_revision=target,
        actor=user.name,
        comment=comment or _comment(),
        if_match=request.headers.get("If-Match"),
        max_bytes=current_app.config["MAX_CONFIG_BYTES"],
        **_settings(),
    )
    return _config_response(result, _deliver(result), 200)


@bp.get(VERSION_URL + "/<any(files, items):kind>/<name>/instances")
def instances(app: str, env: str, version: str, kind: str, name: str) -> Response:
    config = _live(app, env, version, kind, name)
    config_type = ConfigType(config.type)
    coords = services.coordinates(app, env, version)
    notifier = get_notifier(current_app)
    notifier.ensure_started()
    path = config_node(current_app.config["ZK_PREFIX"], coords, config_type, name)
    try:
        found = notifier.instances(path)
    except (ZooKeeperUnavailable, Exception) as exc:
        raise Unavailable(f"cannot read instances from ZooKeeper: {exc}") from exc
    rows = []
    for instance in found:
        if config_type is ConfigType.FILE:
            check = check_file_instance(instance.name, name, config.value, instance.data)
        else:
            check = check_item_instance(instance.name, config.value, instance.data)
        rows.append(
            {
                "name": check.name,
                "value": check.value,
                "ok": check.ok,
                "mismatched": check.mismatched,
                "error": check.error,
            }
        )
    mismatched = sum(1 for row in rows if not row["ok"])
    response = jsonify(
        {
            "name": name,
            "type": config_type.segment,
            "md5": config.md5,
            "path": path,
            "instances": rows,
            "counts": {"instances": len(rows), "mismatched": mismatched},
        }
    )
    response.headers["ETag"] = f'"{config.md5}"'
    return response
