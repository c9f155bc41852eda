"""Paginated reads for the admin API: every list is served a page at a time.

Pages are *keyset* pages: each list has a fixed order on unique columns, and a cursor is the
sort key of the last row of the previous page, encoded as an opaque URL-safe string. A page costs
one indexed query whatever its position (no ``OFFSET`` scan), and rows written between two page
requests never make a page repeat or skip a row that existed before.

``limit`` is 1..:data:`MAX_PAGE_SIZE` (default :data:`DEFAULT_PAGE_SIZE`); a malformed cursor or
limit is a :class:`~disconf_web.services.BadRequest` naming the problem.

Revision pages carry metadata only (number, action, author, comment, time, md5); a value is
inlined only when it is at most :data:`INLINE_VALUE_CHARS` characters long (at most 1 KiB of
UTF-8), so a page is bounded by ``limit x (metadata + 2 KiB)`` whatever the config's size.
Full values come one revision at a time from :func:`get_revision`.

Error Handling
--------------
Read-only; a lost database raises SQLAlchemy's ``OperationalError``, which the app answers with
503 (nothing is cached here, so a restart changes nothing).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
import sqlalchemy.orm as so

from disconf_core import ConfigType, Coordinates

from ..models import ApiToken, App, AuditEvent, Config, ConfigRevision, ConfigStatus, Env, User
from .catalog import get_app, get_env
from .errors import BadRequest, NotFound

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "INLINE_VALUE_CHARS",
    "MAX_PAGE_SIZE",
    "MAX_REVISION",
    "Page",
    "RevisionMeta",
    "get_revision",
    "page_apps",
    "page_audit",
    "page_by_name",
    "page_configs",
    "page_revisions",
    "page_tokens",
    "page_versions",
    "parse_limit",
]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
# Revision values up to this many characters ride along in revision lists; larger ones are
# fetched one revision at a time.
INLINE_VALUE_CHARS = 256
# Revision numbers and ids are 32-bit signed in the schema: anything larger cannot exist.
MAX_REVISION = 2**31 - 1
_MAX_CURSOR = 2048

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the cursor of the next one (None: this is the last page)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class RevisionMeta:
    """A revision without its values (``old_value``/``new_value`` only when small)."""

    number: int
    action: str
    author: str
    comment: str
    at: datetime
    md5: str | None
    old_value: str | None
    new_value: str | None
    values_inline: bool


def parse_limit(value: str | None) -> int:
    """``?limit=`` -> 1..MAX_PAGE_SIZE (missing: DEFAULT_PAGE_SIZE)."""
    if value is None or value == "":
        return DEFAULT_PAGE_SIZE
    if not value.isascii() or not value.isdigit() or len(value) > 6:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_PAGE_SIZE}, not {value!r}")
    limit = int(value)
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_PAGE_SIZE}, not {limit}")
    return limit


def _encode(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(cursor: str | None, types: Sequence[type]) -> tuple[Any, ...] | None:
    if cursor is None or cursor == "":
        return None
    problem = f"invalid cursor {cursor[:80]!r}: use the 'next' link of the previous page"
    if len(cursor) > _MAX_CURSOR or not cursor.isascii():
        raise BadRequest(problem)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest(problem) from None
    if not isinstance(key, list) or len(key) != len(types):
        raise BadRequest(problem)
    for part, kind in zip(key, types, strict=True):
        if type(part) is not kind:
            raise BadRequest(problem)
        if isinstance(part, int) and not -MAX_REVISION <= part <= MAX_REVISION:
            raise BadRequest(problem)
        if isinstance(part, str) and not storable(part):
            raise BadRequest(problem)
    return tuple(key)


def storable(text: str) -> bool:
    """Whether ``text`` can be stored: it encodes as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _page(
    session: so.Session,
    query: Any,
    keys: Sequence[Any],
    types: Sequence[type],
    *,
    descending: bool,
    limit: int,
    cursor: str | None,
    scalars: bool = True,
) -> Page[Any]:
    after = _decode(cursor, types)
    if after is not None:
        key = sa.tuple_(*keys) if len(keys) > 1 else keys[0]
        bound = sa.tuple_(*[sa.literal(part) for part in after]) if len(keys) > 1 else after[0]
        query = query.where(key < bound if descending else key > bound)
    order = [key.desc() if descending else key.asc() for key in keys]
    query = query.order_by(*order).limit(limit + 1)
    rows: list[Any] = list(session.scalars(query) if scalars else session.execute(query))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        next_cursor = _encode(_key_of(rows[-1], keys))
    return Page(items=rows, next_cursor=next_cursor)


def page_by_name(
    session: so.Session,
    model: type[Env | User],
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[Any]:
    """Every env or user (``model``), by name."""
    query = sa.select(model)
    return _page(session, query, [model.name], [str], descending=False, limit=limit, cursor=cursor)


def _key_of(row: Any, keys: Sequence[Any]) -> list[Any]:
    values = []
    for key in keys:
        name = getattr(key, "key", None) or getattr(key, "name", None)
        values.append(getattr(row, str(name)))
    return values


# -- catalog ------------------------------------------------------------------------------------


def page_apps(
    session: so.Session,
    *,
    only_ids: set[int] | None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[App]:
    """Apps by name (``only_ids``: just these; None = all)."""
    query = sa.select(App)
    if only_ids is not None:
        if not only_ids:
            return Page(items=[], next_cursor=None)
        query = query.where(App.id.in_(sorted(only_ids)))
    return _page(session, query, [App.name], [str], descending=False, limit=limit, cursor=cursor)


def page_versions(
    session: so.Session,
    *,
    app: str,
    env: str,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[str]:
    """The versions of app x env with at least one live config, sorted."""
    app_id, env_id = get_app(session, app).id, get_env(session, env).id
    query = (
        sa.select(Config.version)
        .where(
            Config.app_id == app_id,
            Config.env_id == env_id,
            Config.status == int(ConfigStatus.LIVE),
        )
        .distinct()
    )
    after = _decode(cursor, [str])
    if after is not None:
        query = query.where(Config.version > after[0])
    rows = list(session.scalars(query.order_by(Config.version).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=_encode([rows[-1]]) if more and rows else None)


def page_configs(
    session: so.Session,
    coords: Coordinates,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[Config]:
    """The live configs of app x env x version: files first, then by name."""
    app_id, env_id = get_app(session, coords.app).id, get_env(session, coords.env).id
    query = sa.select(Config).where(
        Config.app_id == app_id,
        Config.env_id == env_id,
        Config.version == coords.version,
        Config.status == int(ConfigStatus.LIVE),
    )
    return _page(
        session,
        query,
        [Config.type, Config.name],
        [int, str],
        descending=False,
        limit=limit,
        cursor=cursor,
    )


# -- revisions ----------------------------------------------------------------------------------


def _config_id(session: so.Session, coords: Coordinates, kind: ConfigType, name: str) -> int:
    app_id, env_id = get_app(session, coords.app).id, get_env(session, coords.env).id
    found = session.scalar(
        sa.select(Config.id).where(
            Config.app_id == app_id,
            Config.env_id == env_id,
            Config.version == coords.version,
            Config.type == int(kind),
            Config.name == name,
        )
    )
    if found is None:
        raise NotFound(f"{kind.segment[:-1]} {name!r} does not exist in {coords}")
    return int(found)


def _inline(column: Any) -> Any:
    return sa.case((sa.func.length(column) <= INLINE_VALUE_CHARS, column), else_=None)


def page_revisions(
    session: so.Session,
    coords: Coordinates,
    kind: ConfigType,
    name: str,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[RevisionMeta]:
    """A config's revisions (live or deleted), newest first, without large values."""
    config_id = _config_id(session, coords, kind, name)
    old_len = sa.func.length(ConfigRevision.old_value).label("old_len")
    new_len = sa.func.length(ConfigRevision.new_value).label("new_len")
    query = sa.select(
        ConfigRevision.number,
        ConfigRevision.action,
        ConfigRevision.author,
        ConfigRevision.comment,
        ConfigRevision.at,
        ConfigRevision.new_md5,
        old_len,
        new_len,
        _inline(ConfigRevision.old_value).label("old_value"),
        _inline(ConfigRevision.new_value).label("new_value"),
    ).where(ConfigRevision.config_id == config_id)
    page = _page(
        session,
        query,
        [ConfigRevision.number],
        [int],
        descending=True,
        limit=limit,
        cursor=cursor,
        scalars=False,
    )
    items = []
    for row in page.items:
        inline = (row.old_len is None or row.old_value is not None) and (
            row.new_len is None or row.new_value is not None
        )
        items.append(
            RevisionMeta(
                number=row.number,
                action=row.action,
                author=row.author,
                comment=row.comment,
                at=row.at,
                md5=row.new_md5,
                old_value=row.old_value if inline else None,
                new_value=row.new_value if inline else None,
                values_inline=inline,
            )
        )
    return Page(items=items, next_cursor=page.next_cursor)


def get_revision(
    session: so.Session, coords: Coordinates, kind: ConfigType, name: str, number: int
) -> ConfigRevision:
    """One revision with its full old and new values."""
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_REVISION:
        raise BadRequest(f"revision must be an integer from 1 to {MAX_REVISION}, not {number!r}")
    config_id = _config_id(session, coords, kind, name)
    revision = session.scalar(
        sa.select(ConfigRevision).where(
            ConfigRevision.config_id == config_id, ConfigRevision.number == number
        )
    )
    if revision is None:
        raise NotFound(f"{kind.segment[:-1]} {name!r} has no revision {number}")
    return revision


# -- accounts and audit -------------------------------------------------------------------------


def page_tokens(
    session: so.Session,
    *,
    user_id: int,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[ApiToken]:
    """A user's tokens (revoked ones too), oldest first."""
    query = sa.select(ApiToken).where(ApiToken.user_id == user_id)
    return _page(session, query, [ApiToken.id], [int], descending=False, limit=limit, cursor=cursor)


def page_audit(
    session: so.Session,
    *,
    app: str | None = None,
    actor: str | None = None,
    only_apps: set[str] | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> Page[AuditEvent]:
    """Audit events newest first, filtered by app and/or actor (``only_apps``: a non-admin)."""
    query = sa.select(AuditEvent)
    if app:
        query = query.where(AuditEvent.app == app)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if only_apps is not None:
        if not only_apps:
            return Page(items=[], next_cursor=None)
        query = query.where(AuditEvent.app.in_(sorted(only_apps)))
    return _page(
        session, query, [AuditEvent.id], [int], descending=True, limit=limit, cursor=cursor
    )
