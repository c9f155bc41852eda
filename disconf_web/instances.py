"""ZooKeeper reads of the web tier: client instances (the self-check), children counts, elections.

Clients register an EPHEMERAL node per instance under each config's ZooKeeper node, holding the
values they loaded. :class:`InstanceRegistry` reads them — concurrently: every
``get_children`` of a page is sent at once, then every instance ``get``, so a list of 3,300
configs costs two pipelined rounds, not 3,300 sequential round trips — and :func:`self_check`
compares them with the stored configs (the one self-check of the admin API's ``.../instances``
and of the console's config list), using :mod:`disconf_core.instances` — gray-aware: while a
gray release runs, the instances running it (or selected by id) are compared with its content
and counted as running gray, not as mismatched (:func:`disconf_web.gray.targeting.check_instance`).

Scoping: ``<app>_<version>_<env>`` is the node name, and ``_`` is allowed inside names, so two
different coordinates can share one node (app ``col`` version ``x_v1`` and app ``col_x`` version
``v1``). :func:`node_collisions` finds the other coordinates of a node; every ZooKeeper-backed
view refuses to show instances or elections of a shared node (:class:`SharedNode`), so nobody
sees another app's instances.

Error Handling
--------------
Read-only, in the request thread, through this process's
:class:`~disconf_web.zookeeper.ZooKeeperConnection`; never on a kazoo event thread (only async
results are waited on). Not connected (down, ``SUSPENDED``, session ``LOST`` and not back yet):
:class:`~disconf_web.zookeeper.ZooKeeperUnavailable` at once, after at most ``CONNECT_WAIT`` for a
session that is just starting in this process. Every read is bounded by one overall deadline
(``READ_TIMEOUT``); past it the read raises (the API answers 503, the console shows
"self-check unavailable"). A node or instance that vanished meanwhile is left out. The
collision check and the running gray releases read the database (DB down: SQLAlchemy's error,
answered 503).

The publish guard's reads (:meth:`InstanceRegistry.watched_instances`) take the children from
:class:`WatchedChildren`, kept by one-shot ZooKeeper watches (the data is still read each time):
a watch that fired, any state change of the connection (``SUSPENDED``, session ``LOST``,
``CONNECTED``) and a new process (restart, fork) all make the next use read the children again;
the watch callbacks only set a flag (never block kazoo's thread). At most ``WATCHED_NODES``
nodes are kept per process, least recently used first out.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from kazoo.exceptions import NoNodeError

from disconf_core import (
    ConfigType,
    Coordinates,
    DisconfError,
    InstanceCheck,
    InvalidNameError,
    app_node,
    config_node,
)

from .gray.releases import running_releases
from .gray.targeting import check_instance
from .models import App, Config, Env, GrayRelease
from .zookeeper import ZooKeeperConnection, ZooKeeperUnavailable

__all__ = [
    "CONNECT_WAIT",
    "READ_TIMEOUT",
    "WATCHED_NODES",
    "ConfigCheck",
    "InstanceData",
    "InstanceRegistry",
    "SharedNode",
    "WatchedChildren",
    "budget_left",
    "node_collisions",
    "require_own_node",
    "self_check",
]

CONNECT_WAIT = 1.0
READ_TIMEOUT = 2.0
# How many nodes' children the publish guard keeps watched per process (least recently used
# ones are forgotten; their one-shot watches fire once more at most and are ignored).
WATCHED_NODES = 4096


class SharedNode(DisconfError):
    """Other coordinates share this ZooKeeper node: its instances cannot be told apart."""


@dataclass(frozen=True)
class InstanceData:
    """One client instance node under a config node."""

    name: str
    data: bytes


@dataclass
class ConfigCheck:
    """The instances of one config and how many hold something else than they should: the
    stored value, or, while a gray release runs (``gray_release`` its id), the gray content for
    the instances in ``on_gray`` (see :func:`disconf_web.gray.targeting.check_instance`)."""

    instances: list[InstanceCheck] = field(default_factory=list)
    gray_release: int | None = None
    on_gray: set[str] = field(default_factory=set)

    @property
    def mismatched(self) -> int:
        return sum(1 for instance in self.instances if not instance.ok)

    @property
    def gray(self) -> int:
        """How many instances run (or are to run) the gray release."""
        return len(self.on_gray)


# The deadline of the request's ZooKeeper reads (see InstanceRegistry.budget), or None.
_BUDGET_DEADLINE: ContextVar[float | None] = ContextVar("disconf_zk_budget", default=None)


def budget_left() -> float | None:
    """Seconds left of the current :meth:`InstanceRegistry.budget` (None outside of one)."""
    deadline = _BUDGET_DEADLINE.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _remaining(deadline: float) -> float:
    budget = _BUDGET_DEADLINE.get()
    if budget is not None:
        deadline = min(deadline, budget)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("ZooKeeper read time budget exhausted")
    return remaining


class _Watched:
    """One node's children as a read with a one-shot watch left them (``names`` None: the
    read is not back yet; ``stale``: the watch fired since)."""

    __slots__ = ("client", "generation", "names", "stale")

    def __init__(self, client: Any, generation: int) -> None:
        self.client = client
        self.generation = generation
        self.names: list[str] | None = None
        self.stale = False

    def changed(self, _event: Any) -> None:  # on kazoo's event thread: never blocks
        self.stale = True


class WatchedChildren:
    """The children of nodes, kept by ZooKeeper watches: a node read once is not read again
    until its watch fires (a child added or removed, the node created or deleted).

    Each read leaves a one-shot watch (``get_children``, or ``exists`` on a missing node, which
    fires when it is created); the watch marks the entry stale and the next use reads again.
    An entry counts only in the session and connection it was read in: every state change of
    the connection (``SUSPENDED``, ``LOST``, ``CONNECTED``) starts a new generation, and
    entries of an older one are read again (a watch may have been lost with the session).
    Freshness: a child created less than the watch delay ago (the time ZooKeeper takes to
    tell this process) may be missed, as a read racing the creation would miss it.
    """

    def __init__(self, connection: ZooKeeperConnection, capacity: int = WATCHED_NODES) -> None:
        self.capacity = capacity
        self.hits = 0
        self._entries: OrderedDict[str, _Watched] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        connection.add_listener(self._on_state)

    def _on_state(self, _state: str) -> None:  # a kazoo listener: never blocks
        with self._lock:
            self._generation += 1

    def _entry(self, client: Any, path: str) -> tuple[_Watched, bool]:
        """The node's entry and whether it can be used as it is; a new one if not."""
        with self._lock:
            entry = self._entries.get(path)
            if (
                entry is not None
                and entry.names is not None
                and not entry.stale
                and entry.client is client
                and entry.generation == self._generation
            ):
                self._entries.move_to_end(path)
                self.hits += 1
                return entry, True
            entry = self._entries[path] = _Watched(client, self._generation)
            self._entries.move_to_end(path)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
            return entry, False

    def children(self, client: Any, path: str, deadline: float) -> list[str]:
        """The sorted children of ``path`` ([] if it is missing), read only when not known."""
        entry, known = self._entry(client, path)
        if known:
            assert entry.names is not None
            return list(entry.names)
        try:
            names = client.get_children_async(path, watch=entry.changed).get(
                timeout=_remaining(deadline)
            )
        except NoNodeError:
            # No watch is left on a missing node's children: watch for its creation instead.
            if (
                client.exists_async(path, watch=entry.changed).get(timeout=_remaining(deadline))
                is not None
            ):
                entry.stale = True  # created meanwhile: read it again next time
            names = []
        entry.names = sorted(names)
        return list(entry.names)


class InstanceRegistry:
    """Bounded, pipelined reads of instance nodes and children counts."""

    def __init__(self, connection: ZooKeeperConnection) -> None:
        self.connection = connection
        self.watched = WatchedChildren(connection)

    @contextmanager
    def budget(self, seconds: float) -> Iterator[None]:
        """Bound every read of this thread/context inside the block by one deadline, ``seconds``
        from now (nested budgets keep the earlier deadline). The publisher runs the publish
        guard's reads in the inline delivery budget, so a paused ZooKeeper costs one budget per
        request, not one read timeout per config."""
        deadline = time.monotonic() + seconds
        outer = _BUDGET_DEADLINE.get()
        token = _BUDGET_DEADLINE.set(deadline if outer is None else min(outer, deadline))
        try:
            yield
        finally:
            _BUDGET_DEADLINE.reset(token)

    def wait_connected(self, wait: float = CONNECT_WAIT) -> None:
        """Start the session if needed; raise :class:`ZooKeeperUnavailable` unless it is
        connected within ``wait`` seconds (a session just started in this worker)."""
        if not self.connection.enabled:
            raise ZooKeeperUnavailable("ZooKeeper is disabled on this server")
        self.connection.ensure_started()
        budget = _BUDGET_DEADLINE.get()
        deadline = time.monotonic() + wait
        if budget is not None:
            deadline = min(deadline, budget)
        while not self.connection.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        self.connection.client()

    def instances(self, path: str, timeout: float = READ_TIMEOUT) -> list[InstanceData]:
        """The instance children of one node and their data ([] if the node is missing)."""
        return self.instances_of([path], timeout)[path]

    def instances_of(
        self, paths: Sequence[str], timeout: float = READ_TIMEOUT
    ) -> dict[str, list[InstanceData]]:
        """The instance children of every path, read concurrently within ``timeout`` overall."""
        zk = self.connection.client()
        deadline = time.monotonic() + timeout
        listings = [(path, zk.get_children_async(path)) for path in paths]
        names: dict[str, list[str]] = {}
        for path, answer in listings:
            try:
                names[path] = sorted(answer.get(timeout=_remaining(deadline)))
            except NoNodeError:
                names[path] = []
        reads: list[tuple[str, str, Any]] = [
            (path, name, zk.get_async(f"{path}/{name}"))
            for path, children in names.items()
            for name in children
        ]
        found: dict[str, list[InstanceData]] = {path: [] for path in paths}
        for path, name, answer in reads:
            try:
                data, _stat = answer.get(timeout=_remaining(deadline))
            except NoNodeError:
                continue  # the instance went away meanwhile
            found[path].append(InstanceData(name, data or b""))
        return found

    def watched_instances(self, path: str, timeout: float = READ_TIMEOUT) -> list[InstanceData]:
        """Like :meth:`instances`, with the children taken from :class:`WatchedChildren`: the
        publish guard's read, one pipelined round of ``get`` (none when there is no child)."""
        zk = self.connection.client()
        deadline = time.monotonic() + timeout
        names = self.watched.children(zk, path, deadline)
        reads = [(name, zk.get_async(f"{path}/{name}")) for name in names]
        found: list[InstanceData] = []
        for name, answer in reads:
            try:
                data, _stat = answer.get(timeout=_remaining(deadline))
            except NoNodeError:
                continue  # the instance went away meanwhile
            found.append(InstanceData(name, data or b""))
        return found

    def count_children(self, paths: Sequence[str], timeout: float = 2.0) -> dict[str, int]:
        """How many children each node has (pipelined ``exists``; missing nodes are left out)."""
        zk = self.connection.client()
        deadline = time.monotonic() + timeout
        answers = [(path, zk.exists_async(path)) for path in paths]
        counts: dict[str, int] = {}
        for path, answer in answers:
            stat = answer.get(timeout=_remaining(deadline))
            if stat is not None:
                counts[path] = int(stat.numChildren)
        return counts


def node_collisions(session: so.Session, prefix: str, coords: Coordinates) -> list[Coordinates]:
    """Other coordinates (with configs stored) whose ZooKeeper node is the node of ``coords``."""
    node = app_node(prefix, coords).rsplit("/", 1)[-1]
    query = (
        sa.select(App.name, Env.name, Config.version)
        .distinct()
        .select_from(Config)
        .join(App, App.id == Config.app_id)
        .join(Env, Env.id == Config.env_id)
        .where(App.name + "_" + Config.version + "_" + Env.name == node)
    )
    others = [
        Coordinates(app, version, env)
        for app, env, version in session.execute(query)
        if (app, env, version) != (coords.app, coords.env, coords.version)
    ]
    return sorted(others, key=str)


def require_own_node(session: so.Session, prefix: str, coords: Coordinates) -> None:
    """Raise :class:`SharedNode` naming the others when ``coords``'s node is not its own."""
    others = node_collisions(session, prefix, coords)
    if others:
        names = ", ".join(f"app {o.app!r} env {o.env!r} version {o.version!r}" for o in others)
        raise SharedNode(
            f"the ZooKeeper node {app_node(prefix, coords)} of {coords} is shared with {names}: "
            "their instances cannot be told apart, so none are shown"
        )


def self_check(
    registry: InstanceRegistry,
    prefix: str,
    coords: Coordinates,
    configs: Sequence[Config],
    timeout: float = READ_TIMEOUT,
    grays: Mapping[int, GrayRelease] | None = None,
) -> dict[int, ConfigCheck]:
    """``{config id: check}`` for ``configs`` of ``coords``, read concurrently within
    ``timeout``. Raises :class:`ZooKeeperUnavailable` or a kazoo/timeout error.

    Gray-aware: ``grays`` maps config ids to their running gray releases (None: read through
    the configs' own session, one query); an instance that runs a release's gray content, or
    that its target selects by id, is compared with the gray content, not the main one."""
    paths: dict[int, str] = {}
    for config in configs:
        try:
            paths[config.id] = config_node(prefix, coords, ConfigType(config.type), config.name)
        except InvalidNameError:
            continue  # a name stored before ZooKeeper's rule was enforced: no node, no instance
    found = registry.instances_of(list(paths.values()), timeout)
    if grays is None:
        session = so.object_session(configs[0]) if configs else None
        grays = {} if session is None else running_releases(session, list(paths))
    checks: dict[int, ConfigCheck] = {}
    for config in configs:
        release = grays.get(config.id)
        check = ConfigCheck(gray_release=None if release is None else release.id)
        for instance in found[paths[config.id]] if config.id in paths else []:
            kind = ConfigType(config.type)
            result, on_gray = check_instance(kind, config.name, config.value, release, instance)
            check.instances.append(result)
            if on_gray:
                check.on_gray.add(instance.name)
        checks[config.id] = check
    return checks
