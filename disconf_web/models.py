"""The storage model (SQLAlchemy 2.0). The schema itself is created only by the Alembic
migrations in ``disconf_web/migrations`` (``disconf-web db upgrade``).

* ``App``/``Env``: looked up by unique name; a version is a free string on each config.
* ``Config``: one file (type 0) or item (type 1) per (app, env, version, type, name), unique in
  the database; ``status`` 1 live / 0 deleted (a delete is soft; a later PUT revives it);
  ``revision`` counts its ``ConfigRevision`` rows, which keep the full old and new values.
* ``ConfigNode``: the ZooKeeper node name ``<app>_<version>_<env>`` of every app x env x
  version that has configs, unique: ``_`` may appear inside names, so two different triples
  can spell the same node, and the database refuses the second one (migration 0005).
* ``User``/``AppGrant``/``ApiToken``: roles admin/editor/viewer, grants per app, tokens kept
  only as SHA-256 hashes. ``ConsoleSession``: the console sessions signed in right now.
* ``Notification``: a durable "setData this ZooKeeper node" written in the same transaction as
  the change; ``delivered_at`` is set once ZooKeeper accepted it, ``failed_at`` once it refused
  it for good.
* ``AuditEvent``: who did what, for every change, creation, login and token operation.
* ``GrayRelease``: a gray release of one config (new content for targeted instances);
  ``active_config_id`` is the config's id while it runs and NULL once promoted or aborted, so
  the database allows one running gray release per config (migration 0007).
* ``ReadGeneration``: one row (id 1) whose ``value`` every committed write of a table the client
  hot query reads increases, in that write's transaction (migration 0008; see
  :mod:`disconf_web.protocol.read_cache`).

Times are naive UTC. Names use a binary (case-sensitive) collation on MySQL, like ZooKeeper.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import mysql

__all__ = [
    "ApiToken",
    "App",
    "AppGrant",
    "AuditEvent",
    "Base",
    "Config",
    "ConfigNode",
    "ConfigRevision",
    "ConfigStatus",
    "ConsoleSession",
    "Env",
    "GrayRelease",
    "GrayStatus",
    "LoginAttempt",
    "Notification",
    "ReadGeneration",
    "Role",
    "RevisionAction",
    "User",
    "utcnow",
]


def utcnow() -> datetime:
    """Now, as the naive UTC datetime stored in the database."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def Name(length: int) -> sa.types.TypeEngine[str]:  # noqa: N802 - a column type factory
    """A sized, case-sensitive string column (``utf8mb4_bin`` on MySQL)."""
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql"
    )


def LongText() -> sa.types.TypeEngine[str]:  # noqa: N802 - a column type factory
    """Text of any size we accept (MySQL ``TEXT`` stops at 64 KiB: use ``LONGTEXT``)."""
    return sa.Text().with_variant(
        mysql.LONGTEXT(charset="utf8mb4", collation="utf8mb4_bin"), "mysql"
    )


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


class Role(str, enum.Enum):
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


class ConfigStatus(enum.IntEnum):
    DELETED = 0
    LIVE = 1


class RevisionAction(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ROLLBACK = "rollback"


class Base(so.DeclarativeBase):
    pass


class Named:
    """The columns of a row found by its unique, case-sensitive name (apps, envs, users)."""

    __table_args__ = TABLE_ARGS

    id: so.Mapped[int] = so.mapped_column(primary_key=True, sort_order=-2)
    name: so.Mapped[str] = so.mapped_column(Name(64), unique=True, sort_order=-1)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)


class App(Named, Base):
    __tablename__ = "apps"

    description: so.Mapped[str] = so.mapped_column(sa.String(1000), default="")
    created_by: so.Mapped[str] = so.mapped_column(Name(64))


class Env(Named, Base):
    __tablename__ = "envs"

    created_by: so.Mapped[str] = so.mapped_column(Name(64))


class Config(Base):
    __tablename__ = "configs"
    __table_args__ = (
        sa.UniqueConstraint("app_id", "env_id", "version", "type", "name", name="uq_config"),
        TABLE_ARGS,
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    app_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("apps.id"))
    env_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("envs.id"))
    version: so.Mapped[str] = so.mapped_column(Name(64))
    type: so.Mapped[int] = so.mapped_column(sa.SmallInteger)
    name: so.Mapped[str] = so.mapped_column(Name(255))
    value: so.Mapped[str] = so.mapped_column(LongText())
    md5: so.Mapped[str] = so.mapped_column(sa.String(32))
    revision: so.Mapped[int] = so.mapped_column(default=1)
    status: so.Mapped[int] = so.mapped_column(sa.SmallInteger, default=ConfigStatus.LIVE)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    created_by: so.Mapped[str] = so.mapped_column(Name(64))
    updated_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    updated_by: so.Mapped[str] = so.mapped_column(Name(64))

    app: so.Mapped[App] = so.relationship(lazy="joined")
    env: so.Mapped[Env] = so.relationship(lazy="joined")


class ConfigNode(Base):
    """The ZooKeeper node of one app x env x version, claimed when its first config is created.

    ``node_name`` is unique, so of two triples that spell the same node name only the first
    can have configs (app ``col`` version ``x_v1`` and app ``col_x`` version ``v1`` both make
    ``col_x_v1_<env>``); the unique triple keeps a triple from being claimed twice.
    """

    __tablename__ = "config_nodes"
    __table_args__ = (
        sa.UniqueConstraint("app_id", "env_id", "version", name="uq_config_node_triple"),
        TABLE_ARGS,
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    node_name: so.Mapped[str] = so.mapped_column(Name(200), unique=True)
    app_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("apps.id"))
    env_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("envs.id"))
    version: so.Mapped[str] = so.mapped_column(Name(64))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    app: so.Mapped[App] = so.relationship(lazy="joined")
    env: so.Mapped[Env] = so.relationship(lazy="joined")


class ConfigRevision(Base):
    __tablename__ = "config_revisions"
    __table_args__ = (
        sa.UniqueConstraint("config_id", "number", name="uq_config_revision"),
        TABLE_ARGS,
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    config_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("configs.id"))
    number: so.Mapped[int]
    action: so.Mapped[str] = so.mapped_column(sa.String(16))
    old_value: so.Mapped[str | None] = so.mapped_column(LongText())
    new_value: so.Mapped[str | None] = so.mapped_column(LongText())
    new_md5: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    author: so.Mapped[str] = so.mapped_column(Name(64))
    comment: so.Mapped[str] = so.mapped_column(sa.String(1000), default="")
    at: so.Mapped[datetime] = so.mapped_column(default=utcnow)


class User(Named, Base):
    __tablename__ = "users"

    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    role: so.Mapped[str] = so.mapped_column(sa.String(16))
    active: so.Mapped[bool] = so.mapped_column(default=True)
    # Bumped when the user is disabled or changes password: console sessions carrying an older
    # value are logged out (migration 0002).
    session_version: so.Mapped[int] = so.mapped_column(default=0, server_default="0")


class AppGrant(Base):
    __tablename__ = "app_grants"
    __table_args__ = (sa.UniqueConstraint("user_id", "app_id", name="uq_app_grant"), TABLE_ARGS)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    app_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("apps.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = TABLE_ARGS

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    name: so.Mapped[str] = so.mapped_column(sa.String(64))
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    prefix: so.Mapped[str] = so.mapped_column(sa.String(16))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    last_used_at: so.Mapped[datetime | None]
    revoked_at: so.Mapped[datetime | None]
    # The token that created this one through the API (None: created by a console session or
    # the CLI). Revoking a token revokes every token created through it (migration 0006).
    created_by_token_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("api_tokens.id"), index=True
    )

    user: so.Mapped[User] = so.relationship(lazy="joined")


class ConsoleSession(Base):
    """One signed-in console session (migration 0006). ``id`` is the SHA-256 of the session's
    CSRF secret, which only the session cookie holds: logging out deletes the row, so a copied
    cookie stops working and its CSRF token with it."""

    __tablename__ = "console_sessions"
    __table_args__ = TABLE_ARGS

    id: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, index=True)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_pending", "delivered_at", "id"),
        sa.Index("ix_notifications_config", "config_id", "id"),
        TABLE_ARGS,
    )

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True, autoincrement=True)
    config_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("configs.id"))
    path: so.Mapped[str] = so.mapped_column(sa.String(1024))
    data: so.Mapped[str] = so.mapped_column(LongText())
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    delivered_at: so.Mapped[datetime | None]
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(1000))
    # Set when ZooKeeper refused the row for good (bad node name, data too large): the row is
    # skipped by delivery until an admin retries it (see disconf_web.notifier).
    failed_at: so.Mapped[datetime | None]


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = TABLE_ARGS

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True, autoincrement=True)
    at: so.Mapped[datetime] = so.mapped_column(default=utcnow, index=True)
    actor: so.Mapped[str] = so.mapped_column(Name(64))
    action: so.Mapped[str] = so.mapped_column(sa.String(64))
    app: so.Mapped[str | None] = so.mapped_column(Name(64))
    target: so.Mapped[str] = so.mapped_column(sa.String(1024), default="")
    detail: so.Mapped[str] = so.mapped_column(sa.Text(), default="")


class LoginAttempt(Base):
    """One console login attempt (migration 0002): the rate limit counts recent failures."""

    __tablename__ = "login_attempts"
    __table_args__ = (sa.Index("ix_login_attempts_lookup", "username", "ip", "at"), TABLE_ARGS)

    id: so.Mapped[int] = so.mapped_column(BigId, primary_key=True, autoincrement=True)
    username: so.Mapped[str] = so.mapped_column(Name(64))
    ip: so.Mapped[str] = so.mapped_column(sa.String(64))
    at: so.Mapped[datetime] = so.mapped_column(default=utcnow, index=True)
    success: so.Mapped[bool] = so.mapped_column(default=False)


class GrayStatus(str, enum.Enum):
    ACTIVE = "active"
    PROMOTED = "promoted"
    ABORTED = "aborted"


class GrayRelease(Base):
    """A gray release of one config (see :mod:`disconf_web.gray`): ``value`` is served to the
    instances ``target`` selects (JSON: ``{"instances": [...]}``, ``{"hosts": [...]}``,
    ``{"labels": {...}}`` or ``{"percent": n}``); every other instance keeps the main revision."""

    __tablename__ = "gray_releases"
    __table_args__ = TABLE_ARGS

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    config_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("configs.id"), index=True)
    # The config's id while running, NULL once ended: one running gray release per config.
    active_config_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("configs.id"), unique=True
    )
    value: so.Mapped[str] = so.mapped_column(LongText())
    md5: so.Mapped[str] = so.mapped_column(sa.String(32))
    target: so.Mapped[str] = so.mapped_column(sa.Text())
    status: so.Mapped[str] = so.mapped_column(sa.String(16))
    base_revision: so.Mapped[int]
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    created_by: so.Mapped[str] = so.mapped_column(Name(64))
    comment: so.Mapped[str] = so.mapped_column(sa.String(1000), default="")
    ended_at: so.Mapped[datetime | None]
    ended_by: so.Mapped[str | None] = so.mapped_column(Name(64))
    end_comment: so.Mapped[str] = so.mapped_column(sa.String(1000), default="")


class ReadGeneration(Base):
    """The read generation (one row, id 1): increased by the last statement of every
    transaction that writes a table the client hot query reads (:mod:`disconf_web.extensions`),
    so a read cache can tell whether a row it kept may be out of date
    (:mod:`disconf_web.protocol.read_cache`). The migration inserts the row; nothing else
    inserts or deletes rows here."""

    __tablename__ = "read_generation"
    __table_args__ = TABLE_ARGS

    id: so.Mapped[int] = so.mapped_column(primary_key=True, autoincrement=False)
    value: so.Mapped[int] = so.mapped_column(sa.BigInteger)
