"""Gray releases as stored: the rows, their SQL, and the start / end of one release.

A release (:class:`~disconf_web.models.GrayRelease`) is a row; while it runs, its
``active_config_id`` is the config's id (unique: at most one running release per config).
:func:`start` and :func:`end` write the row, the audit event (``config.gray_start``,
``config.gray_promote``, ``config.gray_abort``) and, for a start or an abort, a notification
whose node data is the main payload with the *fetch* mark
(:func:`disconf_core.notification.fetch_marked`): every instance re-fetches; the ones whose
answer did not change call no callback. They return the notification ids; delivering them, and
promoting through the publisher, is :mod:`disconf_web.gray.rollout`'s job.
:func:`refuse_during_gray` is the publisher's hook: while a release runs, any other change of
that config is refused with 409 naming the release.

Error Handling
--------------
* Database down: start/end roll back and raise (the API answers 503); nothing is notified.
* ZooKeeper: not used here (a written notification stays pending until delivered or swept).
* Restart: releases live in the database; nothing is kept in memory.

Races: a start locks the config row (``SELECT ... FOR UPDATE``) before it looks for a running
release, and every change of a config (:mod:`disconf_web.services.configs`) looks for one after
locking the same row, so a publish and a start of one config serialise: a publish that locks
second is refused with 409; a start that locks second runs against the newer main revision
(``base_revision``). On SQLite (no row locks) the lock step takes the database's write lock
instead, with the same effect. The publisher's own earlier check (:func:`refuse_during_gray`)
only refuses early.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
import sqlalchemy.orm as so

from disconf_core import ConfigType, Coordinates, config_node
from disconf_core.hashing import content_md5
from disconf_core.notification import fetch_marked

from ..models import App, Config, ConfigStatus, Env, GrayRelease, GrayStatus, Notification, utcnow
from ..services.configs import find_config, notification_data
from ..services.errors import BadRequest, Conflict, NotFound
from ..services.transactions import audit, transaction

__all__ = [
    "ConfigRef",
    "active_gray",
    "describe",
    "end",
    "history",
    "refuse_during_gray",
    "release_json",
    "running",
    "running_releases",
    "start",
]


def active_gray(session: so.Session, config_id: int) -> GrayRelease | None:
    return session.scalar(sa.select(GrayRelease).where(GrayRelease.active_config_id == config_id))


def describe(release: GrayRelease) -> str:
    """How messages name a release: ``gray release #7 (started by alice)``."""
    return f"gray release #{release.id} (started by {release.created_by})"


def refuse_during_gray(
    session: so.Session,
    configs: Iterable[tuple[Coordinates, ConfigType, str]],
    *,
    allow: int | None = None,
) -> None:
    """The publisher's hook: :class:`Conflict` (409) naming the running gray release of any of
    these configs (``allow``: the release being promoted). One query for all of them."""
    wanted = list(configs)
    if not wanted:
        return
    conditions = [
        sa.and_(
            App.name == coords.app,
            Env.name == coords.env,
            Config.version == coords.version,
            Config.type == int(kind),
            Config.name == name,
        )
        for coords, kind, name in wanted
    ]
    query = (
        sa.select(GrayRelease, Config.name, Config.type)
        .join(Config, Config.id == GrayRelease.active_config_id)
        .join(App, App.id == Config.app_id)
        .join(Env, Env.id == Config.env_id)
        .where(sa.or_(*conditions))
    )
    for release, name, kind in session.execute(query):
        if release.id == allow:
            continue
        raise Conflict(
            f"{ConfigType(kind).segment} {name!r} has a running {describe(release)}: promote "
            "or abort it before publishing"
        )


def running_releases(session: so.Session, config_ids: Iterable[int]) -> dict[int, GrayRelease]:
    """``{config id: its running release}`` for the configs among ``config_ids`` that have one
    (one query; none for an empty list)."""
    ids = sorted(set(config_ids))
    if not ids:
        return {}
    query = sa.select(GrayRelease).where(GrayRelease.active_config_id.in_(ids))
    return {int(release.config_id): release for release in session.scalars(query)}


def _fetch_notification(
    session: so.Session, prefix: str, coords: Coordinates, config: Config, now: Any
) -> Notification:
    kind = ConfigType(config.type)
    data = fetch_marked(notification_data(kind, config.value).encode("utf-8"))
    notification = Notification(
        config_id=config.id,
        path=config_node(prefix, coords, kind, config.name),
        data=data.decode("utf-8"),
        created_at=now,
        attempts=0,
    )
    session.add(notification)
    return notification


class ConfigRef(NamedTuple):
    """The config a gray release is about."""

    coords: Coordinates
    kind: ConfigType
    name: str

    @property
    def label(self) -> str:
        """``files 'a.properties'``: the config in messages."""
        return f"{self.kind.segment} {self.name!r}"

    @property
    def path(self) -> str:
        """``app/env/version/files/a.properties``: the config as an audit event's target."""
        return f"{self.coords}/{self.kind.segment}/{self.name}"


def _live_config(session: so.Session, ref: ConfigRef) -> Config:
    config = find_config(session, *ref, for_update=True)
    if config is None or config.status != ConfigStatus.LIVE:
        raise NotFound(f"{ref.label} does not exist in {ref.coords}")
    return config


def start(
    session: so.Session,
    ref: ConfigRef,
    *,
    zk_prefix: str,
    value: str,
    target: Mapping[str, Any],
    actor: str,
    comment: str,
) -> tuple[GrayRelease, list[int]]:
    """Start a gray release (its notification ids to deliver). 409 if one runs already."""
    label, coords = ref.label, ref.coords
    with transaction(session, conflict=f"{label} got a gray release concurrently: reload"):
        config = _live_config(session, ref)
        running = active_gray(session, config.id)
        if running is not None:
            raise Conflict(f"{label} already has a running {describe(running)}")
        if config.value == value:
            raise BadRequest(f"the gray content of {label} is the same as its main revision")
        now = utcnow()
        release = GrayRelease(
            config_id=config.id,
            active_config_id=config.id,
            value=value,
            md5=content_md5(value),
            target=json.dumps(target, sort_keys=True),
            status=GrayStatus.ACTIVE.value,
            base_revision=config.revision,
            created_at=now,
            created_by=actor,
            comment=comment,
            end_comment="",
        )
        session.add(release)
        session.flush()
        notification = _fetch_notification(session, zk_prefix, coords, config, now)
        audit(
            session,
            actor=actor,
            action="config.gray_start",
            app=coords.app,
            target=ref.path,
            gray=release.id,
            md5=release.md5,
            gray_target=target,
            comment=comment,
        )
        session.flush()
        return release, [notification.id]


def running(session: so.Session, ref: ConfigRef) -> GrayRelease:
    """The running release of a config, or :class:`NotFound`."""
    config = find_config(session, *ref)
    release = None if config is None else active_gray(session, config.id)
    if release is None:
        raise NotFound(f"{ref.label} in {ref.coords} has no running gray release")
    return release


def end(
    session: so.Session,
    ref: ConfigRef,
    *,
    zk_prefix: str,
    release_id: int,
    status: GrayStatus,
    actor: str,
    comment: str,
) -> tuple[GrayRelease, list[int]]:
    """End the running release ``release_id`` (aborted: with a re-fetch notification; promoted:
    the publish notified already). :class:`NotFound` if it is not running any more."""
    label, coords = ref.label, ref.coords
    with transaction(session, conflict=f"{label}: the gray release changed concurrently"):
        config = _live_config(session, ref)
        release = active_gray(session, config.id)
        if release is None or release.id != release_id:
            raise NotFound(f"{label} in {coords} has no running gray release #{release_id}")
        now = utcnow()
        release.status = status.value
        release.active_config_id = None
        release.ended_at = now
        release.ended_by = actor
        release.end_comment = comment
        ids: list[int] = []
        if status is GrayStatus.ABORTED:
            notification = _fetch_notification(session, zk_prefix, coords, config, now)
            session.flush()
            ids.append(notification.id)
        audit(
            session,
            actor=actor,
            action=f"config.gray_{'abort' if status is GrayStatus.ABORTED else 'promote'}",
            app=coords.app,
            target=ref.path,
            gray=release.id,
            revision=config.revision,
            md5=config.md5,
            comment=comment,
        )
        session.flush()
        return release, ids


def history(
    session: so.Session, coords: Coordinates, kind: ConfigType, name: str, limit: int = 100
) -> Sequence[GrayRelease]:
    """The config's gray releases, newest first (at most ``limit``)."""
    config = find_config(session, coords, kind, name)
    if config is None:
        raise NotFound(f"{kind.segment} {name!r} does not exist in {coords}")
    query = (
        sa.select(GrayRelease)
        .where(GrayRelease.config_id == config.id)
        .order_by(GrayRelease.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def release_json(release: GrayRelease) -> dict[str, Any]:
    return {
        "id": release.id,
        "status": release.status,
        "target": json.loads(release.target),
        "md5": release.md5,
        "base_revision": release.base_revision,
        "created_at": release.created_at.isoformat() + "Z",
        "created_by": release.created_by,
        "comment": release.comment,
        "ended_at": None if release.ended_at is None else release.ended_at.isoformat() + "Z",
        "ended_by": release.ended_by,
        "end_comment": release.end_comment,
    }
