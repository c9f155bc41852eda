"""Configs: the ONE place where a file or item is created, changed, deleted or rolled back.

Every change writes, in a single database transaction: the config row, a ``ConfigRevision``
(full old and new value, author, comment), a ``Notification`` for ZooKeeper and an
``AuditEvent``. The functions commit themselves and return the ids of the notifications to
deliver; they need no Flask request (the admin API, the console, the CLI and the publisher all
call them). A change is a ``_Change``; :func:`_stage` runs it in four steps that each do one
thing: lock the row, decide (``If-Match``, unchanged, unknown), write the row, record it
(revision, notification, audit). Locking the row also serialises a change with a gray
release's start (:mod:`disconf_web.gray`): a config with a running gray release is refused with
409 naming it, read after the lock. ``publish_config``/``delete_config``/``rollback_config`` run
it in a transaction of their own; ``stage_publish``/``stage_delete`` in the caller's, so that
several changes commit together (bundle imports). The row's update and the three records are
Core statements built once, not the ORM's unit of work (it cost more than the statements on the
publish path), and the returned ``Config`` carries the new values: an ORM event hook on those
models would not see these writes.

Names: a name that ZooKeeper cannot store (:func:`disconf_core.zookeeper_refusal`) is refused
before anything is written whenever a value is published (create, update, rollback, copy,
upload); looking a name up (read, history, delete) only applies the structural rules, so a
config stored before that rule existed can still be read and deleted but not published again.
Publishing also claims the ZooKeeper node of its app x env x version
(:func:`~disconf_web.services.catalog.claim_node`), refusing a triple whose node name another
triple already holds.

Error Handling
--------------
Nothing here talks to ZooKeeper. Every refusal (bad name, unknown app/env, node-name collision,
oversize or non-UTF-8 content, stale ``If-Match``) raises a
:mod:`~disconf_web.services.errors` exception and rolls the transaction back, so nothing is
half-written. A concurrent change of the same config that slips past the ``If-Match`` check is
caught by the database's unique (config, revision number) constraint and raised as
:class:`Conflict`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict, cast

import sqlalchemy as sa
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
from disconf_core.notification import ITEM_LIMIT, file_node_data, item_node_data

from ..models import (
    App,
    Config,
    ConfigNode,
    ConfigRevision,
    ConfigStatus,
    Env,
    GrayRelease,
    Notification,
    RevisionAction,
    utcnow,
)
from ..outbox import NodeKey, OutboxRow
from .catalog import claim_node, get_app, get_env
from .errors import BadRequest, Conflict, NotFound, PayloadTooLarge, PreconditionFailed
from .transactions import audit, run_transaction

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_NOTIFICATION_BYTES",
    "ChangeResult",
    "ConfigChange",
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
    "stage_delete",
    "stage_publish",
]

#: Whether this process's SQLite has ``UPDATE ... RETURNING`` (3.35+).
SQLITE_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)

DEFAULT_MAX_BYTES = 1024 * 1024
# ZooKeeper refuses node data over ~1 MB (jute.maxbuffer): larger file payloads are truncated.
# A cut payload carries the "fetch" mark (disconf_core.notification): clients re-download it.
MAX_NOTIFICATION_BYTES = ITEM_LIMIT


@dataclass
class ChangeResult:
    """What a change did: the config row after it, and what is left to deliver."""

    config: Config
    changed: bool
    created: bool = False
    revived: bool = False
    notification_ids: list[int] = field(default_factory=list)
    # The same rows as the deliverer reads them (id, node, data): the publisher delivers them
    # without reading them back.
    notifications: list[OutboxRow] = field(default_factory=list)


class _ConfigAndAuthor(TypedDict):
    coords: Coordinates
    kind: ConfigType
    name: str
    actor: str


class ConfigChange(_ConfigAndAuthor, total=False):
    """The keyword arguments every change takes (``publish_config``, ``delete_config``,
    ``rollback_config`` and the publisher that wraps them): which config, who, why, and the
    ``If-Match`` it must still match (None: whatever it is now)."""

    comment: str
    if_match: str | None


@dataclass(frozen=True)
class _Change:
    """One change of one config, as :func:`_stage` runs it: ``value`` None deletes it."""

    value: str | None
    action: RevisionAction
    zk_prefix: str
    coords: Coordinates
    kind: ConfigType
    name: str
    actor: str
    comment: str = ""
    if_match: str | None = None
    promoting_gray: int | None = None

    @property
    def label(self) -> str:
        return _label(self.kind, self.name)


def coordinates(app: str, env: str, version: str) -> Coordinates:
    """Validated coordinates, or :class:`BadRequest` naming the bad value."""
    try:
        return Coordinates(app=app, version=version, env=env)
    except InvalidNameError as exc:
        raise BadRequest(str(exc)) from exc


def _check_name(kind: ConfigType, name: str, *, storable: bool) -> None:
    try:
        validate_config_name(name, kind.segment, storable=storable)
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
    """The node data of the spec (an item's value; a file's content as a JSON string literal)
    with the whitespace trailer of :mod:`disconf_core.notification`: a whole file carries its
    digest (our clients apply it without a download), a cut payload the "fetch" mark."""
    if kind is ConfigType.ITEM:
        raw = value.encode("utf-8")
        if len(raw) <= MAX_NOTIFICATION_BYTES:
            return value
        cut = raw[:MAX_NOTIFICATION_BYTES].decode("utf-8", "ignore").encode("utf-8")
        return item_node_data(cut, complete=False).decode("utf-8")
    payload = json.dumps(value, ensure_ascii=False).encode("utf-8")
    complete = len(payload) <= MAX_NOTIFICATION_BYTES
    if not complete:
        cut_text = value.encode("utf-8")[: MAX_NOTIFICATION_BYTES // 2].decode("utf-8", "ignore")
        payload = json.dumps(cut_text, ensure_ascii=False).encode("utf-8")
    return file_node_data(payload, complete=complete).decode("utf-8")


def _rows(session: so.Session, coords: Coordinates) -> tuple[App, Env]:
    """The app and env rows of ``coords`` (see :func:`_rows_and_node`)."""
    return _rows_and_node(session, coords)[0]


# The statements every publish runs, built once with bind parameters: building them costs
# more than running them on SQLite, and a statement built once keeps its compiled-cache key.
_ROWS_AND_NODE = (
    sa.select(App, Env, ConfigNode.id)
    .select_from(App)
    .join(Env, Env.name == sa.bindparam("b_env"))
    .outerjoin(
        ConfigNode,
        sa.and_(
            ConfigNode.app_id == App.id,
            ConfigNode.env_id == Env.id,
            ConfigNode.version == sa.bindparam("b_version"),
        ),
    )
    .where(App.name == sa.bindparam("b_app"))
)
_ONE_CONFIG = (
    Config.app_id == sa.bindparam("b_app_id"),
    Config.env_id == sa.bindparam("b_env_id"),
    Config.version == sa.bindparam("b_version"),
    Config.type == sa.bindparam("b_type"),
    Config.name == sa.bindparam("b_name"),
)
_SELECT_CONFIG = sa.select(Config).where(*_ONE_CONFIG)
_SELECT_CONFIG_FOR_UPDATE = _SELECT_CONFIG.with_for_update()
_SELECT_CONFIG_FRESH = _SELECT_CONFIG.execution_options(populate_existing=True)
_WRITE_LOCK = sa.update(Config).where(*_ONE_CONFIG).values(revision=Config.revision)
_WRITE_LOCK_ONLY = _WRITE_LOCK.execution_options(synchronize_session=False)
_WRITE_LOCK_RETURNING = _WRITE_LOCK.returning(Config).execution_options(
    synchronize_session=False, populate_existing=True
)
# A locking read: under REPEATABLE READ a plain one would read the transaction's snapshot,
# taken before the row lock was granted, and miss a gray start that committed meanwhile.
_GRAY = cast(sa.Table, GrayRelease.__table__)
_ACTIVE_GRAY = (
    sa.select(_GRAY.c.id, _GRAY.c.created_by)
    .where(_GRAY.c.active_config_id == sa.bindparam("b_config_id"))
    .with_for_update(read=True)
)
_CONFIGS = cast(sa.Table, Config.__table__)
_UPDATE_CONFIG = sa.update(_CONFIGS).where(_CONFIGS.c.id == sa.bindparam("b_id"))
_INSERT_REVISION = sa.insert(cast(sa.Table, ConfigRevision.__table__))
_INSERT_NOTIFICATION = sa.insert(cast(sa.Table, Notification.__table__))


def _rows_and_node(session: so.Session, coords: Coordinates) -> tuple[tuple[App, Env], bool]:
    """The app and env rows of ``coords`` and whether its ZooKeeper node is claimed already, in
    one query (node rows never change once claimed, so a claimed node needs no
    :func:`claim_node`); :class:`NotFound` naming the missing one, through the catalog's
    lookups, when the app and env are not both there."""
    found = session.execute(
        _ROWS_AND_NODE, {"b_app": coords.app, "b_env": coords.env, "b_version": coords.version}
    ).first()
    if found is None:
        return (get_app(session, coords.app), get_env(session, coords.env)), False
    return (found[0], found[1]), found[2] is not None


def _find(
    session: so.Session,
    rows: tuple[App, Env],
    coords: Coordinates,
    kind: ConfigType,
    name: str,
    *,
    for_update: bool,
) -> Config | None:
    app, env = rows
    params = {
        "b_app_id": app.id,
        "b_env_id": env.id,
        "b_version": coords.version,
        "b_type": int(kind),
        "b_name": name,
    }
    if for_update and session.get_bind().dialect.name == "sqlite":
        return _sqlite_write_lock(session, params)
    return session.scalar(_SELECT_CONFIG_FOR_UPDATE if for_update else _SELECT_CONFIG, params)


def _sqlite_write_lock(session: so.Session, params: dict[str, object]) -> Config | None:
    """SQLite has no row locks, and its driver runs a transaction's reads before its first write
    outside of it: a locking read would read a state that a concurrent writer is about to
    change. A no-op write first takes the database's write lock (waiting up to its
    ``busy_timeout`` for the other writer's commit), so the reads that follow see the latest
    committed state and nobody commits in between, as ``SELECT ... FOR UPDATE`` guarantees on
    MySQL. The write returns the row it matched (``RETURNING``): the locked read in the same
    statement (SQLite 3.35 and later; before, e.g. Debian 11's 3.34, a second statement)."""
    if not SQLITE_RETURNING:
        session.execute(_WRITE_LOCK_ONLY, params)
        return session.scalar(_SELECT_CONFIG_FRESH, params)
    return session.scalar(_WRITE_LOCK_RETURNING, params)


def find_config(
    session: so.Session,
    coords: Coordinates,
    kind: ConfigType,
    name: str,
    *,
    for_update: bool = False,
) -> Config | None:
    """The config row (live or deleted), or None; unknown app/env raise :class:`NotFound`."""
    _check_name(kind, name, storable=False)
    return _find(session, _rows(session, coords), coords, kind, name, for_update=for_update)


def _live(config: Config | None) -> bool:
    return config is not None and config.status == ConfigStatus.LIVE


def _existing(config: Config | None, kind: ConfigType, name: str, coords: Coordinates) -> Config:
    """``config`` if there is a row (live or deleted), else :class:`NotFound`."""
    if config is None:
        raise NotFound(f"{_label(kind, name)} does not exist in {coords}")
    return config


def get_config(session: so.Session, coords: Coordinates, kind: ConfigType, name: str) -> Config:
    """The live config, or :class:`NotFound`."""
    config = find_config(session, coords, kind, name)
    return _existing(config if _live(config) else None, kind, name, coords)


def _check_if_match(config: Config | None, change: _Change) -> None:
    if change.if_match is None:
        return
    tags = [unquote_etag(tag) for tag in change.if_match.split(",") if tag.strip()]
    if not _live(config) and "*" in tags:
        raise PreconditionFailed(f"{change.label} does not exist (If-Match: *)")
    if not _live(config):
        raise PreconditionFailed(
            f"{change.label} does not exist, so it cannot match If-Match {change.if_match!r}"
        )
    assert config is not None
    if "*" not in tags and config.md5 not in tags:
        raise PreconditionFailed(
            f'{change.label} has changed: its ETag is "{config.md5}", not {change.if_match!r}; '
            "fetch it again and retry"
        )


def _attach(config: Config, rows: tuple[App, Env]) -> None:
    """Give the config row its app and env rows (already loaded), so that the answer built
    from it after the commit does not read them again (the row locked by
    ``UPDATE ... RETURNING`` comes without its joined relationships)."""
    so.attributes.set_committed_value(config, "app", rows[0])
    so.attributes.set_committed_value(config, "env", rows[1])


def _write_row(
    session: so.Session,
    rows: tuple[App, Env],
    config: Config | None,
    change: _Change,
    now: datetime,
) -> Config:
    """Create, update or soft-delete the config row (its revision number counts up)."""
    if config is None:
        assert change.value is not None
        app, env = rows
        config = Config(
            app_id=app.id,
            env_id=env.id,
            version=change.coords.version,
            type=int(change.kind),
            name=change.name,
            value=change.value,
            md5=content_md5(change.value),
            revision=1,
            status=ConfigStatus.LIVE,
            created_at=now,
            created_by=change.actor,
            updated_at=now,
            updated_by=change.actor,
        )
        _attach(config, rows)
        session.add(config)
        session.flush()
        return config
    # A Core UPDATE (the ORM's unit of work costs more than the statement), then the same
    # values into the row object as its loaded state, so nothing is left for a flush to write.
    values: dict[str, object] = {
        "revision": config.revision + 1,
        "updated_at": now,
        "updated_by": change.actor,
    }
    if change.value is None:
        values["status"] = int(ConfigStatus.DELETED)
    else:
        values.update(
            value=change.value, md5=content_md5(change.value), status=int(ConfigStatus.LIVE)
        )
    session.connection().execute(_UPDATE_CONFIG, {"b_id": config.id, **values})
    for name, value in values.items():
        so.attributes.set_committed_value(config, name, value)
    return config


def _record(
    session: so.Session,
    config: Config,
    change: _Change,
    *,
    action: RevisionAction,
    old_value: str | None,
    now: datetime,
) -> list[OutboxRow]:
    """The revision, the notification (not for a delete) and the audit event of a change,
    inserted as Core statements (nothing the ORM would add: the rows are not read back)."""
    connection = session.connection()
    connection.execute(
        _INSERT_REVISION,
        {
            "config_id": config.id,
            "number": config.revision,
            "action": action.value,
            "old_value": old_value,
            "new_value": change.value,
            "new_md5": None if change.value is None else content_md5(change.value),
            "author": change.actor,
            "comment": change.comment,
            "at": now,
        },
    )
    notified = []
    if change.value is not None:
        path = config_node(change.zk_prefix, change.coords, change.kind, change.name)
        data = notification_data(change.kind, change.value)
        inserted = connection.execute(
            _INSERT_NOTIFICATION,
            {"config_id": config.id, "path": path, "data": data, "created_at": now, "attempts": 0},
        )
        row_id = inserted.inserted_primary_key
        assert row_id is not None
        notified.append(OutboxRow(int(row_id[0]), NodeKey(path, config.id), data))
    audit(
        session,
        actor=change.actor,
        action=f"config.{action.value}",
        app=change.coords.app,
        target=f"{change.coords}/{change.kind.segment}/{change.name}",
        revision=config.revision,
        md5=config.md5,
        comment=change.comment,
    )
    return notified


def _own_transaction(
    session: so.Session,
    change: ConfigChange,
    work: Callable[[], ChangeResult],
    before_commit: Callable[[], None] | None = None,
) -> ChangeResult:
    """Run ``work`` (a ``_stage``) as a change that commits on its own (the ``stage_*``
    functions run in the caller's): a unique-constraint violation means someone changed the
    config meanwhile; a deadlock the database broke (first configs of a new version racing
    for its gap and node name on MySQL) is run again (:func:`run_transaction`)."""
    label = _label(change["kind"], change["name"])
    return run_transaction(
        session,
        work,
        conflict=f"{label} in {change['coords']} was changed concurrently by someone else; "
        "fetch it again and retry",
        before_commit=before_commit,
    )


def _refuse_during_gray(session: so.Session, config: Config | None, change: _Change) -> None:
    """:class:`Conflict` naming the config's running gray release (unless the change promotes
    it: ``promoting_gray``). Read after the config row is locked, like a gray start reads it
    (:func:`disconf_web.gray.releases.start` locks the same row), so a publish and a gray start
    of one config serialise: whichever locks second sees the other's commit."""
    if config is None:
        return
    release = session.connection().execute(_ACTIVE_GRAY, {"b_config_id": config.id}).first()
    if release is not None and release.id != change.promoting_gray:
        raise Conflict(
            f"{change.label} has a running gray release #{release.id} (started by "
            f"{release.created_by}): promote or abort it before publishing"
        )


def _stage(session: so.Session, change: _Change) -> ChangeResult:
    """Write one change with its revision, notification and audit, in the caller's
    transaction: lock the row, decide, write the row, record it."""
    rows, claimed = _rows_and_node(session, change.coords)
    config = _find(session, rows, change.coords, change.kind, change.name, for_update=True)
    if config is not None:
        _attach(config, rows)
    _refuse_during_gray(session, config, change)
    _check_if_match(config, change)
    live = _live(config)
    if change.value is None:
        _existing(config if live else None, change.kind, change.name, change.coords)
    elif live and config is not None and config.value == change.value:
        return ChangeResult(config=config, changed=False)
    elif not claimed:
        claim_node(session, change.coords, *rows)
    created = config is None
    old_value = config.value if config is not None and live else None
    action = change.action
    if created and action is RevisionAction.UPDATE:
        action = RevisionAction.CREATE
    now = utcnow()
    config = _write_row(session, rows, config, change, now)
    notified = _record(session, config, change, action=action, old_value=old_value, now=now)
    return ChangeResult(
        config=config,
        changed=True,
        created=created,
        revived=not created and not live and change.value is not None,
        notification_ids=[row.id for row in notified],
        notifications=notified,
    )


def publish_config(
    session: so.Session,
    *,
    content: bytes | str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    zk_prefix: str = "/disconf",
    promoting_gray: int | None = None,
    before_commit: Callable[[], None] | None = None,
    **change: Unpack[ConfigChange],
) -> ChangeResult:
    """Create the config, publish a new revision, or revive a deleted one.

    Publishing the value it already has changes nothing (``changed=False``, no revision).
    Refused (:class:`Conflict`) while the config has a running gray release, unless
    ``promoting_gray`` is its id. ``before_commit()`` runs right before the commit
    (:func:`~disconf_web.services.transactions.run_transaction`).
    """
    return _own_transaction(
        session,
        change,
        lambda: stage_publish(
            session,
            content=content,
            max_bytes=max_bytes,
            zk_prefix=zk_prefix,
            promoting_gray=promoting_gray,
            **change,
        ),
        before_commit,
    )


def stage_publish(
    session: so.Session,
    *,
    content: bytes | str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    zk_prefix: str = "/disconf",
    promoting_gray: int | None = None,
    **change: Unpack[ConfigChange],
) -> ChangeResult:
    """:func:`publish_config` inside the caller's transaction (``with transaction(...)``):
    several changes commit together or not at all (bundle imports)."""
    kind, name = change["kind"], change["name"]
    _check_name(kind, name, storable=True)
    value = _decode(kind, name, content, max_bytes)
    return _stage(
        session,
        _Change(value, RevisionAction.UPDATE, zk_prefix, promoting_gray=promoting_gray, **change),
    )


def stage_delete(
    session: so.Session, *, zk_prefix: str = "/disconf", **change: Unpack[ConfigChange]
) -> ChangeResult:
    """:func:`delete_config` inside the caller's transaction (see :func:`stage_publish`)."""
    return _stage(session, _Change(None, RevisionAction.DELETE, zk_prefix, **change))


def delete_config(
    session: so.Session, *, zk_prefix: str = "/disconf", **change: Unpack[ConfigChange]
) -> ChangeResult:
    """Soft-delete a live config (a revision is recorded; ZooKeeper is not touched)."""
    return _own_transaction(
        session, change, lambda: stage_delete(session, zk_prefix=zk_prefix, **change)
    )


def rollback_config(
    session: so.Session,
    *,
    to_revision: int,
    max_bytes: int = DEFAULT_MAX_BYTES,
    zk_prefix: str = "/disconf",
    before_commit: Callable[[], None] | None = None,
    **change: Unpack[ConfigChange],
) -> ChangeResult:
    """Publish the value a past revision set, as a new ``rollback`` revision
    (``before_commit`` as in :func:`publish_config`)."""
    coords, kind, name = change["coords"], change["kind"], change["name"]
    if isinstance(to_revision, bool) or not isinstance(to_revision, int) or to_revision < 1:
        raise BadRequest(f"revision must be a positive integer, not {to_revision!r}")
    _check_name(kind, name, storable=True)
    config = _existing(find_config(session, coords, kind, name), kind, name, coords)
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
    if len(past.new_value.encode("utf-8")) > max_bytes:
        raise PayloadTooLarge(f"revision {to_revision} is over the limit of {max_bytes} bytes")
    change = {**change, "comment": change.get("comment") or f"rollback to revision {to_revision}"}
    value = past.new_value
    return _own_transaction(
        session,
        change,
        lambda: _stage(session, _Change(value, RevisionAction.ROLLBACK, zk_prefix, **change)),
        before_commit,
    )


def list_revisions(
    session: so.Session, coords: Coordinates, kind: ConfigType, name: str
) -> list[ConfigRevision]:
    """All revisions of a config (live or deleted), newest first."""
    config = _existing(find_config(session, coords, kind, name), kind, name, coords)
    return list(
        session.scalars(
            sa.select(ConfigRevision)
            .where(ConfigRevision.config_id == config.id)
            .order_by(ConfigRevision.number.desc())
        )
    )


def _live_configs(session: so.Session, app: str, env: str) -> sa.Select[Config]:
    """The live configs of app x env (any version)."""
    return sa.select(Config).where(
        Config.app_id == get_app(session, app).id,
        Config.env_id == get_env(session, env).id,
        Config.status == int(ConfigStatus.LIVE),
    )


def list_configs(session: so.Session, coords: Coordinates) -> list[Config]:
    """The live configs of app x env x version, files first, then by name."""
    query = _live_configs(session, coords.app, coords.env)
    return list(
        session.scalars(
            query.where(Config.version == coords.version).order_by(Config.type, Config.name)
        )
    )


def list_versions(session: so.Session, app: str, env: str) -> list[str]:
    """The versions of app x env that have at least one live config, sorted."""
    live = _live_configs(session, app, env).subquery()
    return list(session.scalars(sa.select(live.c.version).distinct().order_by(live.c.version)))
