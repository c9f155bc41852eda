"""Admin API for releases: the publish guard's dry run, diffs, copy/promote, bundles.

::

    POST .../<kind>/<name>/check                   the guard's dry run on new content
    GET  .../<kind>/<name>/diff?from=N&to=M        unified diff of two revisions
    POST /apps/<app>/envs/<env>/versions/<v>/copy  copy/promote to another env or version
    GET  /apps/<app>/envs/<env>/versions/<v>/bundle          export a bundle
    POST /apps/<app>/envs/<env>/versions/<v>/bundle/preview  what importing it would change
    POST /apps/<app>/envs/<env>/versions/<v>/bundle          import it (all or nothing)

The check takes the body a publish takes (a file's raw bytes, ``{"value": ...}`` for an item)
and always answers 200 with the guard's report (``ok``, ``syntax`` with line and column, the
fleet's ``rejections``); the console's diff preview shows the same report. A publish, a copy
and an import refused by the guard answer 422 with that report under ``"guard"``. An admin
forces a refusal of the fleet (never a syntax error) with ``?force_reason=`` or the header
``X-Disconf-Force-Reason``; the reason is audited (``config.guard_forced``).

Copies and imports take a preview first: the answer's ``fingerprint`` sent back as ``expect``
applies exactly what was previewed (409 if the target changed since). Bundles: see
:mod:`disconf_web.bundles`. Error Handling: as the rest of ``/api/v1`` (database down: 503,
nothing written; ZooKeeper down: changes commit, notifications pending, the fleet check skipped).
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from flask import Response, current_app, jsonify, request

from disconf_core import ConfigType

from .. import bundles, services
from ..auth import require_app
from ..guard import force_reason
from ..publisher import get_publisher
from ..services import BadRequest, listing
from ..services import console as console_services
from ..urls import CONFIG_URL, VERSION_URL
from . import openapi
from .admin import (
    Scope,
    _file_content,
    _item_value,
    _json_body,
    _session,
    bp,
    check_comment,
    scoped,
)

__all__ = ["check_config", "copy_version", "diff_revisions", "export_bundle", "import_bundle"]

# Lines of context around each change in a diff, and the most lines of diff answered.
DIFF_CONTEXT = 3
MAX_DIFF_LINES = 20_000


def _bool_arg(name: str) -> bool:
    value = request.args.get(name, "")
    if value.lower() in ("", "0", "false", "no"):
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    raise BadRequest(f"{name} must be true or false, not {value!r}")


def _diff(old: str, new: str, old_label: str, new_label: str) -> str:
    lines = list(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            old_label,
            new_label,
            n=DIFF_CONTEXT,
        )
    )
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... ({len(lines) - MAX_DIFF_LINES} more lines)\n"]
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


# -- the guard's dry run ------------------------------------------------------------------------


@bp.post(CONFIG_URL + "/check")
@scoped(write=False)
def check_config(scope: Scope, name: str) -> Response:
    kind = scope.config_type
    content: bytes | str = _file_content(name) if kind is ConfigType.FILE else _item_value()
    publisher = get_publisher(current_app)
    report = publisher.guard.inspect(
        zk_prefix=publisher.zk_prefix, coords=scope.coords, kind=kind, name=name, content=content
    )
    return jsonify(report.as_dict())


# -- diff of two revisions ----------------------------------------------------------------------


def _revision_arg(key: str) -> int:
    raw = request.args.get(key, "")
    if not re.fullmatch(r"[0-9]{1,10}", raw) or not 1 <= int(raw) <= listing.MAX_REVISION:
        raise BadRequest(f"?{key}= must be a revision number from 1 to {listing.MAX_REVISION}")
    return int(raw)


@bp.get(CONFIG_URL + "/diff")
@scoped(write=False)
def diff_revisions(scope: Scope, name: str) -> Response:
    first, second = _revision_arg("from"), _revision_arg("to")
    session = _session()
    old = listing.get_revision(session, scope.coords, scope.config_type, name, first)
    new = listing.get_revision(session, scope.coords, scope.config_type, name, second)
    old_text, new_text = old.new_value or "", new.new_value or ""
    session.rollback()
    return jsonify(
        {
            "name": name,
            "from": {"revision": first, "md5": old.new_md5, "deleted": old.new_value is None},
            "to": {"revision": second, "md5": new.new_md5, "deleted": new.new_value is None},
            "identical": old_text == new_text,
            "diff": _diff(old_text, new_text, f"{name}@{first}", f"{name}@{second}"),
        }
    )


# -- copy / promote ------------------------------------------------------------------------------


@bp.post(VERSION_URL + "/copy")
@scoped(write=False)
def copy_version(scope: Scope) -> Response:
    body = _json_body()
    target = services.coordinates(
        _field(body, "to_app", scope.app),
        _field(body, "to_env", scope.env or ""),
        _field(body, "to_version", scope.version or ""),
    )
    preview = body.get("preview", False)
    delete_removed = body.get("delete_removed", False)
    if not isinstance(preview, bool) or not isinstance(delete_removed, bool):
        raise BadRequest('"preview" and "delete_removed" must be true or false')
    expect = body.get("expect")
    if expect is not None and not isinstance(expect, str):
        raise BadRequest('"expect" must be the fingerprint string of a preview')
    comment = check_comment(_field(body, "comment", ""), 'field "comment"')
    require_app(scope.user, target.app, write=not preview)
    session = _session()
    services.get_env(session, target.env)
    plan = console_services.plan_copy(session, scope.coords, target)
    publisher = get_publisher(current_app)
    answer: dict[str, Any] = {
        "from": str(scope.coords),
        "to": str(target),
        "fingerprint": plan.fingerprint,
        "counts": {s: plan.count(s) for s in ("added", "changed", "unchanged", "removed")},
        "entries": [
            {
                "kind": entry.kind.segment,
                "name": entry.name,
                "status": entry.status,
                "diff": _diff(
                    entry.target_value or "", entry.source_value or "", "target", "source"
                )
                if entry.status == "changed"
                else None,
            }
            for entry in plan.entries
        ],
    }
    if preview:
        reports = [
            publisher.guard.inspect(
                zk_prefix=publisher.zk_prefix,
                coords=target,
                kind=entry.kind,
                name=entry.name,
                content=entry.source_value or "",
            )
            for entry in plan.entries
            if entry.status in ("added", "changed")
        ]
        answer["guard"] = [report.as_dict() for report in reports if not report.ok]
        answer["applied"] = False
        return jsonify(answer)
    if expect is not None and expect != plan.fingerprint:
        raise services.Conflict(
            f"{target} or {scope.coords} changed since the preview: preview again"
        )
    notification = publisher.apply_copy(
        session,
        plan,
        actor=scope.user.name,
        comment=comment,
        delete_removed=delete_removed,
        force=force_reason(scope.user),
    )
    answer.update(applied=True, notification=notification)
    return jsonify(answer)


def _field(body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(f"field {key!r} must be a string")
    return value


# -- bundles -------------------------------------------------------------------------------------


@bp.get(VERSION_URL + "/bundle")
@scoped(write=False)
def export_bundle(scope: Scope) -> Response:
    document = bundles.export_bundle(_session(), scope.coords)
    response = Response(
        json.dumps(document, ensure_ascii=False, indent=1) + "\n", mimetype="application/json"
    )
    filename = f"{scope.app}_{scope.version}_{scope.env}.bundle.json"
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{filename}"
    return response


def _plan(scope: Scope) -> bundles.ImportPlan:
    entries = bundles.read_bundle(_json_body())
    return bundles.plan_import(
        _session(), scope.coords, entries, delete_missing=_bool_arg("delete_missing")
    )


@bp.post(VERSION_URL + "/bundle/preview")
@scoped(write=False)
def preview_bundle(scope: Scope) -> Response:
    plan = _plan(scope)
    bundles.inspect_plan(get_publisher(current_app), plan)
    return jsonify({**plan.as_dict(), "applied": False})


@bp.post(VERSION_URL + "/bundle")
@scoped(write=True)
def import_bundle(scope: Scope) -> Response:
    plan = _plan(scope)
    comment = check_comment(request.args.get("comment", ""))
    notification = bundles.apply_import(
        _session(),
        get_publisher(current_app),
        plan,
        actor=scope.user.name,
        comment=comment,
        force=force_reason(scope.user),
        expect=request.args.get("expect") or None,
    )
    return jsonify({**plan.as_dict(), "applied": True, "notification": notification})


# -- the OpenAPI description of these routes -----------------------------------------------------

_V = "/api/v1/apps/{app}/envs/{env}/versions/{version}"
_C = _V + "/{kind}/{name}"
_OBJECT = {"type": "object"}
_FORCE = openapi.FORCE
_GUARD_422 = openapi._json(
    {"type": "object", "required": ["error", "guard"], "properties": {"guard": {"type": "array"}}},
    "Refused by the publish guard: a syntax error (line, column) or values running instances "
    "would reject",
)
_REPORT = {
    "type": "object",
    "required": ["ok", "syntax", "rejections", "fleet", "instances_checked"],
    "properties": {
        "ok": {"type": "boolean"},
        "syntax": {"type": ["object", "null"]},
        "rejections": {"type": "array"},
        "fleet": {"type": "string"},
        "instances_checked": {"type": "integer"},
    },
}
_BUNDLE_BODY = openapi.json_body(
    {
        "type": "object",
        "required": ["format", "format_version", "manifest"],
        "properties": {
            "format": {"const": bundles.BUNDLE_FORMAT},
            "format_version": {"const": bundles.BUNDLE_VERSION},
            "manifest": {"type": "array", "items": _OBJECT},
            "files": {"type": "object", "additionalProperties": {"type": "string"}},
            "items": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
)
_DELETE_MISSING = openapi.query_param(
    "delete_missing", "Delete the target's configs the bundle does not hold", type="boolean"
)
_PLAN = openapi._json(
    {"type": "object", "required": ["fingerprint", "counts", "entries", "applied"]},
    "What the import changes (and, once applied, the notification's fate)",
)

openapi.describe(
    _C + "/check",
    "post",
    {
        "summary": "The publish guard's dry run: syntax (line, column) and the running fleet",
        "parameters": openapi.CONFIG,
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": _OBJECT},
            },
        },
        "responses": openapi._responses(
            {200: openapi._json(_REPORT, "The guard's report")}, 403, 413, 415
        ),
    },
)
openapi.describe(
    _C + "/diff",
    "get",
    {
        "summary": "Unified diff of two revisions of a config",
        "parameters": [
            *openapi.CONFIG,
            *(
                openapi.query_param(
                    key,
                    "Revision number",
                    required=True,
                    type="integer",
                    minimum=1,
                    maximum=listing.MAX_REVISION,
                )
                for key in ("from", "to")
            ),
        ],
        "responses": openapi._responses(
            {200: openapi._json({"type": "object", "required": ["diff"]}, "The diff")}, 403
        ),
    },
)
openapi.describe(
    _V + "/copy",
    "post",
    {
        "summary": "Copy or promote every config to another env/version (preview first)",
        "parameters": [*openapi.COORDS, *_FORCE],
        "requestBody": openapi.json_body(
            {
                "type": "object",
                "properties": {
                    "to_app": {"type": "string"},
                    "to_env": {"type": "string"},
                    "to_version": {"type": "string"},
                    "preview": {"type": "boolean"},
                    "expect": {"type": "string"},
                    "delete_removed": {"type": "boolean"},
                    "comment": {"type": "string", "maxLength": 1000},
                },
            }
        ),
        "responses": {
            **openapi._responses(
                {200: openapi._json({"type": "object", "required": ["fingerprint"]}, "The plan")},
                403,
                409,
                412,
                415,
            ),
            "422": _GUARD_422,
        },
    },
)
openapi.describe(
    _V + "/bundle",
    "get",
    {
        "summary": "Export every live config of app x env x version as one bundle",
        "parameters": openapi.COORDS,
        "responses": openapi._responses(
            {200: openapi._json({"type": "object", "required": ["manifest"]}, "The bundle")}, 403
        ),
    },
)
openapi.describe(
    _V + "/bundle/preview",
    "post",
    {
        "summary": "What importing a bundle would change, with the guard's findings",
        "parameters": [*openapi.COORDS, _DELETE_MISSING],
        "requestBody": _BUNDLE_BODY,
        "responses": openapi._responses({200: _PLAN}, 403, 415),
    },
)
openapi.describe(
    _V + "/bundle",
    "post",
    {
        "summary": "Import a bundle in one transaction (all or nothing), then notify",
        "parameters": [
            *openapi.COORDS,
            _DELETE_MISSING,
            openapi.COMMENT_QUERY,
            openapi.query_param(
                "expect",
                "The preview's fingerprint: apply only that plan (else 409)",
                type="string",
            ),
            *_FORCE,
        ],
        "requestBody": _BUNDLE_BODY,
        "responses": {
            **openapi._responses({200: _PLAN}, 403, 409, 412, 413, 415),
            "422": _GUARD_422,
        },
    },
)
