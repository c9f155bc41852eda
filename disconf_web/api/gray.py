"""Admin API for gray releases (:mod:`disconf_web.gray`)::

    POST .../<kind>/<name>/gray           start one: {"content"|"value", "target", "comment"}
    GET  .../<kind>/<name>/gray           the running one and its instances (gray, main, applied)
    POST .../<kind>/<name>/gray/promote   {"comment"}: the next normal revision for everyone
    POST .../<kind>/<name>/gray/abort     {"comment"}: targeted instances return to main
    GET  .../<kind>/<name>/gray/history   every gray release of the config, newest first

Starting, promoting and aborting need write access to the app (like publishing). The gray
content goes through the publish guard (syntax; the running fleet's schemas, forced with
``?force_reason=`` by an admin) like a publish. Answers carry ``"notification"`` like every
change. Error Handling: as the rest of ``/api/v1`` (database down: 503, nothing written;
ZooKeeper down: the change commits and its notification stays pending; the instance list of
``GET .../gray`` then says ``"instances": null`` with the reason).
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify

from disconf_core import ConfigType, Coordinates, config_node

from .. import services
from ..gray import releases as gray_releases
from ..gray import rollout as gray_rollout
from ..gray import targeting as gray_targeting
from ..guard import force_reason
from ..instances import SharedNode, require_own_node
from ..models import GrayStatus
from ..publisher import get_publisher
from ..services import BadRequest
from ..services.configs import _decode
from ..urls import CONFIG_URL
from . import openapi
from .admin import Scope, _json_body, _session, bp, check_comment, scoped

__all__ = [
    "abort_gray",
    "gray_history",
    "instance_report",
    "promote_gray",
    "show_gray",
    "start_gray",
]


def _comment(body: dict[str, Any]) -> str:
    comment = body.get("comment", "")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise BadRequest('field "comment" must be a string')
    return check_comment(comment, 'field "comment"')


def _content(body: dict[str, Any], scope: Scope, name: str) -> str:
    value = body.get("content", body.get("value"))
    if not isinstance(value, str):
        raise BadRequest('field "content" (or "value") must be the gray content as a string')
    return _decode(scope.config_type, name, value, get_publisher(current_app).max_bytes)


def _ref(scope: Scope, name: str) -> gray_releases.ConfigRef:
    return gray_releases.ConfigRef(scope.coords, scope.config_type, name)


@bp.post(CONFIG_URL + "/gray")
@scoped(write=True)
def start_gray(scope: Scope, name: str) -> tuple[Response, int]:
    body = _json_body()
    target = gray_targeting.parse_target(body.get("target"))
    comment = _comment(body)
    value = _content(body, scope, name)
    release, notification = gray_rollout.begin_release(
        get_publisher(current_app),
        _session(),
        _ref(scope, name),
        value=value,
        target=target,
        actor=scope.user.name,
        comment=comment,
        force=force_reason(scope.user),
    )
    answer = gray_releases.release_json(release)
    return jsonify({"name": name, **answer, "notification": notification}), 201


def instance_report(
    coords: Coordinates, kind: ConfigType, name: str, release: Any
) -> dict[str, Any]:
    """The config's instances, each with the variant it runs and whether that is the expected
    one (``applied`` None: neither its id nor the labels its node reports tell whether it is
    targeted)."""
    session = _session()
    config = services.get_config(session, coords, kind, name)
    prefix = current_app.config["ZK_PREFIX"]
    path = config_node(prefix, coords, kind, name)
    try:
        require_own_node(session, prefix, coords)
        registry = get_publisher(current_app).instances
        registry.wait_connected()
        found = registry.instances(path)
    except SharedNode as exc:
        return {"instances": None, "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - ZooKeeper down, paused or timing out
        return {"instances": None, "reason": f"cannot read instances from ZooKeeper: {exc}"}
    rule = gray_targeting.GrayRule.from_json(release.id, release.target)
    rows = []
    counts = dict.fromkeys(("gray", "main", "unknown", "other", "applied", "not_applied"), 0)
    for instance in found:
        variant = gray_targeting.instance_variant(kind, name, config.value, release.value, instance)
        expected = rule.expects(instance.name, gray_targeting.reported_labels(kind, instance.data))
        applied = None
        if expected is not None and variant in ("gray", "main"):
            applied = (variant == "gray") == expected
        elif expected is not None and variant == "other":
            applied = False
        counts[variant] += 1
        if applied is not None:
            counts["applied" if applied else "not_applied"] += 1
        rows.append(
            {"name": instance.name, "variant": variant, "targeted": expected, "applied": applied}
        )
    return {"instances": rows, "counts": counts}


@bp.get(CONFIG_URL + "/gray")
@scoped(write=False)
def show_gray(scope: Scope, name: str) -> Response:
    release = gray_releases.running(_session(), _ref(scope, name))
    answer = {"name": name, **gray_releases.release_json(release), "value": release.value}
    answer.update(instance_report(scope.coords, scope.config_type, name, release))
    return jsonify(answer)


def _end(scope: Scope, name: str, status: GrayStatus) -> Response:
    comment = _comment(_json_body())
    release, notification = gray_rollout.finish_release(
        get_publisher(current_app),
        _session(),
        _ref(scope, name),
        status=status,
        actor=scope.user.name,
        comment=comment,
        force=force_reason(scope.user) if status is GrayStatus.PROMOTED else None,
    )
    return jsonify(
        {"name": name, **gray_releases.release_json(release), "notification": notification}
    )


@bp.post(CONFIG_URL + "/gray/promote")
@scoped(write=True)
def promote_gray(scope: Scope, name: str) -> Response:
    return _end(scope, name, GrayStatus.PROMOTED)


@bp.post(CONFIG_URL + "/gray/abort")
@scoped(write=True)
def abort_gray(scope: Scope, name: str) -> Response:
    return _end(scope, name, GrayStatus.ABORTED)


@bp.get(CONFIG_URL + "/gray/history")
@scoped(write=False)
def gray_history(scope: Scope, name: str) -> Response:
    releases = gray_releases.history(_session(), scope.coords, scope.config_type, name)
    return jsonify({"name": name, "releases": [gray_releases.release_json(r) for r in releases]})


# -- the OpenAPI description of these routes -----------------------------------------------------

_C = "/api/v1/apps/{app}/envs/{env}/versions/{version}/{kind}/{name}"
_TARGET = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "instances": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "hosts": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "percent": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
    },
}
_RELEASE = {
    "type": "object",
    "required": ["id", "status", "target", "md5", "created_by", "comment"],
    "properties": {
        "id": {"type": "integer"},
        "status": {"enum": [s.value for s in GrayStatus]},
        "target": _TARGET,
        "md5": {"type": "string"},
        "base_revision": {"type": "integer"},
        "created_at": {"type": "string"},
        "created_by": {"type": "string"},
        "comment": {"type": "string"},
        "ended_at": {"type": ["string", "null"]},
        "ended_by": {"type": ["string", "null"]},
        "end_comment": {"type": "string"},
        "notification": {"type": "string"},
    },
}
_COMMENT_BODY = openapi.json_body(
    {"type": "object", "properties": {"comment": {"type": "string", "maxLength": 1000}}}
)

openapi.describe(
    _C + "/gray",
    "post",
    {
        "summary": "Start a gray release: new content for the targeted instances only",
        "parameters": [*openapi.CONFIG, *openapi.FORCE],
        "requestBody": openapi.json_body(
            {
                "type": "object",
                "required": ["target"],
                "properties": {
                    "content": {"type": "string"},
                    "value": {"type": "string"},
                    "target": _TARGET,
                    "comment": {"type": "string", "maxLength": 1000},
                },
            }
        ),
        "responses": openapi._responses(
            {201: openapi._json(_RELEASE, "The release, running")}, 403, 409, 413, 415, 422
        ),
    },
)
openapi.describe(
    _C + "/gray",
    "get",
    {
        "summary": "The running gray release and which instances run gray or main",
        "parameters": openapi.CONFIG,
        "responses": openapi._responses(
            {200: openapi._json(_RELEASE, "The release with its value and instances")}, 403
        ),
    },
)
for _action, _summary in (
    ("promote", "Promote the gray release: it becomes the next revision for everyone"),
    ("abort", "Abort the gray release: targeted instances return to the main revision"),
):
    openapi.describe(
        _C + f"/gray/{_action}",
        "post",
        {
            "summary": _summary,
            "parameters": [*openapi.CONFIG, *openapi.FORCE]
            if _action == "promote"
            else openapi.CONFIG,
            "requestBody": _COMMENT_BODY,
            "responses": openapi._responses(
                {200: openapi._json(_RELEASE, "The ended release")}, 403, 409, 415, 422
            ),
        },
    )
openapi.describe(
    _C + "/gray/history",
    "get",
    {
        "summary": "Every gray release of the config (running, promoted, aborted), newest first",
        "parameters": openapi.CONFIG,
        "responses": openapi._responses(
            {
                200: openapi._json(
                    {"type": "object", "required": ["releases"]}, "The releases, newest first"
                )
            },
            403,
        ),
    },
)
