"""Apps and envs: created through the API (never hard-coded), unique by name."""

from __future__ import annotations

import json

import sqlalchemy as sa
import sqlalchemy.exc
import sqlalchemy.orm as so

from disconf_core import InvalidNameError, validate_segment

from ..models import App, AppGrant, AuditEvent, Env, utcnow
from .errors import BadRequest, Conflict, NotFound

__all__ = ["create_app_record", "create_env", "get_app", "list_apps", "list_envs"]


def _valid(name: object, what: str) -> str:
    try:
        return validate_segment(name, what)
    except InvalidNameError as exc:
        raise BadRequest(str(exc)) from exc


def create_app_record(
    session: so.Session,
    *,
    name: str,
    description: str = "",
    actor: str,
    actor_user_id: int | None = None,
) -> App:
    """Create an app; its creator (when a user) is granted it. Duplicate -> :class:`Conflict`."""
    _valid(name, "app")
    if not isinstance(description, str) or len(description) > 1000:
        raise BadRequest("description must be a string of at most 1000 characters")
    now = utcnow()
    app = App(name=name, description=description, created_by=actor, created_at=now)
    try:
        session.add(app)
        session.flush()
        if actor_user_id is not None:
            session.add(AppGrant(user_id=actor_user_id, app_id=app.id, created_at=now))
        session.add(
            AuditEvent(
                at=now,
                actor=actor,
                action="app.create",
                app=name,
                target=name,
                detail=json.dumps({"description": description}, ensure_ascii=False),
            )
        )
        session.commit()
    except sa.exc.IntegrityError as exc:
        session.rollback()
        raise Conflict(f"app {name!r} already exists") from exc
    except BaseException:
        session.rollback()
        raise
    return app


def create_env(session: so.Session, *, name: str, actor: str) -> Env:
    """Create an env. Duplicate -> :class:`Conflict`."""
    _valid(name, "env")
    now = utcnow()
    env = Env(name=name, created_by=actor, created_at=now)
    try:
        session.add(env)
        session.add(AuditEvent(at=now, actor=actor, action="env.create", target=name, detail=""))
        session.commit()
    except sa.exc.IntegrityError as exc:
        session.rollback()
        raise Conflict(f"env {name!r} already exists") from exc
    except BaseException:
        session.rollback()
        raise
    return env


def get_app(session: so.Session, name: str) -> App:
    app = session.scalar(sa.select(App).where(App.name == name))
    if app is None:
        raise NotFound(f"app {name!r} does not exist")
    return app


def list_apps(session: so.Session, *, only_ids: set[int] | None = None) -> list[App]:
    """All apps by name, or only those whose id is in ``only_ids``."""
    query = sa.select(App).order_by(App.name)
    if only_ids is not None:
        if not only_ids:
            return []
        query = query.where(App.id.in_(only_ids))
    return list(session.scalars(query))


def list_envs(session: so.Session) -> list[Env]:
    return list(session.scalars(sa.select(Env).order_by(Env.name)))
