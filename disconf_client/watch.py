"""ZooKeeper side of the client: one data watch and one instance node per config.

:class:`ConfigWatcher` owns one ``KazooClient``. For every config it

* creates the config node if missing (persistent, never overwriting existing data) and arms a
  :class:`~disconf_client.node_watch.NodeWatch` on it **before** the client fetches the config,
  so no change can slip between fetch and watch. Any ``setData`` on the node (even with
  unchanged data, as the original server does) is a change: ``notify(key, data)`` gets the data
  read with the event; the client applies it when it carries the whole content
  (:func:`disconf_core.notification.content_from_node`), else it re-fetches over HTTP;
* keeps an EPHEMERAL instance node ``<config node>/<host>_<pid>_<uuid>`` whose data is the value
  the client holds (spec §2), rewritten after each applied revision (by the client's writer
  thread, coalesced per config: see :mod:`disconf_client.persist`).

It also keeps one EPHEMERAL item-schema node ``<prefix>/<app>_<version>_<env>/schema/<instance>``
holding the schemas of the items the client binds (:mod:`disconf_client.schema`; the server's
publish guard reads it), written at start and re-created with the instance nodes.

Callbacks from kazoo never block: a data change calls ``notify(key, data)`` on kazoo's connection
thread (:mod:`disconf_client.node_watch`), which applies whole content without I/O or queues a
download for the client's worker thread; state changes are handed to ``client.handler.spawn``.

Error Handling
--------------
* ZooKeeper unreachable at start: ``start()`` returns ``False`` after its wait; kazoo keeps
  reconnecting in the background (forever, with backoff). Watches and instance nodes are created
  on the first ``CONNECTED``, and ``on_resync()`` is then called so the client re-fetches
  everything (a change may have happened meanwhile).
* ZooKeeper that accepts and never answers (a paused server, a silent partition) while configs
  are being armed: :meth:`ConfigWatcher.watch` and the re-arming after a reconnection wait at
  most ``_OPERATION_TIMEOUT`` (10 s) for creating the config nodes and as much for the watches'
  first reads, for all configs together, and never raise; a node not created is created on the
  next ``CONNECTED``, a watch not confirmed counts its first answer as a change.
* SUSPENDED: nothing is done (ephemeral nodes survive if the session does, watches do not:
  ZooKeeper drops them with the connection); instance updates made meanwhile fail, are logged,
  and are rewritten on reconnection, and every watch is read again on the next ``CONNECTED``.
* LOST (session expired): ephemeral instance nodes are gone. On the next ``CONNECTED`` (a new
  session) every instance node is re-created with the current value, every watch is read
  again (:meth:`~disconf_client.node_watch.NodeWatch.rearm`, also after a mere disconnection,
  reporting a version missed meanwhile), and ``on_resync()`` makes the client re-fetch
  everything, so a change made while the session was lost is not missed.
* ``close()`` stops every watch (later events are ignored) and closes the session,
  which removes the instance nodes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

from disconf_core import ConfigType, Coordinates, config_node, normalize_prefix
from disconf_core.schema import schema_node

from .node_watch import DirectHandler, NodeWatch

__all__ = ["ConfigKey", "ConfigWatcher", "default_instance_name"]

log = logging.getLogger(__name__)

ConfigKey = tuple[ConfigType, str]
_OPERATION_TIMEOUT = 10.0


def _left(deadline: float) -> float:
    """Seconds until ``deadline`` (a ``time.monotonic()`` value), never negative."""
    return max(deadline - time.monotonic(), 0.0)


def default_instance_name() -> str:
    """``<host>_<pid>_<uuid>``: unique per client; the server treats it as opaque."""
    host = socket.gethostname().replace("/", "-") or "localhost"
    return f"{host}_{os.getpid()}_{uuid.uuid4().hex}"


class ConfigWatcher:
    """Data watches and instance nodes of one client's configs (see the module docstring)."""

    def __init__(
        self,
        hosts: str,
        prefix: str,
        coords: Coordinates,
        *,
        notify: Callable[[ConfigKey, bytes | None], None],
        on_resync: Callable[[], None],
        instance_name: str | None = None,
        session_timeout: float = 10.0,
    ) -> None:
        self.hosts = hosts
        self.prefix = normalize_prefix(prefix)
        self.coords = coords
        self.instance_name = instance_name or default_instance_name()
        self._notify = notify
        self._on_resync = on_resync
        self._keys: list[ConfigKey] = []
        self._watches: dict[ConfigKey, NodeWatch] = {}
        self._unensured: set[ConfigKey] = set()  # config nodes not yet known to exist
        self._instance_data: dict[ConfigKey, bytes] = {}
        self._schema_data: bytes | None = None
        self._lock = threading.RLock()
        self._closed = False
        self._lost = False
        self.zk: Any = KazooClient(
            hosts=hosts,
            timeout=session_timeout,
            connection_retry=KazooRetry(max_tries=-1, max_delay=5.0),
            handler=DirectHandler(),
        )
        self.zk.add_listener(self._on_state)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, wait: float) -> bool:
        """Start connecting; ``True`` if connected within ``wait`` seconds (else keeps trying)."""
        event = self.zk.start_async()
        event.wait(wait)
        return bool(self.zk.connected)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for node_watch in self._watches.values():
                node_watch.stop()
        try:
            self.zk.stop()
            self.zk.close()
        except Exception:  # noqa: BLE001 - closing must not fail
            log.exception("error while closing the ZooKeeper client")

    @property
    def connected(self) -> bool:
        return bool(self.zk.connected)

    def node_path(self, key: ConfigKey) -> str:
        return config_node(self.prefix, self.coords, key[0], key[1])

    def instance_path(self, key: ConfigKey) -> str:
        return f"{self.node_path(key)}/{self.instance_name}"

    # -- watches ------------------------------------------------------------------------------

    def watch(self, keys: Iterable[ConfigKey]) -> None:
        """Register configs; armed now if connected, else on the first connection. Never raises
        for ZooKeeper and returns within twice ``_OPERATION_TIMEOUT`` whatever ZooKeeper does
        (:meth:`_arm_new`)."""
        with self._lock:
            for key in keys:
                if key not in self._keys:
                    self._keys.append(key)
            registered = list(self._keys)
        if self.zk.connected:
            self._arm_new(registered)

    def _arm_new(self, keys: list[ConfigKey]) -> list[ConfigKey]:
        """Create the config nodes of ``keys`` not armed yet if missing, then arm their watches;
        the keys armed by this call.

        Every request of a step is sent at once and the step waits ``_OPERATION_TIMEOUT`` in all,
        not per config: a ZooKeeper that accepts and never answers holds it twice that at most,
        however many configs there are. Nothing here
        raises for ZooKeeper: a node that could not be created is created again on the next
        ``CONNECTED`` (a watch on a missing node works: it reports the creation), and a watch
        whose first read is not answered in time counts that answer as a change
        (:meth:`NodeWatch.wait_armed`); its read is sent again on the next ``CONNECTED``."""
        with self._lock:
            if self._closed:
                return []
            new = [key for key in keys if key not in self._watches]  # keys: self._keys, unique
            self._unensured.update(new)
            ensuring = [
                (key, self.zk.ensure_path_async(self.node_path(key))) for key in self._unensured
            ]
        deadline = time.monotonic() + _OPERATION_TIMEOUT
        for key, result in ensuring:
            try:
                result.get(timeout=_left(deadline))
            except (KazooException, KazooTimeoutError) as exc:
                log.warning(
                    "cannot create %s (retried on reconnection): %r", self.node_path(key), exc
                )
            else:
                with self._lock:
                    self._unensured.discard(key)
        armed: list[tuple[ConfigKey, NodeWatch]] = []
        with self._lock:
            for key in new:
                if key in self._watches or self._closed:
                    continue  # armed meanwhile by another caller, or closing
                node_watch = NodeWatch(self.zk, self.node_path(key), self._on_change_of(key))
                self._watches[key] = node_watch
                node_watch.start()
                armed.append((key, node_watch))
        deadline = time.monotonic() + _OPERATION_TIMEOUT
        for _key, node_watch in armed:
            if not node_watch.wait_armed(_left(deadline)):
                # Its first answer will count as a change: nothing slips between arm and fetch.
                log.warning("watch on %s not confirmed yet; armed when ZooKeeper answers",
                            node_watch.path)  # fmt: skip
        return [key for key, _watch in armed]

    def _on_change_of(self, key: ConfigKey) -> Callable[[bytes | None], None]:
        def on_change(data: bytes | None) -> None:  # on kazoo's connection thread
            if self._closed:
                return
            log.debug("config node of %s changed", key)
            self._notify(key, data)

        return on_change

    # -- instance nodes -----------------------------------------------------------------------

    def set_instance(self, key: ConfigKey, data: bytes) -> None:
        """Record the value this client holds and write it to the instance node if connected."""
        with self._lock:
            self._instance_data[key] = data
        if self.zk.connected and not self._closed:
            self._write_instance(key, data)

    def schema_path(self) -> str:
        """This client's item-schema node."""
        return f"{schema_node(self.prefix, self.coords)}/{self.instance_name}"

    def set_schema(self, data: bytes) -> None:
        """Record the bound items' schemas and write the item-schema node if connected."""
        with self._lock:
            self._schema_data = data
        if self.zk.connected and not self._closed:
            self._write_node(self.schema_path(), data)

    def _write_instance(self, key: ConfigKey, data: bytes) -> None:
        self._write_node(self.instance_path(key), data)

    def _write_node(self, path: str, data: bytes) -> None:
        """Set or create one EPHEMERAL node of this client (errors logged, rewritten later)."""
        try:
            try:
                self.zk.set_async(path, data).get(timeout=_OPERATION_TIMEOUT)
            except NoNodeError:
                try:
                    self.zk.create_async(path, data, ephemeral=True, makepath=True).get(
                        timeout=_OPERATION_TIMEOUT
                    )
                except NodeExistsError:
                    self.zk.set_async(path, data).get(timeout=_OPERATION_TIMEOUT)
        except (KazooException, KazooTimeoutError) as exc:
            log.warning("cannot write instance node %s (rewritten on reconnection): %r", path, exc)

    # -- session handling ---------------------------------------------------------------------

    def _on_state(self, state: str) -> None:
        """kazoo state listener: never blocks; real work is spawned."""
        if self._closed:
            return
        if state == KazooState.LOST:
            log.warning("ZooKeeper session lost; instance nodes and watches will be re-created")
            self._lost = True
        elif state == KazooState.SUSPENDED:
            log.info("ZooKeeper connection suspended; keeping the current values")
        elif state == KazooState.CONNECTED:
            self.zk.handler.spawn(self._resync)

    def _resync(self) -> None:
        """On (re)connection: arm missing watches, rewrite instance nodes, maybe re-fetch all."""
        try:
            with self._lock:
                if self._closed:
                    return
                for node_watch in self._watches.values():
                    node_watch.rearm()  # a version missed while disconnected is reported
                registered = list(self._keys)
            newly_armed = self._arm_new(registered)
            with self._lock:
                lost, self._lost = self._lost, False
                pending = dict(self._instance_data)
                schema = self._schema_data
            for key, data in pending.items():
                self._write_instance(key, data)
            if schema is not None:
                self._write_node(self.schema_path(), schema)
        except (KazooException, KazooTimeoutError) as exc:
            log.warning("ZooKeeper resync failed (retried on the next connection): %r", exc)
            return
        if lost or newly_armed:
            log.info("ZooKeeper (re)connected (session lost: %s); re-fetching every config", lost)
            self._on_resync()
