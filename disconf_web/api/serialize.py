"""JSON shapes of the admin API."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from disconf_core import ConfigType

from ..models import ApiToken, App, AuditEvent, Config, ConfigRevision, Env, User
from ..services.listing import RevisionMeta

__all__ = [
    "app_json",
    "audit_json",
    "config_json",
    "env_json",
    "iso",
    "revision_json",
    "revision_meta_json",
    "token_json",
    "user_json",
]


def iso(value: datetime | None) -> str | None:
    """Naive UTC -> ``2024-05-01T12:00:00Z``."""
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def app_json(app: App) -> dict[str, Any]:
    return {
        "name": app.name,
        "description": app.description,
        "created_by": app.created_by,
        "created_at": iso(app.created_at),
    }


def env_json(env: Env) -> dict[str, Any]:
    return {"name": env.name, "created_by": env.created_by, "created_at": iso(env.created_at)}


def config_json(config: Config, *, with_value: bool = False) -> dict[str, Any]:
    kind = ConfigType(config.type)
    body: dict[str, Any] = {
        "app": config.app.name,
        "env": config.env.name,
        "version": config.version,
        "type": kind.segment,
        "name": config.name,
        "md5": config.md5,
        "etag": f'"{config.md5}"',
        "revision": config.revision,
        "size": len(config.value.encode("utf-8")),
        "created_at": iso(config.created_at),
        "created_by": config.created_by,
        "updated_at": iso(config.updated_at),
        "updated_by": config.updated_by,
    }
    if with_value:
        body["value"] = config.value
    return body


def _revision_fields(revision: ConfigRevision | RevisionMeta) -> dict[str, Any]:
    """What a revision says about itself, in full or in a list."""
    return {
        "revision": revision.number,
        "action": revision.action,
        "author": revision.author,
        "comment": revision.comment,
        "at": iso(revision.at),
    }


def revision_json(revision: ConfigRevision) -> dict[str, Any]:
    return {
        **_revision_fields(revision),
        "md5": revision.new_md5,
        "old_value": revision.old_value,
        "new_value": revision.new_value,
    }


def revision_meta_json(revision: RevisionMeta, href: str) -> dict[str, Any]:
    """A revision in a list: metadata, the values only when small (``values_inline``), and
    ``href``, the URL that answers this revision with its full values."""
    body: dict[str, Any] = {
        **_revision_fields(revision),
        "md5": revision.md5,
        "values_inline": revision.values_inline,
        "href": href,
    }
    if revision.values_inline:
        body.update(old_value=revision.old_value, new_value=revision.new_value)
    return body


def audit_json(event: AuditEvent) -> dict[str, Any]:
    detail: Any = event.detail
    try:
        detail = json.loads(event.detail) if event.detail else {}
    except ValueError:
        pass
    return {
        "id": event.id,
        "at": iso(event.at),
        "actor": event.actor,
        "action": event.action,
        "app": event.app,
        "target": event.target,
        "detail": detail,
    }


def user_json(user: User, apps: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": user.name,
        "role": user.role,
        "active": user.active,
        "created_at": iso(user.created_at),
    }
    if apps is not None:
        body["apps"] = apps
    return body


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": iso(token.created_at),
        "last_used_at": iso(token.last_used_at),
        "revoked": token.revoked_at is not None,
        "created_by_token_id": token.created_by_token_id,
    }
