"""The OpenAPI 3.1 description of the admin API, served at ``GET /api/v1/openapi.json``.

The document is written here by hand, next to the views, and kept true by
``tests/web/test_openapi.py``: every route of the ``admin_api`` blueprint must be described
(a new route without a description fails that test), and the whole API is fuzzed with
schemathesis against a live server, validating every answer against this document (no 5xx;
every 4xx a JSON ``{"error": "..."}`` naming the problem).

A module that adds admin API routes describes them where it defines them with
:func:`describe` (path in OpenAPI form, ``{name}`` parameters; method; operation object).

The document needs no authentication (it says nothing about stored data).
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Response, jsonify

from ..services.listing import DEFAULT_PAGE_SIZE, INLINE_VALUE_CHARS, MAX_PAGE_SIZE
from .admin import MAX_COMMENT, bp

__all__ = ["describe", "document", "json_body", "query_param"]

_EXTRA: dict[str, dict[str, Any]] = {}

JSON = "application/json"
INT32 = 2**31 - 1


def describe(path: str, method: str, operation: dict[str, Any]) -> None:
    """Add the description of a route defined outside this module (e.g. ``/notifications``)."""
    _EXTRA.setdefault(path, {})[method.lower()] = operation


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


_ERRORS = {
    400: "Malformed input: the message names the field, value or character",
    401: "No, an invalid or a revoked API token",
    403: "The role or the grants do not allow it (or a session call without X-CSRF-Token)",
    404: "Unknown app, env, config, revision, user, token or endpoint",
    405: "Method not allowed on this path",
    409: "Already exists, or a concurrent change",
    412: "If-Match is not the current ETag",
    413: "Body over DISCONF_MAX_CONFIG_BYTES",
    415: "A body this endpoint does not take",
    422: "The publish guard refused the content (syntax, or what running instances accept)",
    503: "The database or ZooKeeper does not answer in time",
}
_ALWAYS = (400, 401, 404, 405, 503)


# Refused by the HTTP server in front of the app (request line or headers over its limits),
# before any JSON could be written: plain text.
_FRONT = {
    414: "Request line (URL) too long for the HTTP server",
    431: "Request headers too large for the HTTP server",
}


def _responses(ok: dict[int, dict[str, Any]], *errors: int) -> dict[str, Any]:
    answers: dict[str, Any] = {str(code): body for code, body in ok.items()}
    for code in sorted(set(_ALWAYS) | set(errors)):
        answers[str(code)] = _json(_ref("Error"), _ERRORS[code])
    for code, description in _FRONT.items():
        answers[str(code)] = {"description": description, "content": {"text/plain": {}}}
    return answers


def _param(
    name: str, where: str, description: str, schema: dict[str, Any], *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema,
    }


def _path_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return _param(
        name, "path", description, {"type": "string", "minLength": 1, **schema}, required=True
    )


def _int_path_param(name: str, description: str) -> dict[str, Any]:
    return _param(
        name,
        "path",
        description,
        {"type": "integer", "minimum": 0, "maximum": INT32},
        required=True,
    )


def query_param(
    name: str, description: str, *, required: bool = False, **schema: Any
) -> dict[str, Any]:
    """A query parameter (optional unless ``required``) whose schema is ``schema``."""
    return _param(name, "query", description, schema, required=required)


def _header_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return _param(name, "header", description, schema)


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A required request body: one JSON document matching ``schema``."""
    return {"required": True, "content": {JSON: {"schema": schema}}}


_NAME = {"maxLength": 255}
APP = _path_param("app", "App name", maxLength=64)
ENV = _path_param("env", "Env name", maxLength=64)
VERSION = _path_param("version", "Version, e.g. 1_0_0", maxLength=64)
KIND = _path_param("kind", "files or items", enum=["files", "items"])
NAME = _path_param("name", "File name or item key", **_NAME)
USER = _path_param("name", "User name", maxLength=64)
NUMBER = _int_path_param("number", "Revision number")
TOKEN_ID = _int_path_param("token_id", "Token id")
LIMIT = query_param(
    "limit",
    f"Page size, 1..{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})",
    type="integer",
    minimum=1,
    maximum=MAX_PAGE_SIZE,
)
CURSOR = query_param(
    "cursor", "Opaque cursor: take the 'next' URL of the previous page", type="string"
)
COMMENT_QUERY = query_param(
    "comment",
    f"Change comment (at most {MAX_COMMENT} characters)",
    type="string",
    maxLength=MAX_COMMENT,
)
COMMENT_HEADER = _header_param(
    "X-Disconf-Comment",
    "Change comment (instead of ?comment=)",
    type="string",
    maxLength=MAX_COMMENT,
)
IF_MATCH = _header_param(
    "If-Match",
    "Change only if the config's current ETag is this one ('*': if it exists)",
    type="string",
)
FORCE = [
    query_param(
        "force_reason",
        "Admins: publish although running instances would reject it (audited)",
        type="string",
        maxLength=1000,
    ),
    _header_param(
        "X-Disconf-Force-Reason", "Same as ?force_reason=", type="string", maxLength=1000
    ),
]
PAGE = [LIMIT, CURSOR]
COORDS = [APP, ENV, VERSION]
CONFIG = [*COORDS, KIND, NAME]

_NULLABLE_STRING = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _object(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A JSON object schema: the ``required`` names and the ``properties``' schemas."""
    return {"type": "object", **extra, "required": required, "properties": properties}


def _page_of(key: str, item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    properties = {
        key: {"type": "array", "items": item, "maxItems": MAX_PAGE_SIZE},
        "next": {
            "type": ["string", "null"],
            "description": "URL of the next page (also in the Link header); null: last page",
        },
        **extra,
    }
    return {"type": "object", "required": [key, "next"], "properties": properties}


# What a revision says about itself, in full and in a list (all of it required).
_REVISION = {
    "revision": {"type": "integer"},
    "action": {"enum": ["create", "update", "delete", "rollback"]},
    "author": {"type": "string"},
    "comment": {"type": "string"},
    "at": _TIME,
    "md5": _NULLABLE_STRING,
}

_SCHEMAS: dict[str, Any] = {
    "Error": _object(
        ["error"],
        {"error": {"type": "string", "minLength": 1}},
    ),
    "App": _object(
        ["name", "description", "created_by", "created_at"],
        {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "created_by": {"type": "string"},
            "created_at": _TIME,
        },
    ),
    "Env": _object(
        ["name", "created_by", "created_at"],
        {
            "name": {"type": "string"},
            "created_by": {"type": "string"},
            "created_at": _TIME,
        },
    ),
    "Config": _object(
        ["app", "env", "version", "type", "name", "md5", "etag", "revision", "size"],
        {
            "app": {"type": "string"},
            "env": {"type": "string"},
            "version": {"type": "string"},
            "type": {"enum": ["file", "item"]},
            "name": {"type": "string"},
            "md5": {"type": "string"},
            "etag": {"type": "string"},
            "revision": {"type": "integer"},
            "size": {"type": "integer"},
            "created_at": _TIME,
            "created_by": {"type": "string"},
            "updated_at": _TIME,
            "updated_by": {"type": "string"},
            "value": {"type": "string", "description": "Items only"},
        },
    ),
    "Change": {
        "allOf": [
            _ref("Config"),
            _object(
                ["changed", "notification", "fleet_check"],
                {
                    "changed": {"type": "boolean"},
                    "notification": {"enum": ["delivered", "pending", "none", "failed"]},
                    "fleet_check": {
                        "enum": ["checked", "unavailable", "not checked"],
                        "description": "Whether the publish guard asked the running fleet: "
                        "'unavailable' when ZooKeeper could not be asked and the publish went "
                        "on without the fleet check",
                    },
                },
            ),
        ]
    },
    "Deleted": {
        "allOf": [
            _ref("Config"),
            _object(
                ["deleted", "notification"],
                {"deleted": {"const": True}, "notification": {"type": "string"}},
            ),
        ]
    },
    "Revision": _object(
        list(_REVISION),
        {
            "name": {"type": "string"},
            **_REVISION,
            "old_value": _NULLABLE_STRING,
            "new_value": _NULLABLE_STRING,
        },
    ),
    "RevisionSummary": _object(
        [*_REVISION, "values_inline", "href"],
        {
            **_REVISION,
            "values_inline": {"type": "boolean"},
            "href": {"type": "string"},
            "old_value": {"type": ["string", "null"], "maxLength": INLINE_VALUE_CHARS},
            "new_value": {"type": ["string", "null"], "maxLength": INLINE_VALUE_CHARS},
        },
        description=(
            f"A revision in a list: values only when both are at most {INLINE_VALUE_CHARS} "
            "characters (values_inline); href answers the revision with its values"
        ),
    ),
    "User": _object(
        ["name", "role", "active", "created_at"],
        {
            "name": {"type": "string"},
            "role": {"enum": ["admin", "editor", "viewer"]},
            "active": {"type": "boolean"},
            "created_at": _TIME,
            "apps": {"type": "array", "items": {"type": "string"}},
        },
    ),
    "Token": _object(
        ["id", "name", "prefix", "created_at", "last_used_at", "revoked"],
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "prefix": {"type": "string"},
            "created_at": _TIME,
            "last_used_at": _TIME,
            "revoked": {"type": "boolean"},
            "created_by_token_id": {"type": ["integer", "null"]},
            "token": {"type": "string", "description": "The secret: only when just created"},
        },
    ),
    "AuditEvent": _object(
        ["id", "at", "actor", "action", "target"],
        {
            "id": {"type": "integer"},
            "at": _TIME,
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "app": _NULLABLE_STRING,
            "target": {"type": "string"},
            "detail": {},
        },
    ),
    "Instances": _object(
        ["name", "type", "md5", "path", "instances", "counts"],
        {
            "name": {"type": "string"},
            "type": {"enum": ["file", "item"]},
            "md5": {"type": "string"},
            "path": {"type": "string"},
            "gray": {
                "description": "the running gray release and how many instances run it",
                "type": ["object", "null"],
            },
            "instances": {"type": "array", "items": {"type": "object"}},
            "counts": {"type": "object"},
        },
    ),
    "Election": _object(
        ["name", "path", "contenders"],
        {
            "name": {"type": "string"},
            "path": {"type": "string"},
            "master": {},
            "contenders": {"type": "array", "items": {"type": "object"}},
            "context": {},
        },
    ),
}

_NAME_BODY = json_body(
    _object(
        ["name"],
        {"name": {"type": "string"}, "description": {"type": "string"}},
    )
)

_CONFIG_BODY = {
    "required": True,
    "description": (
        'items: a JSON object {"value": "..."}. files: the raw bytes of the file, whatever '
        "the Content-Type (curl --data-binary sends application/x-www-form-urlencoded), or one "
        "part of a multipart/form-data body (curl -F file=@name)."
    ),
    "content": {
        JSON: {
            "schema": _object(
                ["value"],
                {"value": {"type": "string"}},
            )
        },
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": _object(
                ["file"],
                {"file": {"type": "string", "format": "binary"}},
            )
        },
    },
}


def _collection(
    key: str,
    item: str,
    summaries: tuple[str, str],
    body: dict[str, Any],
    *,
    list_errors: tuple[int, ...] = (),
    create_errors: tuple[int, ...] = (403, 409, 415),
) -> dict[str, Any]:
    """A collection path: GET lists a page of ``item`` under ``key``, POST creates one."""
    listing, creating = summaries
    return {
        "get": {
            "summary": listing,
            "parameters": PAGE,
            "responses": _responses(
                {200: _json(_page_of(key, _ref(item)), "A page")}, *list_errors
            ),
        },
        "post": {
            "summary": creating,
            "requestBody": body,
            "responses": _responses({201: _json(_ref(item), "Created")}, *create_errors),
        },
    }


_PATHS: dict[str, Any] = {
    "/api/v1/apps": _collection(
        "apps",
        "App",
        (
            "Apps the caller may read, by name",
            "Create an app (admins and editors; the creator is granted it)",
        ),
        _NAME_BODY,
    ),
    "/api/v1/apps/{app}": {
        "get": {
            "summary": "One app",
            "parameters": [APP],
            "responses": _responses({200: _json(_ref("App"), "The app")}, 403),
        }
    },
    "/api/v1/envs": _collection(
        "envs", "Env", ("Envs, by name", "Create an env (admins)"), _NAME_BODY
    ),
    "/api/v1/apps/{app}/envs/{env}/versions": {
        "get": {
            "summary": "Versions of app x env with live configs",
            "parameters": [APP, ENV, *PAGE],
            "responses": _responses(
                {200: _json(_page_of("versions", {"type": "string"}), "A page")}, 403
            ),
        }
    },
    "/api/v1/apps/{app}/envs/{env}/versions/{version}/configs": {
        "get": {
            "summary": "Live configs of a version: files first, then by name (no values)",
            "parameters": [*COORDS, *PAGE],
            "responses": _responses(
                {200: _json(_page_of("configs", _ref("Config")), "A page")}, 403
            ),
        }
    },
    "/api/v1/apps/{app}/envs/{env}/versions/{version}/{kind}/{name}": {
        "get": {
            "summary": "A file's raw bytes, or an item as JSON",
            "parameters": [*CONFIG],
            "responses": _responses(
                {
                    200: {
                        "description": "The config",
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            },
                            JSON: {"schema": _ref("Config")},
                        },
                    },
                    304: {"description": "If-None-Match matched"},
                },
                403,
            ),
        },
        "put": {
            "summary": "Publish a file or an item (a new revision and a notification)",
            "parameters": [*CONFIG, COMMENT_QUERY, COMMENT_HEADER, IF_MATCH, *FORCE],
            "requestBody": _CONFIG_BODY,
            "responses": _responses(
                {200: _json(_ref("Change"), "Updated"), 201: _json(_ref("Change"), "Created")},
                *(403, 409, 412, 413, 415, 422),
            ),
        },
        "delete": {
            "summary": "Delete a config (a revision; a later PUT revives it)",
            "parameters": [*CONFIG, COMMENT_QUERY, COMMENT_HEADER, IF_MATCH],
            "responses": _responses({200: _json(_ref("Deleted"), "Deleted")}, 403, 409, 412),
        },
    },
    "/api/v1/apps/{app}/envs/{env}/versions/{version}/{kind}/{name}/revisions": {
        "get": {
            "summary": "Revisions, newest first: metadata (values only when small)",
            "parameters": [*CONFIG, *PAGE],
            "responses": _responses(
                {200: _json(_page_of("revisions", _ref("RevisionSummary"), name={}), "A page")},
                403,
            ),
        }
    },
    "/api/v1/apps/{app}/envs/{env}/versions/{version}/{kind}/{name}/revisions/{number}": {
        "get": {
            "summary": "One revision with its old and new values",
            "parameters": [*CONFIG, NUMBER],
            "responses": _responses({200: _json(_ref("Revision"), "The revision")}, 403),
        }
    },
    "/api/v1/apps/{app}/envs/{env}/versions/{version}/{kind}/{name}/rollback": {
        "post": {
            "summary": "Publish the value a past revision set, as a new revision",
            "parameters": [*CONFIG, COMMENT_QUERY, COMMENT_HEADER, IF_MATCH, *FORCE],
            "requestBody": json_body(
                _object(
                    ["revision"],
                    {
                        "revision": {"type": "integer", "minimum": 1, "maximum": INT32},
                        "comment": {"type": "string", "maxLength": MAX_COMMENT},
                    },
                )
            ),
            "responses": _responses(
                {200: _json(_ref("Change"), "Rolled back")}, 403, 409, 412, 413, 415, 422
            ),
        }
    },
    "/api/v1/apps/{app}/envs/{env}/versions/{version}/{kind}/{name}/instances": {
        "get": {
            "summary": "Self-check: what each running instance loaded",
            "parameters": [*CONFIG],
            "responses": _responses({200: _json(_ref("Instances"), "Instances")}, 403, 409),
        }
    },
    "/api/v1/apps/{app}/envs/{env}/versions/{version}/standby": {
        "get": {
            "summary": "Master/standby elections of a version",
            "parameters": [*COORDS],
            "responses": _responses(
                {
                    200: _json(
                        _object(
                            ["path", "elections"],
                            {
                                "path": {"type": "string"},
                                "elections": {"type": "array", "items": _ref("Election")},
                            },
                        ),
                        "Elections",
                    )
                },
                403,
            ),
        }
    },
    "/api/v1/apps/{app}/envs/{env}/versions/{version}/standby/{name}": {
        "get": {
            "summary": "One master/standby election",
            "parameters": [*COORDS, _path_param("name", "Election name", maxLength=255)],
            "responses": _responses({200: _json(_ref("Election"), "The election")}, 403),
        }
    },
    "/api/v1/users": _collection(
        "users",
        "User",
        ("Users, by name (admins)", "Create a user (admins)"),
        json_body(
            _object(
                ["name", "password", "role"],
                {
                    "name": {"type": "string"},
                    "password": {"type": "string"},
                    "role": {"enum": ["admin", "editor", "viewer"]},
                    "apps": {"type": "array", "items": {"type": "string"}},
                },
            )
        ),
        list_errors=(403,),
    ),
    "/api/v1/users/{name}/apps/{app}": {
        "put": {
            "summary": "Grant an app to a user (admins)",
            "parameters": [USER, APP],
            "responses": _responses({200: _json({"type": "object"}, "Granted")}, 403),
        },
        "delete": {
            "summary": "Revoke a user's grant (admins)",
            "parameters": [USER, APP],
            "responses": _responses({200: _json({"type": "object"}, "Revoked")}, 403),
        },
    },
    "/api/v1/tokens": _collection(
        "tokens",
        "Token",
        ("The caller's API tokens", "Create an API token for the caller (shown once)"),
        json_body({"type": "object", "properties": {"name": {"type": "string", "maxLength": 64}}}),
        create_errors=(415,),
    ),
    "/api/v1/tokens/{token_id}": {
        "delete": {
            "summary": "Revoke a token and every token created through it",
            "parameters": [TOKEN_ID],
            "responses": _responses({200: _json({"type": "object"}, "Revoked")}, 403),
        }
    },
    "/api/v1/audit": {
        "get": {
            "summary": "Audit events, newest first (admins: all; others: their apps)",
            "parameters": [
                *PAGE,
                {"name": "app", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "actor", "in": "query", "required": False, "schema": {"type": "string"}},
            ],
            "responses": _responses({200: _json(_page_of("events", _ref("AuditEvent")), "A page")}),
        }
    },
    "/api/v1/notifications": {
        "get": {
            "summary": "Failed and stuck notifications, newest first, with counts (admins)",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                }
            ],
            "responses": _responses(
                {
                    200: _json(
                        _object(
                            ["counts", "notifications"],
                            {
                                "counts": {"type": "object"},
                                "notifications": {
                                    "type": "array",
                                    "items": {"type": "object"},
                                    "maxItems": 500,
                                },
                            },
                        ),
                        "Rows",
                    )
                },
                403,
            ),
        }
    },
    "/api/v1/notifications/retry": {
        "post": {
            "summary": "Every failed notification back to pending (admins)",
            "responses": _responses({200: _json({"type": "object"}, "Retried")}, 403),
        }
    },
    "/api/v1/notifications/{row_id}/retry": {
        "post": {
            "summary": "One failed notification back to pending (admins)",
            "parameters": [
                {
                    "name": "row_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                }
            ],
            "responses": _responses({200: _json({"type": "object"}, "Retried")}, 403),
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": _json({"type": "object"}, "The OpenAPI document")},
        }
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``/api/v1`` (a fresh copy)."""
    paths = copy.deepcopy(_PATHS)
    for path, operations in _EXTRA.items():
        paths.setdefault(path, {}).update(copy.deepcopy(operations))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "disconf admin API",
            "version": "1",
            "description": (
                "Apps, envs, versions, files, items, revisions, users, tokens and the audit log. "
                'Errors are {"error": "..."} with the HTTP status. Lists are paginated: '
                f"?limit= (default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE}) and the "
                "'next' URL (also sent as Link: <...>; rel=\"next\")."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(_SCHEMAS),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (disconf-web create-token, POST /tokens)",
                }
            },
        },
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())
