"""Publish is one call: revision + audit + notification (one transaction) + inline delivery.

:class:`Publisher` is the web tier's one way to change configs. ``create_app`` registers one
per app with :meth:`Publisher.init_app` (kept in ``app.extensions``, like Flask's
``db.init_app``); it holds the database, the ZooKeeper prefix, the size limit, this process's
ZooKeeper connection (:mod:`.zookeeper`), the outbox deliverer (:mod:`.notifier`) and the
instance reads (:mod:`.instances`). Views call :func:`get_publisher` and one method::

    published = get_publisher(current_app).publish_config(session, coords=..., ...)
    published.result        # the services' ChangeResult (config, changed, created, ...)
    published.notification  # "delivered", "pending", "failed" or "none"

The services (:mod:`.services`) write the revision, the audit event and the ``Notification``
rows in one transaction; the publisher then delivers the new rows inline (bounded by
``NOTIFY_INLINE_TIMEOUT``). A publish or rollback sends the stat read of its node when it
begins, so it travels while the guard and the transaction run, and delivers the rows the
transaction returned without reading them back (:meth:`Notifier.deliver_own`). Every caller
gets the same behaviour: no rows -> ``"none"``; ZooKeeper disabled or not connected ->
``"pending"`` (the sweeper delivers later); ZooKeeper refused the data for good -> ``"failed"``
(shown in ``/metrics`` and ``/api/v1/notifications``).

Error Handling
--------------
* Database down: the services' transaction rolls back and raises (the app answers 503);
  nothing is published and nothing is delivered.
* ZooKeeper down, paused or session ``LOST``: the change is committed; the inline delivery gives
  up within its budget and never waits for the sweeper; the answer says ``"pending"``.
* Restart: rows left pending are delivered by any process's sweeper.

Gray releases (:mod:`.gray`): while a config has a running gray release, every publish,
rollback, delete or copy that changes it is refused with 409 naming the release. The services
check it after locking the config row, which a gray start locks too, so a publish racing a gray
start cannot commit past it; that one query is the whole check of a single config's change (a
value the running fleet would reject is therefore refused by the guard, 422, before the 409). A
copy, which may change many configs, is also checked before the guard (one query for all of
them), to refuse early. Promoting the release publishes through
:meth:`Publisher.publish_config` with ``promoting_gray``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeVar

import sqlalchemy.orm as so
from flask import Flask

from disconf_core import InvalidNameError, config_node

from . import services
from .extensions import get_db
from .gray import releases as gray_releases
from .guard import GuardReport, PublishGuard
from .instances import InstanceRegistry, budget_left
from .notifier import DEFAULT_MAX_DATA_BYTES, EarlyStat, Notifier
from .services import ChangeResult, ConfigChange
from .services import console as console_services
from .settings import SettingsError
from .zookeeper import ZooKeeperConnection

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["EXTENSION_KEY", "Published", "Publisher", "get_notifier", "get_publisher"]

EXTENSION_KEY = "disconf_publisher"
# A pending row is "stuck" (shown in /metrics and the admin API) once older than this many
# seconds (DISCONF_NOTIFY_STUCK_SECONDS) or tried more than this often (..._STUCK_ATTEMPTS).
STUCK_SECONDS = 60.0
STUCK_ATTEMPTS = 5


class Published(NamedTuple):
    """What a publish did: the services' result and the notification's fate."""

    result: ChangeResult
    notification: str


P = ParamSpec("P")
R = TypeVar("R")


def _one_zookeeper_budget(method: Callable[P, R]) -> Callable[P, R]:
    """Every ZooKeeper wait of one publish call — the publish guard's reads of the running
    instances, then the inline delivery — shares one budget, ``NOTIFY_INLINE_TIMEOUT``: a
    paused or slow ZooKeeper delays a publish by one budget at most, not one read timeout per
    config plus the delivery's."""

    @functools.wraps(method)
    def bounded(*args: P.args, **kwargs: P.kwargs) -> R:
        publisher = args[0]
        assert isinstance(publisher, Publisher)
        with publisher.instances.budget(publisher.notifier.inline_timeout):
            return method(*args, **kwargs)

    return bounded


class Publisher:
    """The app's publish path and its ZooKeeper parts (see the module docstring)."""

    connection: ZooKeeperConnection
    notifier: Notifier
    instances: InstanceRegistry
    guard: PublishGuard

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build the ZooKeeper parts from ``app.config`` and register in ``app.extensions``."""
        config = self._config = app.config
        self.stuck_seconds = _number(config, "NOTIFY_STUCK_SECONDS", STUCK_SECONDS, float)
        self.stuck_attempts = int(_number(config, "NOTIFY_STUCK_ATTEMPTS", STUCK_ATTEMPTS, int))
        max_data_bytes = int(
            _number(config, "NOTIFY_MAX_DATA_BYTES", DEFAULT_MAX_DATA_BYTES, int, positive=True)
        )
        self.connection = ZooKeeperConnection(
            config["ZK_HOSTS"], enabled=config["ZK_ENABLED"], session_timeout=config["ZK_TIMEOUT"]
        )
        self.notifier = Notifier(
            get_db(app),
            self.connection,
            inline_timeout=config["NOTIFY_INLINE_TIMEOUT"],
            sweep_interval=config["NOTIFY_SWEEP_INTERVAL"],
            backoff_initial=config["NOTIFY_BACKOFF_INITIAL"],
            backoff_max=config["NOTIFY_BACKOFF_MAX"],
            grace=config["NOTIFY_GRACE"],
            max_data_bytes=max_data_bytes,
        )
        self.instances = InstanceRegistry(self.connection)
        self.guard = PublishGuard(self.instances)
        app.extensions[EXTENSION_KEY] = self

    @property
    def zk_prefix(self) -> str:
        """``ZK_PREFIX``, read at each publish (the app's config is the one source)."""
        return str(self._config["ZK_PREFIX"])

    @property
    def max_bytes(self) -> int:
        """``MAX_CONFIG_BYTES``, read at each publish."""
        return int(self._config["MAX_CONFIG_BYTES"])

    # -- the publish calls ---------------------------------------------------------------------

    def deliver(self, ids: Sequence[int]) -> str:
        """Deliver these new rows inline: "delivered", "pending", "failed" or "none".

        Inside a publish call the delivery gets what is left of the call's ZooKeeper budget
        (see :func:`_one_zookeeper_budget`), else the whole ``NOTIFY_INLINE_TIMEOUT``."""
        if not ids:
            return "none"
        if not self.notifier.enabled:
            return "pending"
        self.notifier.ensure_started()
        return self.notifier.deliver_inline(list(ids), budget_left())

    def _published(self, result: ChangeResult, early: EarlyStat | None = None) -> Published:
        ids = result.notification_ids if result.changed else []
        if early is None or not ids or not result.notifications:
            return Published(result, self.deliver(ids))
        notified = self.notifier.deliver_own(
            result.notifications, {early.path: early}, budget_left()
        )
        return Published(result, notified)

    def _read_stat_early(self, change: ConfigChange) -> EarlyStat | None:
        """Send the stat read of the config's node now (the publish's delivery needs it; see
        :meth:`Notifier.deliver_own`); None when ZooKeeper is off or the name has no node."""
        try:
            path = config_node(self.zk_prefix, change["coords"], change["kind"], change["name"])
        except InvalidNameError:
            return None  # the services refuse the name
        return self.notifier.read_stat_early(path)

    @_one_zookeeper_budget
    def publish_config(
        self,
        session: so.Session,
        *,
        content: bytes | str,
        force: str | None = None,
        promoting_gray: int | None = None,
        **change: Unpack[ConfigChange],
    ) -> Published:
        """Create or update a file or item, then notify its clients.

        Refused (409) while the config has a running gray release, unless ``promoting_gray``
        is that release's id.

        The publish guard (:mod:`.guard`) checks the content first: a syntax error, or a value
        a running instance would reject, raises ``GuardRefusal`` (422) unless ``force`` (an
        admin's reason) overrides the fleet check; a forced publish is audited.
        """
        early = self._read_stat_early(change)
        return self._guarded(
            session,
            change,
            content,
            force,
            functools.partial(
                services.publish_config, content=content, promoting_gray=promoting_gray
            ),
            early,
        )

    @_one_zookeeper_budget
    def rollback_config(
        self,
        session: so.Session,
        *,
        to_revision: int,
        force: str | None = None,
        **change: Unpack[ConfigChange],
    ) -> Published:
        """Publish an earlier revision's value again, then notify its clients.

        The publish guard checks the restored value against the running fleet first (the
        instances running now may bind other types than when that revision was current).
        """
        early = self._read_stat_early(change)
        return self._guarded(
            session,
            change,
            self._past_value(session, to_revision, change),
            force,
            functools.partial(services.rollback_config, to_revision=to_revision),
            early,
        )

    def _guarded(
        self,
        session: so.Session,
        change: ConfigChange,
        content: bytes | str | None,
        force: str | None,
        commit: Callable[..., ChangeResult],
        early: EarlyStat | None = None,
    ) -> Published:
        """One config's change through the publish guard: check ``content`` (None: nothing to
        check), ``commit`` the change (a service function, given the publisher's limits), audit
        a forced one, then notify (``early``: the node's stat read sent when the call began)."""
        coords = change["coords"]
        reports = []
        if content is not None:
            reports = self.guard.check(
                zk_prefix=self.zk_prefix,
                configs=[(coords, change["kind"], change["name"], content)],
                force=force,
            )
        result = commit(
            session,
            max_bytes=self.max_bytes,
            zk_prefix=self.zk_prefix,
            before_commit=None if early is None else early.seal,
            **change,
        )
        if force and result.changed:
            self.guard.record_forced(
                session, reports, coords=coords, actor=change["actor"], reason=force
            )
        return self._published(result, early)

    @staticmethod
    def _past_value(session: so.Session, number: int, change: ConfigChange) -> str | None:
        """The value revision ``number`` set, or None (the services then refuse the rollback)."""
        try:
            revision = services.listing.get_revision(
                session, change["coords"], change["kind"], change["name"], number
            )
        except services.ServiceError:
            return None
        value = revision.new_value
        session.rollback()
        return value

    def delete_config(self, session: so.Session, **change: Unpack[ConfigChange]) -> Published:
        """Delete (softly) a file or item; a delete notifies nobody (``"none"``)."""
        result = services.delete_config(session, zk_prefix=self.zk_prefix, **change)
        return self._published(result)

    def guard_changes(
        self, plan: console_services.ChangePlan, *, force: str | None = None
    ) -> list[GuardReport]:
        """The publish guard over a plan's added and changed configs (``GuardRefusal`` unless
        all pass or ``force`` overrides the fleet check); the reports."""
        return self.guard.check(zk_prefix=self.zk_prefix, configs=plan.changed(), force=force)

    @_one_zookeeper_budget
    def apply_copy(
        self,
        session: so.Session,
        plan: console_services.CopyPlan,
        *,
        actor: str,
        comment: str,
        delete_removed: bool = False,
        force: str | None = None,
    ) -> str:
        """Apply a copy plan (many publishes), then notify; the notification's fate.

        The publish guard checks every added or changed config first (see :meth:`publish_config`).
        """
        gray_releases.refuse_during_gray(
            session,
            [
                (plan.target, entry.kind, entry.name)
                for entry in plan.entries
                if entry.status in ("added", "changed")
                or (delete_removed and entry.status == "removed")
            ],
        )
        reports = self.guard_changes(plan, force=force)
        ids = console_services.apply_copy(
            session,
            plan,
            actor=actor,
            comment=comment,
            delete_removed=delete_removed,
            max_bytes=self.max_bytes,
            zk_prefix=self.zk_prefix,
        )
        if force:
            self.guard.record_forced(
                session, reports, coords=plan.target, actor=actor, reason=force
            )
        return self.deliver(ids)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start this process's ZooKeeper session and sweeper (a no-op when already running)."""
        self.notifier.ensure_started()

    def stop(self) -> None:
        self.notifier.stop()


def _number(
    config: Mapping[str, Any],
    key: str,
    default: float,
    kind: Callable[[Any], float],
    *,
    positive: bool = False,
) -> float:
    """A numeric setting of this module, checked (``DISCONF_<key>`` names it when refused)."""
    value = config.get(key, default)
    try:
        number = kind(value)
        if isinstance(value, bool) or number < 0 or (positive and number == 0):
            raise ValueError
    except (TypeError, ValueError):
        wanted = "positive" if positive else "non-negative"
        raise SettingsError(f"DISCONF_{key}={value!r} is not a {wanted} number") from None
    return number


def get_publisher(app: Flask) -> Publisher:
    publisher: Publisher = app.extensions[EXTENSION_KEY]
    return publisher


def get_notifier(app: Flask) -> Notifier:
    """The app's outbox deliverer (its ZooKeeper session is ``.connection``)."""
    return get_publisher(app).notifier
