"""Configs: the ONE place where a file or item is created, changed, deleted or rolled back.

Every change writes, in a single database transaction: the config row, a ``ConfigRevision``
(full old and new value, author, comment), a ``Notification`` for ZooKeeper and an
``AuditEvent``. The functions commit themselves and return the ids of the notifications to
deliver; they need no Flask request (the admin API, the console and the CLI all call them).

Error Handling
--------------
Nothing here talks to ZooKeeper. Every refusal (bad name, unknown app/env, oversize or
non-UTF-8 content, stale ``If-Match``) raises a :mod:`~disconf_web.services.errors` exception
*before* anything is written. A concurrent change of the same config that slips past the
``If-Match`` check is caught by the database's unique (config, revision number) constraint:
the losing transaction is rolled back and :class:`Conflict` is raised, so nothing is half-written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlalchemy.exc
import sqlalchemy.orm as so

from disconf_core import (
    ConfigType,
    Coordinates,
    InvalidNameError,
    config_node,
    content_md5,
    unquote_etag,
    validate_config_name,
)

from ..models import (
    App,
    AuditEvent,
    Config,
    ConfigRevision,
    ConfigStatus,
    Env,
    Notification,
    RevisionAction,
    utcnow,
)
from .errors import BadRequest, Conflict, NotFound, PayloadTooLarge, PreconditionFailed

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_NOTIFICATION_BYTES",
    "ChangeResult",
    "coordinates",
    "delete_config",
    "find_config",
    "get_config",
    "list_configs",
    "list_revisions",
    "list_versions",
    "notification_data",
    "publish_config",
    "rollback_config",
]

DEFAULT_MAX_BYTES = 1024 * 1024
# ZooKeeper refuses node data over ~1 MB (jute.maxbuffer): larger file payloads are truncated.
# Clients ignore the node's data (they re-download over HTTP), so nothing is lost.
MAX_NOTIFICATION_BYTES = 512 * 1024


@dataclass
class ChangeResult:
    """What a change did: the config row after it, and what is left to deliver."""

    config: Config
    changed: bool
    created: bool = False
    revived: bool = False
    notification_ids: list[int] = field(default_factory=list)


def coordinates(app: str, env: str, version: str) -> Coordinates:
    """Validated coordinates, or :class:`BadRequest` naming the bad value."""
    try:
        return Coordinates(app=app, version=version, env=env)
    except InvalidNameError as exc:
        raise BadRequest(str(exc)) from exc


def _check_name(kind: ConfigType, name: str) -> None:
    try:
        validate_config_name(name, kind.segment)
    except InvalidNameError as exc:
        raise BadRequest(str(exc)) from exc


def _label(kind: ConfigType, name: str) -> str:
    return f"{kind.segment} {name!r}"


def _decode(kind: ConfigType, name: str, content: bytes | str, max_bytes: int) -> str:
    raw = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(
            f"{_label(kind, name)} is {len(raw)} bytes: over the limit of {max_bytes} bytes "
            "(DISCONF_MAX_CONFIG_BYTES)"
        )
    if isinstance(content, str):
        try:
            content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadRequest(f"{_label(kind, name)} is not valid Unicode text: {exc}") from exc
        return content
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"{_label(kind, name)} is not valid UTF-8 text (invalid byte 0x{raw[exc.start]:02x} "
            f"at offset {exc.start}): store text encoded as UTF-8"
        ) from exc


def notification_data(kind: ConfigType, value: str) -> str:
    """The node data of the spec: an item's value; a file's content as a JSON string literal."""
    if kind is ConfigType.ITEM:
        data = value
        if len(data.encode("utf-8")) > MAX_NOTIFICATION_BYTES:
            data = data.encode("utf-8")[:MAX_NOTIFICATION_BYTES].decode("utf-8", "ignore")
        return data
    text = json.dumps(value, ensure_ascii=False)
    if len(text.encode("utf-8")) <= MAX_NOTIFICATION_BYTES:
        return text
    cut = value.encode("utf-8")[: MAX_NOTIFICATION_BYTES // 2].decode("utf-8", "ignore")
    return json.dumps(cut, ensure_ascii=False)


def _app(session: so.Session, name: str) -> App:
    app = session.scalar(sa.select(App).where(App.name == name))
    if app is None:
        raise NotFound(f"app {name!r} does not exist")
    return app


def _env(session: so.Session, name: str) -> Env:
    env = session.scalar(sa.select(Env).where(Env.name == name))
    if env is None:
        raise NotFound(f"env {name!r} does not exist")
    return env


def find_config(
    session: so.Session,
    coords: Coordinates,
    kind: ConfigType,
    name: str,
    *,
    for_update: bool = False,
) -> Config | None:
    """The config row (live or deleted), or None; unknown app/env raise :class:`NotFound`."""
    _check_name(kind, name)
    app = _app(session, coords.app)
    env = _env(session, coords.env)
    query = sa.select(Config).where(
        Config.app_id == app.id,
        Config.env_id == env.id,
        Config.version == coords.version,
        Config.type == int(kind),
        Config.name == name,
    )
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def get_config(session: so.Session, coords: Coordinates, kind: ConfigType, name: str) -> Config:
    """The live config, or :class:`NotFound`."""
    config = find_config(session, coords, kind, name)
    if config is None or config.status != ConfigStatus.LIVE:
        raise NotFound(f"{_label(kind, name)} does not exist in {coords}")
    return config


def _check_if_match(
    config: Config | None, kind: ConfigType, name: str, if_match: str | None
) -> None:
    if if_match is None:
        return
    live = config is not None and config.status == ConfigStatus.LIVE
    tags = [unquote_etag(tag) for tag in if_match.split(",") if tag.strip()]
    if "*" in tags:
        if not live:
            raise PreconditionFailed(f"{_label(kind, name)} does not exist (If-Match: *)")
        return
    if not live:
        raise PreconditionFailed(
            f"{_label(kind, name)} does not exist, so it cannot match If-Match {if_match!r}"
        )
    assert config is not None
    if config.md5 not in tags:
        raise PreconditionFailed(
            f'{_label(kind, name)} has changed: its ETag is "{config.md5}", not {if_match!r}; '
            "fetch it again and retry"
        )


def _apply(
    session: so.Session,
    *,
    coords: Coordinates,
    kind: ConfigType,
    name: str,
    value: str | None,
    action: RevisionAction,
    actor: str,
    comment: str,
    if_match: str | None,
    zk_prefix: str,
) -> ChangeResult:
    """Write one change (value None = delete) with its revision, notification and audit."""
    try:
        config = find_config(session, coords, kind, name, for_update=True)
        _check_if_match(config, kind, name, if_match)
        now = utcnow()
        live = config is not None and config.status == ConfigStatus.LIVE
        if value is None:
            if config is None or not live:
                raise NotFound(f"{_label(kind, name)} does not exist in {coords}")
        elif live and config is not None and config.value == value:
            session.rollback()
            return ChangeResult(config=config, changed=False)
        created = config is None
        revived = config is not None and not live and value is not None
        if config is None:
            assert value is not None
            config = Config(
                app_id=_app(session, coords.app).id,
                env_id=_env(session, coords.env).id,
                version=coords.version,
                type=int(kind),
                name=name,
                value=value,
                md5=content_md5(value),
                revision=1,
                status=ConfigStatus.LIVE,
                created_at=now,
                created_by=actor,
                updated_at=now,
                updated_by=actor,
            )
            session.add(config)
            session.flush()
            old_value: str | None = None
        else:
            old_value = config.value if live else None
            config.revision += 1
            config.updated_at = now
            config.updated_by = actor
            if value is None:
                config.status = ConfigStatus.DELETED
            else:
                config.value = value
                config.md5 = content_md5(value)
                config.status = ConfigStatus.LIVE
        action_name: RevisionAction = action
        if created and action is RevisionAction.UPDATE:
            action_name = RevisionAction.CREATE
        session.add(
            ConfigRevision(
                config_id=config.id,
                number=config.revision,
                action=action_name.value,
                old_value=old_value,
                new_value=value,
                new_md5=None if value is None else content_md5(value),
                author=actor,
                comment=comment,
                at=now,
            )
        )
        notifications: list[Notification] = []
        if value is not None:
            notifications.append(
                Notification(
                    config_id=config.id,
                    path=config_node(zk_prefix, coords, kind, name),
                    data=notification_data(kind, value),
                    created_at=now,
                    attempts=0,
                )
            )
            session.add_all(notifications)
        session.add(
            AuditEvent(
                at=now,
                actor=actor,
                action=f"config.{action_name.value}",
                app=coords.app,
                target=f"{coords}/{kind.segment}/{name}",
                detail=json.dumps(
                    {"revision": config.revision, "md5": config.md5, "comment": comment},
                    ensure_ascii=False,
                ),
            )
        )
        session.flush()
        ids = [notification.id for notification in notifications]
        session.commit()
    except sa.exc.IntegrityError as exc:
        session.rollback()
        raise Conflict(
            f"{_label(kind, name)} in {coords} was changed concurrently by someone else; "
            "fetch it again and retry"
        ) from exc
    except BaseException:
        session.rollback()
        raise
    return ChangeResult(
        config=config, changed=True, created=created, revived=revived, notification_ids=ids
    )


def publish_config(
    session: so.Session,
    *,
    coords: Coordinates,
    kind: ConfigType,
    name: str,
    content: bytes | str,
    actor: str,
    comment: str = "",
    if_match: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    zk_prefix: str = "/disconf",
) -> ChangeResult:
    """Create the config, publish a new revision, or revive a deleted one.

    Publishing the value it already has changes nothing (``changed=False``, no revision).
    """
    _check_name(kind, name)
    value = _decode(kind, name, content, max_bytes)
    return _apply(
        session,
        coords=coords,
        kind=kind,
        name=name,
        value=value,
        action=RevisionAction.UPDATE,
        actor=actor,
        comment=comment,
        if_match=if_match,
        zk_prefix=zk_prefix,
    )


def delete_config(
    session: so.Session,
    *,
    coords: Coordinates,
    kind: ConfigType,
    name: str,
    actor: str,
    comment: str = "",
    if_match: str | None = None,
    zk_prefix: str = "/disconf",
) -> ChangeResult:
    """Soft-delete a live config (a revision is recorded; ZooKeeper is not touched)."""
    return _apply(
        session,
        coords=coords,
        kind=kind,
        name=name,
        value=None,
        action=RevisionAction.DELETE,
        actor=actor,
        comment=comment,
        if_match=if_match,
        zk_prefix=zk_prefix,
    )


def rollback_config(
    session: so.Session,
    *,
    coords: Coordinates,
    kind: ConfigType,
    name: str,
    to_revision: int,
    actor: str,
    comment: str = "",
    if_match: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    zk_prefix: str = "/disconf",
) -> ChangeResult:
    """Publish the value a past revision set, as a new ``rollback`` revision."""
    if isinstance(to_revision, bool) or not isinstance(to_revision, int) or to_revision < 1:
        raise BadRequest(f"revision must be a positive integer, not {to_revision!r}")
    config = find_config(session, coords, kind, name)
    if config is None:
        raise NotFound(f"{_label(kind, name)} does not exist in {coords}")
    past = session.scalar(
        sa.select(ConfigRevision).where(
            ConfigRevision.config_id == config.id, ConfigRevision.number == to_revision
        )
    )
    if past is None:
        raise NotFound(f"{_label(kind, name)} has no revision {to_revision}")
    if past.new_value is None:
        raise BadRequest(
            f"revision {to_revision} of {_label(kind, name)} is a delete: roll back to a "
            "revision that set a value"
        )
    session.rollback()
    if len(past.new_value.encode("utf-8")) > max_bytes:
        raise PayloadTooLarge(f"revision {to_revision} is over the limit of {max_bytes} bytes")
    return _apply(
        session,
        coords=coords,
        kind=kind,
        name=name,
        value=past.new_value,
        action=RevisionAction.ROLLBACK,
        actor=actor,
        comment=comment or f"rollback to revision {to_revision}",
        if_match=if_match,
        zk_prefix=zk_prefix,
    )


def list_revisions(
    session: so.Session, coords: Coordinates, kind: ConfigType, name: str
) -> list[ConfigRevision]:
    """All revisions of a config (live or deleted), newest first."""
    config = find_config(session, coords, kind, name)
    if config is None:
        raise NotFound(f"{_label(kind, name)} does not exist in {coords}")
    return list(
        session.scalars(
            sa.select(ConfigRevision)
            .where(ConfigRevision.config_id == config.id)
            .order_by(ConfigRevision.number.desc())
        )
    )


def list_configs(session: so.Session, coords: Coordinates) -> list[Config]:
    """The live configs of app x env x version, files first, then by name."""
    app = _app(session, coords.app)
    env = _env(session, coords.env)
    return list(
        session.scalars(
            sa.select(Config)
            .where(
                Config.app_id == app.id,
                Config.env_id == env.id,
                Config.version == coords.version,
                Config.status == int(ConfigStatus.LIVE),
            )
            .order_by(Config.type, Config.name)
        )
    )


def list_versions(session: so.Session, app: str, env: str) -> list[str]:
    """The versions of app x env that have at least one live config, sorted."""
    app_row = _app(session, app)
    env_row = _env(session, env)
    return list(
        session.scalars(
            sa.select(Config.version)
            .where(
                Config.app_id == app_row.id,
                Config.env_id == env_row.id,
                Config.status == int(ConfigStatus.LIVE),
            )
            .distinct()
            .order_by(Config.version)
        )
    )
