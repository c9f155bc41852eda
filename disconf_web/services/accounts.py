"""Users, app grants and API tokens.

Passwords are hashed with argon2 (argon2-cffi); tokens are ``dsk_`` + 43 random URL-safe
characters, shown once and stored only as their SHA-256. Roles: ``admin`` (everything),
``editor`` (changes the apps granted to them; creates apps, granted on creation), ``viewer``
(reads the apps granted to them).

Token ownership: a token belongs to its user, and a token created *through another token* (by an
API call authenticated with it) is also tied to that token: revoking a token revokes every token
created through it, transitively, so a leaked token cannot mint successors that outlive it.
Tokens created from a console session or the CLI have no parent.

Console sessions: :func:`open_console_session` records each sign-in (the SHA-256 of the
session's secret); :func:`console_session_active` is checked on every request and
:func:`close_console_session` (logout) deletes the row, so a copied cookie stops working.

Login takes the same work whether the user exists or not: an unknown or disabled user's password
is verified against a dummy argon2 hash, so response times do not tell which names exist.

Error Handling
--------------
Everything here is one database transaction per call; a lost database raises SQLAlchemy's
``OperationalError`` with nothing half-written (a revocation and its cascade commit together),
which the web app answers with 503. No state is kept in the process: a restart changes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..models import ApiToken, App, AppGrant, ConsoleSession, Role, User, utcnow
from .catalog import find_named, get_app, valid_segment
from .errors import BadRequest, Conflict, NotFound
from .transactions import audit, transaction

__all__ = [
    "TOKEN_PREFIX",
    "NewToken",
    "app_members",
    "app_names",
    "authenticate",
    "close_console_session",
    "console_session_active",
    "create_token",
    "create_user",
    "get_user",
    "grant_app",
    "granted_app_ids",
    "granted_apps",
    "is_granted",
    "list_tokens",
    "list_users",
    "open_console_session",
    "parse_role",
    "revoke_grant",
    "revoke_token",
    "set_password",
    "token_for_secret",
    "user_for_token",
]

TOKEN_PREFIX = "dsk_"
MIN_PASSWORD = 8
_hasher = PasswordHasher()
# A token's last_used_at is written at most this often (no write on every request).
_LAST_USED_RESOLUTION = timedelta(minutes=1)
_dummy_hash: str | None = None


def _dummy() -> str:
    """An argon2 hash of nothing anyone knows, made once per process (same cost parameters)."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hash


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is the only copy of the plaintext."""

    token: ApiToken
    secret: str


def parse_role(role: object) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise BadRequest(f"invalid role {role!r}: use admin, editor or viewer") from None


def get_user(session: so.Session, name: str) -> User:
    """The user called ``name``, or :class:`NotFound`."""
    return find_named(session, User, "user", name)


def _check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise BadRequest(f"the password must be at least {MIN_PASSWORD} characters long")
    return password


def create_user(
    session: so.Session,
    *,
    name: str,
    password: str,
    role: Role | str,
    actor: str,
    apps: tuple[str, ...] | list[str] = (),
) -> User:
    """Create a user (granted ``apps``). Duplicate -> :class:`Conflict`."""
    valid_segment(name, "user")
    role = parse_role(role)
    _check_password(password)
    app_rows = [get_app(session, app_name) for app_name in apps]
    user = User(
        name=name,
        password_hash=_hasher.hash(password),
        role=role.value,
        active=True,
        created_at=utcnow(),
    )
    with transaction(session, conflict=f"user {name!r} already exists"):
        session.add(user)
        session.flush()
        for app in app_rows:
            session.add(AppGrant(user_id=user.id, app_id=app.id, created_at=utcnow()))
        audit(
            session, actor=actor, action="user.create", target=name, role=role.value,
            apps=list(apps),
        )  # fmt: skip
    return user


def set_password(session: so.Session, *, name: str, password: str, actor: str) -> None:
    user = get_user(session, name)
    user.password_hash = _hasher.hash(_check_password(password))
    audit(session, actor=actor, action="user.password", target=name)
    session.commit()


def list_users(session: so.Session) -> list[User]:
    return list(session.scalars(sa.select(User).order_by(User.name)))


def authenticate(session: so.Session, name: str, password: str) -> User | None:
    """The active user with this name and password, else None; both outcomes are audited."""
    user = session.scalar(sa.select(User).where(User.name == name))
    known = user is not None and user.active
    # An unknown or disabled user costs one argon2 verification too (of a dummy hash), so the
    # time of a failed login does not tell whether the name exists.
    stored = user.password_hash if user is not None and known else _dummy()
    try:
        ok = bool(_hasher.verify(stored, password))
    except (VerificationError, InvalidHashError):
        ok = False
    ok = ok and known
    if ok and user is not None and _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    audit(session, actor=name, action="login.success" if ok else "login.failure", target=name)
    session.commit()
    return user if ok else None


def granted_app_ids(session: so.Session, user: User) -> set[int]:
    return set(session.scalars(sa.select(AppGrant.app_id).where(AppGrant.user_id == user.id)))


def is_granted(session: so.Session, user: User, app: App) -> bool:
    """Whether ``user`` was granted ``app`` (roles are checked by the caller)."""
    grant = sa.select(AppGrant.id).where(AppGrant.user_id == user.id, AppGrant.app_id == app.id)
    return session.scalar(grant) is not None


def granted_apps(session: so.Session, user_ids: Sequence[int]) -> dict[int, list[str]]:
    """The names of the apps granted to each of ``user_ids`` (sorted), in one query."""
    granted: dict[int, list[str]] = {user_id: [] for user_id in user_ids}
    if not granted:
        return granted
    rows = session.execute(
        sa.select(AppGrant.user_id, App.name)
        .join(App, AppGrant.app_id == App.id)
        .where(AppGrant.user_id.in_(sorted(granted)))
        .order_by(App.name)
    )
    for user_id, app_name in rows:
        granted[user_id].append(app_name)
    return granted


def app_members(session: so.Session, app_id: int) -> list[tuple[str, str]]:
    """(name, role) of every user granted app ``app_id``, by name."""
    rows = session.execute(
        sa.select(User.name, User.role)
        .join(AppGrant, AppGrant.user_id == User.id)
        .where(AppGrant.app_id == app_id)
        .order_by(User.name)
    )
    return [(name, role) for name, role in rows]


def app_names(session: so.Session, app_ids: set[int] | None) -> set[str] | None:
    """The names of apps ``app_ids`` (None, meaning every app, stays None)."""
    if app_ids is None:
        return None
    if not app_ids:
        return set()
    return set(session.scalars(sa.select(App.name).where(App.id.in_(sorted(app_ids)))))


def grant_app(session: so.Session, *, user: str, app: str, actor: str) -> None:
    """Let ``user`` touch ``app`` (idempotent)."""
    user_row = get_user(session, user)
    app_row = get_app(session, app)
    exists = session.scalar(
        sa.select(AppGrant).where(AppGrant.user_id == user_row.id, AppGrant.app_id == app_row.id)
    )
    if exists is None:
        try:
            with transaction(session, conflict="granted concurrently"):
                session.add(AppGrant(user_id=user_row.id, app_id=app_row.id, created_at=utcnow()))
                audit(session, actor=actor, action="grant.create", target=user, app=app)
        except Conflict:
            pass  # granted concurrently: same outcome


def revoke_grant(session: so.Session, *, user: str, app: str, actor: str) -> None:
    user_row = get_user(session, user)
    app_row = get_app(session, app)
    session.execute(
        sa.delete(AppGrant).where(AppGrant.user_id == user_row.id, AppGrant.app_id == app_row.id)
    )
    audit(session, actor=actor, action="grant.revoke", target=user, app=app)
    session.commit()


def _hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(
    session: so.Session,
    *,
    user: str,
    name: str = "default",
    actor: str,
    created_by_token_id: int | None = None,
) -> NewToken:
    """A new API token for ``user``; the plaintext is returned once and never stored.

    ``created_by_token_id``: the token that authenticated the request creating this one; the
    new token is revoked together with it.
    """
    if not isinstance(name, str) or not 1 <= len(name) <= 64:
        raise BadRequest(f"invalid token name {name[:80]!r}: use 1-64 characters")
    if any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F or 0xD800 <= ord(ch) <= 0xDFFF for ch in name):
        raise BadRequest(f"invalid token name {name!r}: control characters are not allowed")
    user_row = get_user(session, user)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user_row.id,
        name=name,
        token_hash=_hash_token(secret),
        prefix=secret[:12],
        created_at=utcnow(),
        created_by_token_id=created_by_token_id,
    )
    session.add(token)
    session.flush()
    audit(
        session, actor=actor, action="token.create", target=user,
        token_id=token.id, name=name, created_by_token_id=created_by_token_id,
    )  # fmt: skip
    session.commit()
    return NewToken(token=token, secret=secret)


def list_tokens(session: so.Session, *, user: str) -> list[ApiToken]:
    user_row = get_user(session, user)
    return list(
        session.scalars(
            sa.select(ApiToken).where(ApiToken.user_id == user_row.id).order_by(ApiToken.id)
        )
    )


def revoke_token(session: so.Session, *, token_id: int, actor: str, user: str | None) -> None:
    """Revoke a token (``user``: only if it belongs to them; None = any, for admins)."""
    token = session.get(ApiToken, token_id) if 1 <= token_id <= 2**31 - 1 else None
    if token is None or (user is not None and token.user.name != user):
        raise NotFound(f"token {token_id} does not exist")
    now = utcnow()
    if token.revoked_at is None:
        token.revoked_at = now
        audit(
            session, actor=actor, action="token.revoke", target=token.user.name, token_id=token_id
        )
    # Every token created through this one (and through those, ...) goes with it. Each round
    # moves one generation down; a generation can only hold tokens not yet seen, so the loop
    # ends after at most as many rounds as there are tokens.
    seen = {token.id}
    frontier = [token.id]
    while frontier:
        children = list(
            session.scalars(sa.select(ApiToken).where(ApiToken.created_by_token_id.in_(frontier)))
        )
        frontier = [child.id for child in children if child.id not in seen]
        for child in children:
            if child.id in seen:
                continue
            seen.add(child.id)
            if child.revoked_at is None:
                child.revoked_at = now
                audit(
                    session, actor=actor, action="token.revoke", target=child.user.name,
                    token_id=child.id, because_token_id=token_id,
                )  # fmt: skip
    session.commit()


# Every API request runs it: built once (building it costs about as much as running it).
_TOKEN_BY_HASH = sa.select(ApiToken).where(ApiToken.token_hash == sa.bindparam("b_hash"))


def token_for_secret(session: so.Session, secret: str) -> ApiToken | None:
    """The unrevoked token of an active user with this secret, else None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200 or not secret.isascii():
        return None
    token = session.scalar(_TOKEN_BY_HASH, {"b_hash": _hash_token(secret)})
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    if _ancestor_revoked(session, token):
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.commit()
    return token


def _ancestor_revoked(session: so.Session, token: ApiToken) -> bool:
    """Whether a token this one was created through is revoked.

    The revocation cascade covers the tokens that exist when it runs; a token created by a
    request that passed authentication just before its parent was revoked is caught here.
    Parents are always older (smaller ids), so the walk ends at a root; ``seen`` bounds it
    even for a corrupted chain.
    """
    seen = {token.id}
    parent_id = token.created_by_token_id
    while parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        parent = session.get(ApiToken, parent_id)
        if parent is None:
            return False
        if parent.revoked_at is not None:
            return True
        parent_id = parent.created_by_token_id
    return False


def user_for_token(session: so.Session, secret: str) -> User | None:
    """The active user owning this unrevoked token, else None."""
    token = token_for_secret(session, secret)
    return None if token is None else token.user


# -- console sessions -----------------------------------------------------------------------


def _session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def open_console_session(
    session: so.Session, *, user_id: int, secret: str, lifetime: timedelta
) -> None:
    """Record a sign-in (``secret``: the new session's CSRF secret); forget expired ones."""
    now = utcnow()
    session.execute(sa.delete(ConsoleSession).where(ConsoleSession.created_at < now - lifetime))
    session.add(ConsoleSession(id=_session_id(secret), user_id=user_id, created_at=now))
    session.commit()


def console_session_active(
    session: so.Session, *, user_id: int, secret: object, lifetime: timedelta
) -> bool:
    """Whether the console session with this secret is signed in as ``user_id`` and not over."""
    if not isinstance(secret, str) or not secret or len(secret) > 200:
        return False
    row = session.get(ConsoleSession, _session_id(secret))
    return row is not None and row.user_id == user_id and row.created_at >= utcnow() - lifetime


def close_console_session(session: so.Session, *, secret: object) -> None:
    """Logout: the session with this secret is over, wherever its cookie was copied to."""
    if isinstance(secret, str) and secret:
        session.execute(sa.delete(ConsoleSession).where(ConsoleSession.id == _session_id(secret)))
        session.commit()
