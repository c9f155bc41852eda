"""The opt-in per-app read credential of the Disconf client endpoints (migration 0004).

The original protocol serves config values to anyone who can reach the server. An admin may give
an app a **read credential**: from then on every client endpoint that reads that app's configs
(``/api/config/item``, ``/api/config/file``, ``/api/config/list``, ``/api/config/simple/list``,
on the WSGI fast path and through Flask alike) requires the header ``X-Disconf-Read-Token`` with
that credential, and answers 403 without it. Apps without one (the default) keep serving every
unmodified Disconf client.

The credential is a random string shown once when it is set or rotated; only its SHA-256 is
stored (a 256-bit random secret needs no slow hash, and the check runs on every client read).
Rotation replaces it at once: clients still sending the old one get 403 until they are given the
new one. Disabling deletes the row.

Error Handling
--------------
Database down: the hash served with each config is kept with the last-served value
(:mod:`disconf_web.protocol.last_served`), so the check still applies to answers given from it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from ..models import TABLE_ARGS, Base, Name, utcnow
from ..services.catalog import get_app as _app
from ..services.transactions import audit

__all__ = [
    "CREDENTIAL_PREFIX",
    "HEADER",
    "AppReadCredential",
    "NewReadCredential",
    "ReadCredentialState",
    "credential_matches",
    "disable_read_credential",
    "hash_credential",
    "read_credential_state",
    "set_read_credential",
]

#: The request header our client sends the credential in.
HEADER = "X-Disconf-Read-Token"
#: Every credential starts with this, so a leaked one is recognisable in logs and scanners.
CREDENTIAL_PREFIX = "dcr_"


class AppReadCredential(Base):
    """The SHA-256 of one app's read credential (no row: the app needs none)."""

    __tablename__ = "app_read_credentials"
    __table_args__ = TABLE_ARGS

    app_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    )
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64))
    updated_by: so.Mapped[str] = so.mapped_column(Name(64))
    updated_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)


def hash_credential(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def credential_matches(stored_hash: str | None, sent: str | None) -> bool:
    """True when no credential is needed (``stored_hash`` None) or ``sent`` is the credential."""
    if stored_hash is None:
        return True
    if not sent:
        return False
    return hmac.compare_digest(stored_hash, hash_credential(sent))


@dataclass(frozen=True)
class NewReadCredential:
    app: str
    secret: str  # shown once, never stored
    rotated: bool  # True: it replaced an earlier credential


@dataclass(frozen=True)
class ReadCredentialState:
    app: str
    enabled: bool
    updated_by: str | None
    updated_at: datetime | None


def _audit(session: so.Session, actor: str, action: str, app: str) -> None:
    audit(session, actor=actor, action=action, app=app, target=app, header=HEADER)


def read_credential_state(session: so.Session, app_name: str) -> ReadCredentialState:
    app = _app(session, app_name)
    row = session.get(AppReadCredential, app.id)
    if row is None:
        return ReadCredentialState(app.name, False, None, None)
    return ReadCredentialState(app.name, True, row.updated_by, row.updated_at)


def set_read_credential(session: so.Session, app_name: str, *, actor: str) -> NewReadCredential:
    """Give the app a new credential (enable, or rotate an existing one); commits."""
    app = _app(session, app_name)
    secret = CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
    row = session.get(AppReadCredential, app.id)
    rotated = row is not None
    if row is None:
        row = AppReadCredential(app_id=app.id, token_hash="", updated_by=actor)
        session.add(row)
    row.token_hash = hash_credential(secret)
    row.updated_by = actor
    row.updated_at = utcnow()
    _audit(session, actor, "rotate_read_credential" if rotated else "set_read_credential", app.name)
    session.commit()
    return NewReadCredential(app.name, secret, rotated)


def disable_read_credential(session: so.Session, app_name: str, *, actor: str) -> bool:
    """Remove the app's credential (reads are open again); False if it had none. Commits."""
    app = _app(session, app_name)
    row = session.get(AppReadCredential, app.id)
    if row is None:
        return False
    session.delete(row)
    _audit(session, actor, "disable_read_credential", app.name)
    session.commit()
    return True
