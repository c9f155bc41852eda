"""Apps, envs and the ZooKeeper node of each app x env x version: the coordinates of configs.

Apps and envs are created through the API (never hard-coded) and are unique by name;
:func:`get_app` / :func:`get_env` are the one lookup by name every service and view uses.

A version has no row of its own: an app x env x version comes into existence when its first
config is published, and :func:`claim_node` then claims its ZooKeeper node name
``<app>_<version>_<env>``. ``_`` may appear inside each part, so app ``col`` version ``x_v1``
and app ``col_x`` version ``v1`` spell the same node ``col_x_v1_dev``; the second one is refused
with :class:`Conflict` naming the first, so no triple ever sees another's instances or values.
Creating an app or env alone claims nothing (no node exists until a config does), so the check
sits where every new triple passes: publishing a config (API, console, copy, upload).

Error Handling
--------------
Nothing here talks to ZooKeeper. The unique ``node_name`` column decides between two claims
racing in different processes: the second waits for the first transaction to end, then finds
the holder with a locking read (the same triple carries on; another one gets :class:`Conflict`
naming the holder). On MySQL the claim and the new config rows of racing first publishes can
deadlock on their gap locks; the database rolls one back and the publish runs it again
(``transactions.run_transaction``). A database lost mid-claim rolls the whole publish back.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import sqlalchemy as sa
import sqlalchemy.dialects.mysql
import sqlalchemy.dialects.sqlite
import sqlalchemy.orm as so

from disconf_core import Coordinates, InvalidNameError, validate_segment

from ..models import App, AppGrant, ConfigNode, Env, Named, utcnow
from .errors import BadRequest, Conflict, NotFound
from .transactions import audit, transaction

N = TypeVar("N", bound=Named)

__all__ = [
    "claim_node",
    "create_app_record",
    "create_env",
    "find_named",
    "get_app",
    "get_env",
    "list_apps",
    "list_envs",
    "valid_segment",
]


def valid_segment(name: object, what: str) -> str:
    """``name`` if it can be an app/env/version/user name, else :class:`BadRequest`."""
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
    valid_segment(name, "app")
    if not isinstance(description, str) or len(description) > 1000:
        raise BadRequest("description must be a string of at most 1000 characters")
    with transaction(session, conflict=f"app {name!r} already exists"):
        app = App(name=name, description=description, created_by=actor, created_at=utcnow())
        session.add(app)
        session.flush()
        if actor_user_id is not None:
            session.add(AppGrant(user_id=actor_user_id, app_id=app.id, created_at=app.created_at))
        audit(
            session,
            actor=actor,
            action="app.create",
            app=name,
            target=name,
            description=description,
        )
    return app


def create_env(session: so.Session, *, name: str, actor: str) -> Env:
    """Create an env. Duplicate -> :class:`Conflict`."""
    valid_segment(name, "env")
    with transaction(session, conflict=f"env {name!r} already exists"):
        env = Env(name=name, created_by=actor, created_at=utcnow())
        session.add(env)
        audit(session, actor=actor, action="env.create", target=name)
    return env


_BY_NAME: dict[type[Named], sa.Select[Any]] = {}


def _by_name(model: type[N]) -> sa.Select[N]:
    """``SELECT <model> WHERE name = :b_name``, built once per model: every admin API request
    looks its app up by name (building the statement costs about as much as running it)."""
    query = _BY_NAME.get(model)
    if query is None:
        query = _BY_NAME[model] = sa.select(model).where(model.name == sa.bindparam("b_name"))
    return cast("sa.Select[N]", query)


def find_named(session: so.Session, model: type[N], what: str, name: object) -> N:
    """The ``model`` row (app, env, user) called ``name``, or :class:`NotFound` naming it.

    A name that could never have been created (not a valid name: too long, a character outside
    the rule, a lone surrogate the database driver cannot even encode) is not found without a
    query, so no input reaches the database in a form it would fail on.
    """
    row = None
    try:
        validate_segment(name, what)
    except InvalidNameError:
        pass
    else:
        row = session.scalar(_by_name(model), {"b_name": name})
    if row is None:
        raise NotFound(f"{what} {name!r} does not exist")
    return row


def get_app(session: so.Session, name: str) -> App:
    """The app called ``name``, or :class:`NotFound`."""
    return find_named(session, App, "app", name)


def get_env(session: so.Session, name: str) -> Env:
    """The env called ``name``, or :class:`NotFound`."""
    return find_named(session, Env, "env", name)


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


def _claim(session: so.Session, coords: Coordinates, app: App, env: Env) -> None:
    """Insert the node row unless its name is taken (by anyone, committed or not: the
    database waits for a racing transaction to end, then skips the row instead of failing)."""
    row = {
        "node_name": coords.node_name,
        "app_id": app.id,
        "env_id": env.id,
        "version": coords.version,
        "created_at": utcnow(),
    }
    if session.get_bind().dialect.name == "mysql":
        mysql_insert = sa.dialects.mysql.insert(ConfigNode).values(row)
        # "id = id": a no-op update, so a taken name skips the row instead of failing.
        session.execute(mysql_insert.on_duplicate_key_update(id=ConfigNode.__table__.c.id))
    else:
        session.execute(sa.dialects.sqlite.insert(ConfigNode).values(row).on_conflict_do_nothing())


def claim_node(session: so.Session, coords: Coordinates, app: App, env: Env) -> ConfigNode:
    """The node of ``coords``, claimed now if it has none (inside the caller's transaction).

    Raises :class:`Conflict` naming the other app x env x version if that one holds the same
    node name ``<app>_<version>_<env>``. Race-free: two transactions claiming the same name at
    once both insert-or-skip, then read the holder with a locking read (the latest committed
    row, not the transaction's snapshot), so the same triple succeeds twice and a colliding one
    gets the Conflict.
    """
    mine = (
        ConfigNode.app_id == app.id,
        ConfigNode.env_id == env.id,
        ConfigNode.version == coords.version,
    )
    node = session.scalar(sa.select(ConfigNode).where(*mine))
    if node is not None:
        return node  # claimed before: node rows never change
    _claim(session, coords, app, env)
    holder = session.scalar(
        sa.select(ConfigNode)
        .where(ConfigNode.node_name == coords.node_name)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )
    assert holder is not None  # inserted above, or held by the row that made the insert skip
    if (holder.app_id, holder.env_id, holder.version) == (app.id, env.id, coords.version):
        return holder
    other = Coordinates(app=holder.app.name, version=holder.version, env=holder.env.name)
    raise Conflict(
        f"app {coords.app!r} env {coords.env!r} version {coords.version!r} would share the "
        f"ZooKeeper node {coords.node_name!r} with app {other.app!r} env {other.env!r} "
        f"version {other.version!r} (node names are <app>_<version>_<env>): choose "
        "another name"
    )
