"""Services the web console needs beyond the admin API's: login rate limiting, user
administration (role, disabled flag, grants, session version) and copying a version or env to
another. The grant queries the console pages use (granted apps per user, app members, app names)
live in :mod:`~disconf_web.services.accounts` and are re-exported here; audit pages are read
through :mod:`~disconf_web.services.listing`.

Like the other services they take a plain ``so.Session``, commit themselves and write an
``AuditEvent`` for every change; every config change goes through
:func:`~disconf_web.services.configs.publish_config` / ``delete_config`` so it is a revision plus
a ZooKeeper notification like any other.

Error Handling
--------------
Nothing here talks to ZooKeeper. Bad input raises a :mod:`~disconf_web.services.errors`
exception naming the bad value before anything is written. :func:`apply_copy` applies the
changes one config at a time, each with the ``If-Match`` captured by :func:`plan_copy`: if
someone changed a target config since the preview, that change is refused with
:class:`PreconditionFailed` and the configs already copied stay copied (each is a complete
revision); the caller shows the error and a fresh preview.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
import sqlalchemy.orm as so

from disconf_core import ConfigType, Coordinates

from ..models import App, AppGrant, LoginAttempt, User, utcnow
from .accounts import app_members as app_members
from .accounts import app_names as app_names
from .accounts import get_user as find_user
from .accounts import granted_app_ids, parse_role
from .accounts import granted_apps as granted_apps
from .catalog import get_app
from .configs import (
    DEFAULT_MAX_BYTES,
    ConfigChange,
    delete_config,
    list_configs,
    publish_config,
)
from .errors import BadRequest
from .transactions import audit as audit

__all__ = [
    "LOGIN_MAX_FAILURES",
    "LOGIN_WINDOW",
    "CopyEntry",
    "ChangePlan",
    "CopyPlan",
    "entry_change",
    "app_members",
    "app_names",
    "apply_copy",
    "audit",
    "bump_session_version",
    "find_user",
    "granted_apps",
    "login_blocked",
    "plan_copy",
    "record_login_attempt",
    "set_user_access",
]

LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW = timedelta(minutes=5)
# Attempts older than this are deleted now and then (the table stays small).
_ATTEMPT_RETENTION = timedelta(days=1)


# -- login rate limiting --------------------------------------------------------------------


def login_blocked(
    session: so.Session,
    *,
    username: str,
    ip: str,
    now: datetime | None = None,
    max_failures: int = LOGIN_MAX_FAILURES,
    window: timedelta = LOGIN_WINDOW,
) -> int:
    """0 if a login of ``username`` from ``ip`` may be tried, else seconds until it may.

    Counts failures stored in the database, so every web process sees the same count.
    """
    now = now or utcnow()
    since = now - window
    failures = list(
        session.scalars(
            sa.select(LoginAttempt.at)
            .where(
                LoginAttempt.username == username[:64],
                LoginAttempt.ip == ip[:64],
                LoginAttempt.at > since,
                LoginAttempt.success.is_(False),
            )
            .order_by(LoginAttempt.at.desc())
            .limit(max_failures)
        )
    )
    session.rollback()
    if len(failures) < max_failures:
        return 0
    oldest = failures[-1]
    return max(1, int((oldest + window - now).total_seconds()) + 1)


def record_login_attempt(
    session: so.Session, *, username: str, ip: str, success: bool, now: datetime | None = None
) -> None:
    """Store one attempt; a success clears the user+IP's failures (the count restarts)."""
    now = now or utcnow()
    if success:
        session.execute(
            sa.delete(LoginAttempt).where(
                LoginAttempt.username == username[:64], LoginAttempt.ip == ip[:64]
            )
        )
    else:
        session.add(LoginAttempt(username=username[:64], ip=ip[:64], at=now, success=False))
    session.execute(sa.delete(LoginAttempt).where(LoginAttempt.at < now - _ATTEMPT_RETENTION))
    session.commit()


# -- users ------------------------------------------------------------------------------------


def bump_session_version(session: so.Session, user: User) -> int:
    """Log out every console session of ``user`` (the caller commits). The new version."""
    user.session_version = (user.session_version or 0) + 1
    return user.session_version


def set_user_access(
    session: so.Session,
    *,
    name: str,
    actor: str,
    role: str | None = None,
    active: bool | None = None,
    apps: list[str] | None = None,
) -> User:
    """Change a user's role, disabled flag and/or granted apps; each change is audited.

    Disabling a user logs out their console sessions (their API tokens stop working too:
    tokens of inactive users are refused).
    """
    user = find_user(session, name)
    if role is not None:
        new_role = parse_role(role).value
        if new_role != user.role:
            audit(
                session, actor=actor, action="user.role", target=name, old=user.role, new=new_role
            )
            user.role = new_role
    if active is not None and active != user.active:
        user.active = active
        audit(session, actor=actor, action="user.enable" if active else "user.disable", target=name)
        if not active:
            bump_session_version(session, user)
    if apps is not None:
        wanted: dict[int, str] = {}
        for app_name in apps:
            app = get_app(session, app_name)
            wanted[app.id] = app.name
        current = granted_app_ids(session, user)
        names = {row.id: row.name for row in session.execute(sa.select(App.id, App.name))}
        for app_id in sorted(set(wanted) - current):
            session.add(AppGrant(user_id=user.id, app_id=app_id, created_at=utcnow()))
            audit(session, actor=actor, action="grant.create", target=name, app=wanted[app_id])
        for app_id in sorted(current - set(wanted)):
            session.execute(
                sa.delete(AppGrant).where(AppGrant.user_id == user.id, AppGrant.app_id == app_id)
            )
            audit(session, actor=actor, action="grant.revoke", target=name, app=names.get(app_id))
    session.commit()
    return user


# -- copying a version or env -----------------------------------------------------------------


class _PlanEntry(Protocol):
    @property
    def kind(self) -> ConfigType: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def new_value(self) -> str | None: ...
    @property
    def target_md5(self) -> str | None: ...


class ChangePlan:
    """What a copy plan and a bundle import plan share: the ``target`` version and the
    ``entries`` planned for its configs, each with a ``status`` and its ``new_value``."""

    target: Coordinates
    entries: Sequence[_PlanEntry]

    def count(self, status: str) -> int:
        return sum(1 for entry in self.entries if entry.status == status)

    def changed(self) -> list[tuple[Coordinates, ConfigType, str, str]]:
        """The added and changed configs with their new values (what the guard checks)."""
        return [
            (self.target, entry.kind, entry.name, entry.new_value or "")
            for entry in self.entries
            if entry.status in ("added", "changed")
        ]


def entry_change(
    target: Coordinates, entry: _PlanEntry, *, actor: str, comment: str
) -> ConfigChange:
    """The change of one entry of a copy or import plan: its config in ``target``, applied only
    if that config is still as the plan saw it (If-Match on its md5; None: it did not exist)."""
    return {
        "coords": target,
        "kind": entry.kind,
        "name": entry.name,
        "actor": actor,
        "comment": comment,
        "if_match": None if entry.target_md5 is None else f'"{entry.target_md5}"',
    }


@dataclass(frozen=True)
class CopyEntry:
    """One config of a copy: ``status`` is added, changed, unchanged or removed."""

    kind: ConfigType
    name: str
    status: str
    source_value: str | None
    target_value: str | None
    target_md5: str | None

    @property
    def new_value(self) -> str | None:
        return self.source_value


@dataclass
class CopyPlan(ChangePlan):
    source: Coordinates
    target: Coordinates
    entries: list[CopyEntry] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """Identifies the plan: a preview is applied only if nothing changed since."""
        digest = hashlib.sha256()
        for entry in self.entries:
            digest.update(
                json.dumps(
                    [
                        int(entry.kind),
                        entry.name,
                        entry.status,
                        entry.target_md5,
                        hashlib.md5((entry.source_value or "").encode()).hexdigest(),
                    ]  # fmt: skip
                ).encode()
            )
        return digest.hexdigest()[:32]


def plan_copy(session: so.Session, source: Coordinates, target: Coordinates) -> CopyPlan:
    """What copying every live config of ``source`` to ``target`` (same app or not) changes.

    Configs only in the target are listed as ``removed`` (deleted only if asked).
    """
    if source == target:
        raise BadRequest(f"source and target are both {source}: choose another env or version")
    sources = {(ConfigType(c.type), c.name): c for c in list_configs(session, source)}
    targets = {(ConfigType(c.type), c.name): c for c in list_configs(session, target)}
    plan = CopyPlan(source, target)
    for key in sorted(set(sources) | set(targets), key=lambda k: (int(k[0]), k[1])):
        src, dst = sources.get(key), targets.get(key)
        if src is None:
            assert dst is not None
            status = "removed"
        elif dst is None:
            status = "added"
        else:
            status = "unchanged" if src.value == dst.value else "changed"
        plan.entries.append(
            CopyEntry(
                kind=key[0],
                name=key[1],
                status=status,
                source_value=None if src is None else src.value,
                target_value=None if dst is None else dst.value,
                target_md5=None if dst is None else dst.md5,
            )
        )
    session.rollback()
    return plan


def apply_copy(
    session: so.Session,
    plan: CopyPlan,
    *,
    actor: str,
    comment: str,
    delete_removed: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    zk_prefix: str = "/disconf",
) -> list[int]:
    """Apply a plan through the config services; the notification ids to deliver."""
    note = comment or f"copied from {plan.source}"
    ids: list[int] = []
    for entry in plan.entries:
        if entry.status in ("added", "changed"):
            assert entry.source_value is not None
            result = publish_config(
                session,
                content=entry.source_value,
                max_bytes=max_bytes,
                zk_prefix=zk_prefix,
                **entry_change(plan.target, entry, actor=actor, comment=note),
            )
            ids.extend(result.notification_ids)
        elif entry.status == "removed" and delete_removed:
            delete_config(
                session,
                zk_prefix=zk_prefix,
                **entry_change(plan.target, entry, actor=actor, comment=note),
            )
    audit(
        session,
        actor=actor,
        action="config.copy",
        app=plan.target.app,
        target=f"{plan.source} -> {plan.target}",
        added=plan.count("added"),
        changed=plan.count("changed"),
        removed=plan.count("removed") if delete_removed else 0,
        comment=comment,
    )
    session.commit()
    return ids
