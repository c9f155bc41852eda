"""The admin REST API under ``/api/v1``: apps, envs, versions, files, items, revisions,
rollback and the instance self-check. JSON in and out (a file's PUT and GET carry its raw
bytes); errors are ``{"error": "<message>"}`` with the matching HTTP status. The whole API is
described by the OpenAPI document served at ``/api/v1/openapi.json`` (:mod:`.openapi`).

Every list is paginated (:mod:`disconf_web.services.listing`): ``?limit=`` (default 100, at most
500) and the ``next`` URL of the body (also sent as ``Link: <...>; rel="next"``) for the next
page; ``next`` is null on the last page.

A file's ``PUT`` takes the raw bytes of the body whatever its declared ``Content-Type`` (curl's
``--data-binary`` sends ``application/x-www-form-urlencoded``), or one file part of a
``multipart/form-data`` body (``curl -F file=@redis.properties``).

Views declare what they act on with :func:`scoped`: it authenticates the caller, validates the
app/env/version/kind from the URL and checks the caller's grant (read or write) before the view
runs, handing the view a :class:`Scope`.

Every change goes through the app's :class:`~disconf_web.publisher.Publisher` (revision, audit
and notification in one transaction, then the inline delivery bounded by
``NOTIFY_INLINE_TIMEOUT``) and answers ``"notification": "delivered"`` or ``"pending"`` (the
notifier's sweeper retries pending ones; ``"failed"`` when ZooKeeper refused it for good).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, current_app, jsonify, request

from disconf_core import (
    ConfigType,
    Coordinates,
    InvalidNameError,
    config_node,
    validate_config_name,
)

from .. import services
from ..auth import require_admin, require_app, require_user, visible_app_ids
from ..extensions import get_db
from ..guard import fleet_outcome, force_reason
from ..instances import SharedNode, require_own_node, self_check
from ..models import Env, Role, User
from ..publisher import Published, get_publisher
from ..services import (
    BadRequest,
    ServiceError,
    Unavailable,
    listing,
)
from ..urls import CONFIG_URL, KINDS, VERSION_URL
from .serialize import app_json, config_json, env_json, revision_json, revision_meta_json

__all__ = ["KINDS", "VERSION_URL", "Scope", "bp", "error_response", "paged", "scoped"]

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1")

# Comments are stored in a 1000-character column, wherever they come from.
MAX_COMMENT = 1000

V = TypeVar("V", bound=Callable[..., Any])


def error_response(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


@bp.errorhandler(InvalidNameError)
def _invalid_name(exc: InvalidNameError) -> Response:
    """A name refused anywhere below a view (a helper, the guard) is the caller's 400."""
    return error_response(400, str(exc))


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Response:
    response = error_response(exc.status, str(exc))
    body = getattr(exc, "body", None)  # structured details (the publish guard's 422)
    if callable(body):
        response.set_data(json.dumps({"error": str(exc), **body()}, ensure_ascii=False))
    return response


def _session() -> Any:
    return get_db(current_app).session()


# -- what a view acts on -------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The caller and the validated URL coordinates of one admin API request."""

    user: User
    app: str
    env: str | None = None
    version: str | None = None
    kind: ConfigType | None = None

    @property
    def coords(self) -> Coordinates:
        assert self.env is not None and self.version is not None
        return services.coordinates(self.app, self.env, self.version)

    @property
    def config_type(self) -> ConfigType:
        assert self.kind is not None
        return self.kind


def _kind(kind: str) -> ConfigType:
    try:
        return KINDS[kind]
    except KeyError:
        raise services.NotFound(f"unknown config kind {kind!r}: use files or items") from None


def scoped(*, write: bool) -> Callable[[V], V]:
    """Authenticate, validate ``app``/``env``/``version``/``kind`` of the URL, check the grant.

    The view receives a :class:`Scope` first, then the URL values not consumed here (``name``).
    Names are validated before the grant is checked (a malformed name is a 400 for everyone);
    a config ``name`` by the rules every stored name follows (publishing checks more).
    """

    def decorate(view: V) -> V:
        @wraps(view)
        def wrapper(**values: Any) -> Any:
            user = require_user()
            app, env, version = (
                values.pop("app"),
                values.pop("env", None),
                values.pop("version", None),
            )
            kind = _kind(values.pop("kind")) if "kind" in values else None
            if env is not None and version is not None:
                services.coordinates(app, env, version)
            if kind is not None and "name" in values:
                # The structural rules every config name ever stored follows (lookups too).
                validate_config_name(values["name"], kind.segment, storable=False)
            require_app(user, app, write=write)
            return view(Scope(user, app, env, version, kind), **values)

        return cast(V, wrapper)

    return decorate


# -- request bodies -----------------------------------------------------------------------------


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise services.UnsupportedMediaType(
            f"send a JSON object with Content-Type: application/json "
            f"(got {request.mimetype or 'no Content-Type'!r})"
        )
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise BadRequest("the JSON body is nested too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body is not a JSON object")
    _check_unicode(body, "$")
    return body


def _check_unicode(value: Any, where: str) -> None:
    """Refuse strings that are not Unicode text (lone surrogates from ``\\ud800`` escapes)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadRequest(
                f"{where} is not valid Unicode text: lone surrogate "
                f"U+{ord(value[exc.start]):04X} at character {exc.start}"
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_unicode(key, f"a key of {where}")
            _check_unicode(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_unicode(item, f"{where}[{index}]")


def _string(body: dict[str, Any], key: str, *, required: bool = True, default: str = "") -> str:
    value = body.get(key, None)
    if value is None:
        if required:
            raise BadRequest(f"missing field {key!r}")
        return default
    if not isinstance(value, str):
        shown = json.dumps(value, ensure_ascii=True)[:100]
        raise BadRequest(f"field {key!r} must be a string, not {type(value).__name__}: {shown}")
    return value


def check_comment(comment: str, where: str = "comment") -> str:
    """A comment from any source: at most :data:`MAX_COMMENT` characters of Unicode text."""
    if len(comment) > MAX_COMMENT:
        raise BadRequest(f"{where} is {len(comment)} characters: at most {MAX_COMMENT}")
    _check_unicode(comment, where)
    return comment


def _comment() -> str:
    comment = request.args.get("comment") or request.headers.get("X-Disconf-Comment") or ""
    return check_comment(comment)


def _config_response(published: Published, status: int) -> Response:
    result, notification = published
    body = config_json(result.config, with_value=result.config.type == ConfigType.ITEM)
    body.update(changed=result.changed, notification=notification, fleet_check=fleet_outcome())
    response = jsonify(body)
    response.status_code = status
    response.headers["ETag"] = f'"{result.config.md5}"'
    return response


# -- pages --------------------------------------------------------------------------------------


def _page_args() -> tuple[int, str | None]:
    return listing.parse_limit(request.args.get("limit")), request.args.get("cursor") or None


def request_path() -> str:
    """This request's path as a URL (a name may hold ``?``, ``#``, ``%`` or spaces)."""
    return quote(request.script_root + request.path, safe="/:@!$&'()*+,;=-._~")


def paged(key: str, items: list[Any], next_cursor: str | None, **extra: Any) -> Response:
    """``{**extra, key: items, "next": url|null}`` plus ``Link: <url>; rel="next"``."""
    next_url = None
    if next_cursor is not None:
        args = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
        args.append(("cursor", next_cursor))
        next_url = request_path() + "?" + urlencode(args)
    response = jsonify({**extra, key: items, "next": next_url})
    if next_url is not None:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


# -- apps and envs ---------------------------------------------------------------------------


@bp.get("/apps")
def list_apps() -> Response:
    user = require_user()
    limit, cursor = _page_args()
    page = listing.page_apps(_session(), only_ids=visible_app_ids(user), limit=limit, cursor=cursor)
    return paged("apps", [app_json(app) for app in page.items], page.next_cursor)


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
@scoped(write=False)
def get_app(scope: Scope) -> Response:
    return jsonify(app_json(services.get_app(_session(), scope.app)))


@bp.get("/envs")
def list_envs() -> Response:
    require_user()
    limit, cursor = _page_args()
    page = listing.page_by_name(_session(), Env, limit=limit, cursor=cursor)
    return paged("envs", [env_json(env) for env in page.items], page.next_cursor)


@bp.post("/envs")
def create_env() -> tuple[Response, int]:
    user = require_user()
    require_admin(user, "create envs")
    env = services.create_env(_session(), name=_string(_json_body(), "name"), actor=user.name)
    return jsonify(env_json(env)), 201


@bp.get("/apps/<app>/envs/<env>/versions")
@scoped(write=False)
def list_versions(scope: Scope) -> Response:
    limit, cursor = _page_args()
    assert scope.env is not None
    page = listing.page_versions(
        _session(), app=scope.app, env=scope.env, limit=limit, cursor=cursor
    )
    return paged("versions", page.items, page.next_cursor, app=scope.app, env=scope.env)


@bp.get(VERSION_URL + "/configs")
@scoped(write=False)
def list_configs(scope: Scope) -> Response:
    limit, cursor = _page_args()
    page = listing.page_configs(_session(), scope.coords, limit=limit, cursor=cursor)
    return paged(
        "configs",
        [config_json(config) for config in page.items],
        page.next_cursor,
        app=scope.app,
        env=scope.env,
        version=scope.version,
    )


# -- files and items -------------------------------------------------------------------------


def _item_value() -> str:
    body = _json_body()
    if "value" not in body:
        raise BadRequest('missing field "value": send {"value": "<the item value>"}')
    value = body["value"]
    if not isinstance(value, str):
        shown = json.dumps(value, ensure_ascii=True)[:100]
        raise BadRequest(
            f'field "value" must be a JSON string, not {type(value).__name__}: send '
            f'{{"value": "{shown}"}}'
        )
    return value


def _file_content(name: str) -> bytes:
    """The file's bytes: the raw body (any Content-Type), or the one part of a multipart body."""
    limit = current_app.config["MAX_CONFIG_BYTES"]
    if request.content_length is not None and request.content_length > limit * 2 + 65536:
        raise services.PayloadTooLarge(
            f"file {name!r} is {request.content_length} bytes: "
            f"over the limit of {limit} bytes (DISCONF_MAX_CONFIG_BYTES)"
        )
    if request.mimetype != "multipart/form-data":
        if request.content_length is not None and request.content_length > limit:
            raise services.PayloadTooLarge(
                f"file {name!r} is {request.content_length} bytes: "
                f"over the limit of {limit} bytes (DISCONF_MAX_CONFIG_BYTES)"
            )
        # Read before anything touches request.form: the body is the file, whatever its type.
        return request.get_data(cache=False, parse_form_data=False)
    parts = [(key, part) for key, part in request.files.items(multi=True)]
    fields = [(key, value) for key, value in request.form.items(multi=True)]
    if len(parts) + len(fields) != 1:
        names = [key for key, _ in parts] + [key for key, _ in fields]
        found = ", ".join(repr(key) for key in names) or "none"
        raise BadRequest(
            f"a multipart upload must carry exactly one part, the file "
            f"(curl -F file=@{name}); found: {found}"
        )
    if parts:
        return bytes(parts[0][1].read(limit + 1))
    text = str(fields[0][1])
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"the multipart part of file {name!r} is not valid UTF-8") from None


@bp.put(CONFIG_URL)
@scoped(write=True)
def put_config(scope: Scope, name: str) -> Response:
    kind = scope.config_type
    content: bytes | str = _file_content(name) if kind is ConfigType.FILE else _item_value()
    published = get_publisher(current_app).publish_config(
        _session(),
        coords=scope.coords,
        kind=kind,
        name=name,
        content=content,
        force=force_reason(scope.user),
        actor=scope.user.name,
        comment=_comment(),
        if_match=request.headers.get("If-Match"),
    )
    return _config_response(published, 201 if published.result.created else 200)


@bp.get(CONFIG_URL)
@scoped(write=False)
def get_config(scope: Scope, name: str) -> Response:
    config = services.get_config(_session(), scope.coords, scope.config_type, name)
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


@bp.delete(CONFIG_URL)
@scoped(write=True)
def delete_config(scope: Scope, name: str) -> Response:
    result, notification = get_publisher(current_app).delete_config(
        _session(),
        coords=scope.coords,
        kind=scope.config_type,
        name=name,
        actor=scope.user.name,
        comment=_comment(),
        if_match=request.headers.get("If-Match"),
    )
    body = config_json(result.config)
    body.update(deleted=True, notification=notification)
    return jsonify(body)


@bp.get(CONFIG_URL + "/revisions")
@scoped(write=False)
def list_revisions(scope: Scope, name: str) -> Response:
    limit, cursor = _page_args()
    page = listing.page_revisions(
        _session(), scope.coords, scope.config_type, name, limit=limit, cursor=cursor
    )
    base = request_path()
    return paged(
        "revisions",
        [revision_meta_json(rev, f"{base}/{rev.number}") for rev in page.items],
        page.next_cursor,
        name=name,
    )


@bp.get(CONFIG_URL + "/revisions/<int(max=2147483647):number>")
@scoped(write=False)
def get_revision(scope: Scope, name: str, number: int) -> Response:
    revision = listing.get_revision(_session(), scope.coords, scope.config_type, name, number)
    return jsonify({"name": name, **revision_json(revision)})


def _revision_number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        shown = json.dumps(value, ensure_ascii=True)[:100]
        raise BadRequest(f'field "revision" must be an integer revision number, not {shown}')
    if not 1 <= value <= listing.MAX_REVISION:
        raise BadRequest(f'field "revision" must be from 1 to {listing.MAX_REVISION}, not {value}')
    return value


@bp.post(CONFIG_URL + "/rollback")
@scoped(write=True)
def rollback(scope: Scope, name: str) -> Response:
    body = _json_body()
    target = _revision_number(body.get("revision"))
    comment = body.get("comment", "")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise BadRequest('field "comment" must be a string')
    published = get_publisher(current_app).rollback_config(
        _session(),
        coords=scope.coords,
        kind=scope.config_type,
        name=name,
        to_revision=target,
        force=force_reason(scope.user),
        actor=scope.user.name,
        comment=check_comment(comment, 'field "comment"') or _comment(),
        if_match=request.headers.get("If-Match"),
    )
    return _config_response(published, 200)


@bp.get(CONFIG_URL + "/instances")
@scoped(write=False)
def instances(scope: Scope, name: str) -> Response:
    config = services.get_config(_session(), scope.coords, scope.config_type, name)
    config_type = ConfigType(config.type)
    prefix = current_app.config["ZK_PREFIX"]
    path = config_node(prefix, scope.coords, config_type, name)
    try:
        require_own_node(_session(), prefix, scope.coords)
    except SharedNode as exc:
        raise services.Conflict(str(exc)) from exc
    registry = get_publisher(current_app).instances
    try:
        registry.wait_connected()
        checks = self_check(registry, prefix, scope.coords, [config])
    except Exception as exc:  # noqa: BLE001 - ZooKeeper down, paused or timing out
        raise Unavailable(f"cannot read instances from ZooKeeper: {exc}") from exc
    rows = []
    found = checks[config.id]
    for check in found.instances:
        rows.append(
            {
                "name": check.name,
                "value": check.value,
                "ok": check.ok,
                "mismatched": check.mismatched,
                "error": check.error,
                "variant": "gray" if check.name in found.on_gray else "main",
            }
        )
    mismatched = sum(1 for row in rows if not row["ok"])
    response = jsonify(
        {
            "name": name,
            "type": config_type.segment,
            "md5": config.md5,
            "path": path,
            "gray": None
            if found.gray_release is None
            else {"release": found.gray_release, "instances": found.gray},
            "instances": rows,
            "counts": {"instances": len(rows), "mismatched": mismatched},
        }
    )
    response.headers["ETag"] = f'"{config.md5}"'
    return response
