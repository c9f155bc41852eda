"""``DisconfClient``: wires settings, binding, fetcher, local snapshot and ZooKeeper watches.

Life of a config (a decorated class registered with the client):

* ``start()`` discovers ZooKeeper (``/api/zoo/hosts`` + ``/api/zoo/prefix``, unless given),
  arms one data watch per config, **then** loads every config and binds it, blocking until all
  are bound (or failing as the load mode says). Callbacks are not called for this first load.
* Sources, first match wins: the disaster-recovery override directory (a file there wins over
  everything until it is removed); the local directory for LOCAL mode and ignored configs; the
  server; in AUTO mode when no server answers, the local snapshot of the last applied revision,
  then the ``bootstrap_bundle`` (:mod:`disconf_client.bundle`; source ``"bundle"``).
* A change notification, a local edit (watchdog), the safety-net check (every
  ``recheck_interval`` s, a conditional download: ``If-None-Match`` with the last ETag, ``304``
  = unchanged) or ``reload()`` queue a reload; one worker thread fetches, converts, swaps in,
  (a notification whose node data carries the whole content —
  :func:`disconf_core.notification.content_from_node` — is applied from that data without a
  download: ``stats.from_notification``; anything else is downloaded as before),
  writes the ``target`` file (if the config has one), hands the local snapshot and the instance
  node to the writer, then the change event to the config's callback lane
  (:mod:`disconf_client.callbacks`: callbacks of one config in order, different configs on
  different threads, never on the worker). The worker runs no callback or hook (only the
  fields' converters, which must not block), so a hung callback never stops values from
  flowing, to its own config or to any other. The snapshot and instance-node writes run on a
  writer thread, coalesced per config (:mod:`disconf_client.persist`: a burst of
  revisions costs one pair of writes per config; a revision is recorded within the writer's
  window of 1-2 s plus two write rounds of being applied, so a publish reaching a whole fleet is
  delivered before the fleet's instance-node writes reach ZooKeeper; ``close()`` flushes).
  ``start()`` returns with them written.

Error Handling
--------------
* SERVER mode: ``start()`` raises :class:`ConfigUnavailableError` when a config cannot be
  fetched (every try of every server is made). AUTO: a server that refuses the connection or
  does not answer within ``http_timeout`` is given up on for the rest of the start, by every
  config (one timeout per server, not one retry round per config); ``start()`` then starts from
  the snapshot (a corrupted one is ignored and logged) or, with no snapshot, from the fields'
  defaults when every field has one (else it raises); then retries every ``retry_sleep`` s in
  the background until the server answers, and logs when it does. LOCAL: no server is ever
  contacted.
* A hostile answer (above ``max_config_bytes``, or longer than ``transfer_timeout``) is a failed
  fetch: refused with a clear log line, the old values stay, nothing is written.
* Server down after start: the current values stay, ``stats.fetch_errors`` counts the failures,
  the config is retried in the background until it succeeds.
* ZooKeeper down or the session lost: see :mod:`disconf_client.watch`; on reconnection every
  config is re-fetched. The discovery of ZooKeeper itself is retried in the background when the
  server is down at start (the original client gave up and never watched).
* A bad publish (a field fails conversion or validation): the old values stay, each bad key and
  value is logged, ``on_error(BindingError)`` is called (on a callback lane of its own per
  config, as callbacks are) and ``stats.rejected`` counts it; the bad content is never written
  to the snapshot.
* A raising callback (any ``BaseException``, ``asyncio.CancelledError`` included) is logged with
  its traceback (``stats.callback_errors``); the other callbacks still run and no thread dies. A
  callback running longer than ``callback_warn_after`` s is logged with its qualified name
  (``stats.slow_callbacks``).
* Classes: the list given, plus those of ``scan=`` (a module or package, imported); with neither,
  every class decorated so far in the process (logged). ``start()`` with no class raises
  :class:`ClientStateError`.
* Fork: a client records the pid that created it. In a forked child every method except
  ``close()`` raises :class:`ForkedProcessError` (create the client in the child, e.g. in
  gunicorn's ``post_fork``); ``close()`` in the child only marks it closed and never touches the
  parent's ZooKeeper session. Class attributes and snapshots stay readable in the child.
* A fleet asking at once (started together, or every session re-established after a ZooKeeper
  restart): ``start()`` waits up to ``start_jitter`` s before its first request, the full
  re-fetch after a (re)connection waits up to ``resync_jitter`` s (on the maintenance thread;
  the held values stay in force meanwhile), and each safety-net period is lengthened by up to
  ``resync_jitter`` s; see :mod:`disconf_client.jitter`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from disconf_core import ConfigType, content_md5, file_instance_data, item_instance_data
from disconf_core.notification import content_from_node

from .binding import Binding, ChangeEvent, binding_for, build_values
from .bundle import BootstrapBundle
from .cache import LocalSnapshot, atomic_write, config_path
from .callbacks import CallbackLanes
from .decorators import config_spec, decorated_classes, listeners_of
from .errors import (
    BindingError,
    ClientStateError,
    ConfigNotFoundError,
    ConfigUnavailableError,
    FetchError,
    ForkedProcessError,
    IntegrityError,
    SnapshotCorruptError,
)
from .fetcher import ConfigFetcher, NotModified
from .jitter import jitter_delay
from .local_files import LocalFileWatcher
from .persist import FLUSH_WAIT, RECORD_DELAY, CoalescingWriter
from .scan import scan as scan_module
from .schema import bound_schema, items_schema_data
from .settings import ClientSettings, LoadMode, load_settings
from .transport import Transport
from .watch import ConfigKey, ConfigWatcher, default_instance_name

__all__ = ["ClientStats", "DisconfClient"]

log = logging.getLogger(__name__)

ChangeCallback = Callable[[ChangeEvent[Any]], object]
ErrorCallback = Callable[[BindingError], object]
_ALL = "all"
_RECHECK = "recheck"  # the periodic safety-net check: conditional downloads


@dataclass
class ClientStats:
    """Counters for monitoring (read them any time; updated by the client's threads)."""

    applied: int = 0
    rejected: int = 0
    fetch_errors: int = 0
    integrity_errors: int = 0
    snapshot_errors: int = 0
    callback_errors: int = 0
    slow_callbacks: int = 0
    not_modified: int = 0
    notifications: int = 0
    from_notification: int = 0  # revisions applied from the node data, without a download
    bundle_starts: int = 0  # configs started from the bootstrap bundle (disconf_client.bundle)
    last_update: float | None = None
    last_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, counter: str, error: str | None = None) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)
            if counter == "applied":
                self.last_update = time.time()
            if error is not None:
                self.last_error = error

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}


@dataclass
class _Entry:
    key: ConfigKey
    binding: Binding[Any]
    stale: bool = False  # the last server fetch failed: retried in the background


class DisconfClient:
    """A Disconf client for a set of decorated classes. See the module docstring."""

    def __init__(
        self,
        configs: Iterable[type] | None = None,
        *,
        scan: str | None = None,
        settings: ClientSettings | None = None,
        transport: Transport | None = None,
        on_change: ChangeCallback | None = None,
        on_error: ErrorCallback | None = None,
        properties_file: str | os.PathLike[str] | None = None,
        **setting_kwargs: Any,
    ) -> None:
        if settings is None:
            settings = load_settings(properties_file=properties_file, **setting_kwargs)
        elif setting_kwargs:
            raise TypeError("pass either settings= or individual settings, not both")
        self.settings = settings
        self.stats = ClientStats()
        self._pid = os.getpid()
        # This instance's id: the name of its instance nodes, sent with every fetch (gray
        # releases target it) as X-Disconf-Instance, with the labels as X-Disconf-Labels.
        self.instance_name = default_instance_name()
        self._listeners: list[ChangeCallback] = [on_change] if on_change else []
        self._on_error = on_error
        self._entries: dict[ConfigKey, _Entry] = {}
        self._snapshot = LocalSnapshot(settings.download_dir)
        self._bundle = (
            BootstrapBundle(settings.bootstrap_bundle, settings.coordinates)
            if settings.bootstrap_bundle is not None
            else None
        )
        self._fetcher: ConfigFetcher | None = None
        if settings.mode is not LoadMode.LOCAL:
            self._fetcher = ConfigFetcher(
                settings.servers,
                transport=transport,
                retry_times=settings.retry_times,
                retry_sleep=settings.retry_sleep,
                timeout=settings.http_timeout,
                max_bytes=settings.max_config_bytes,
                transfer_timeout=settings.transfer_timeout,
                read_token=settings.read_token,
                instance=self.instance_name,
                labels=settings.labels,
            )
        self._writer = CoalescingWriter(delay=RECORD_DELAY)
        self._lanes = CallbackLanes(
            max_threads=settings.callback_threads,
            warn_after=settings.callback_warn_after,
            on_error=lambda message: self.stats.add("callback_errors", message),
            on_slow=lambda message: self.stats.add("slow_callbacks", message),
        )
        self._watcher: ConfigWatcher | None = None
        self._files: LocalFileWatcher | None = None
        self._queue: queue.Queue[ConfigKey | str | None] = queue.Queue()
        self._queued: set[ConfigKey | str] = set()
        # The latest notified node data per config, numbered per config in arrival order; the
        # number of the last one applied (a notification never replaces a newer one).
        self._node_data: dict[ConfigKey, tuple[int, bytes | None]] = {}
        self._notify_seq: dict[ConfigKey, int] = {}
        self._applied_seq: dict[ConfigKey, int] = {}
        self._resync_due: float | None = None  # monotonic time of the jittered full re-fetch
        self._queue_lock = threading.Lock()
        self._apply_lock = threading.RLock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # wakes the maintenance thread (stale config, close)
        self._threads: list[threading.Thread] = []
        self._started = False
        self._closed = False
        self._discovery_pending = False
        self.register(*_classes_to_bind(configs, scan))

    # -- public API ---------------------------------------------------------------------------

    def register(self, *classes: type) -> None:
        """Add decorated classes (before ``start()``)."""
        self._check_usable(allow_unstarted=True)
        if self._started:
            raise ClientStateError("register configs before start()")
        for cls in classes:
            spec = config_spec(cls)
            key = (spec.kind, spec.name)
            if key in self._entries:
                if self._entries[key].binding.cls is not cls:
                    other = self._entries[key].binding.cls
                    raise TypeError(f"{spec.label} is bound twice: {other!r} and {cls!r}")
                continue
            self._entries[key] = _Entry(key, binding_for(cls))

    def add_listener(self, callback: ChangeCallback) -> ChangeCallback:
        """Add a catch-all change callback (usable as a decorator)."""
        self._check_usable(allow_unstarted=True)
        self._listeners.append(callback)
        return callback

    def source_of(self, cls: type) -> str:
        """Where ``cls``'s current values came from: server, snapshot, override, local, defaults."""
        spec = config_spec(cls)
        entry = self._entries.get((spec.kind, spec.name))
        if entry is None:
            raise KeyError(f"{cls.__qualname__} is not registered with this client")
        return entry.binding.source or "defaults"

    @property
    def started(self) -> bool:
        return self._started and not self._closed

    @property
    def zk_connected(self) -> bool:
        return self._watcher is not None and self._watcher.connected

    def start(self) -> DisconfClient:
        """Load every registered config (blocking) and start watching; see the module docstring."""
        self._check_usable(allow_unstarted=True)
        if self._started:
            raise ClientStateError("this DisconfClient is already started")
        for entry in self._entries.values():
            if entry.binding.owner not in (None, self):
                raise ClientStateError(
                    f"{entry.binding.cls.__qualname__} is already bound by another running client"
                )
            entry.binding.owner = self
        if not self._entries:
            raise ClientStateError(
                "no config class to bind: pass the classes (DisconfClient([RedisConfig])), "
                "scan='your.package', or decorate classes with @disconf_file/@disconf_item "
                "before creating the client"
            )
        self._started = True
        try:
            delay = jitter_delay(self.settings.start_jitter) if self._fetcher is not None else 0.0
            if delay > 0 and self._stop.wait(delay):
                raise ClientStateError("closed while waiting to start (start_jitter)")
            with self._start_round():
                if self._fetcher is not None:
                    self._start_zookeeper(initial=True)
                for key in list(self._entries):
                    self._reload(key, at_start=True)
        except BaseException:
            self.close()
            raise
        self._start_threads()
        return self

    def _start_round(self) -> contextlib.AbstractContextManager[None]:
        """AUTO: a server found down is not asked again during this start (see the fetcher)."""
        if self._fetcher is not None and self.settings.mode is LoadMode.AUTO:
            return self._fetcher.start_round()
        return contextlib.nullcontext()

    def reload(self, cls: type | None = None) -> None:
        """Reload one config (or every config) now, in the calling thread."""
        self._check_usable()
        if cls is None:
            for key in list(self._entries):
                self._reload(key)
        else:
            spec = config_spec(cls)
            self._reload((spec.kind, spec.name))

    def close(self) -> None:
        """Stop watching and release ZooKeeper, threads and files. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if os.getpid() != self._pid:
            return  # a forked child: the threads and the ZooKeeper session belong to the parent
        self._stop.set()
        self._wake.set()
        self._queue.put(None)
        self._lanes.close()
        if self._fetcher is not None:
            self._fetcher.close()
        if self._files is not None:
            self._files.stop()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=30)
        self._writer.close(FLUSH_WAIT)  # the snapshot holds what was applied
        if self._watcher is not None:
            self._watcher.close()
        for entry in self._entries.values():
            if entry.binding.owner is self:
                entry.binding.owner = None

    def __enter__(self) -> DisconfClient:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- checks -------------------------------------------------------------------------------

    def _check_usable(self, *, allow_unstarted: bool = False) -> None:
        if os.getpid() != self._pid:
            raise ForkedProcessError(
                f"this DisconfClient was created in process {self._pid} and cannot be used in "
                f"the forked process {os.getpid()}; create a new client in the child "
                "(e.g. in gunicorn's post_fork hook). Bound values stay readable."
            )
        if self._closed:
            raise ClientStateError("this DisconfClient is closed")
        if not allow_unstarted and not self._started:
            raise ClientStateError("call start() first")

    # -- ZooKeeper ----------------------------------------------------------------------------

    def _start_zookeeper(self, *, initial: bool) -> bool:
        """Discover ZooKeeper and start watching; False if the server could not be asked."""
        assert self._fetcher is not None
        settings = self.settings
        try:
            hosts = settings.zk_hosts or self._fetcher.zoo_hosts()
            prefix = settings.zk_prefix or self._fetcher.zoo_prefix() or "/disconf"
        except FetchError as exc:
            self.stats.add("fetch_errors", str(exc))
            log.warning("ZooKeeper discovery failed, retrying in the background: %s", exc)
            self._discovery_pending = True
            self._wake.set()
            return False
        if self._closed:
            return False
        watcher = ConfigWatcher(
            hosts,
            prefix,
            settings.coordinates,
            notify=self._notified,
            on_resync=self._resync_later,
            instance_name=self.instance_name,
        )
        self._watcher = watcher
        self._discovery_pending = False
        if not watcher.start(wait=min(10.0, max(2.0, settings.http_timeout))):
            log.warning("ZooKeeper %s not reachable yet; watching once it is", hosts)
        watcher.watch(key for key in self._entries if self._is_remote(key))
        schemas = items_schema_data(
            entry.binding.spec for key, entry in self._entries.items() if self._is_remote(key)
        )
        if schemas is not None:
            watcher.set_schema(schemas)
        if not initial:
            self._resync_later()
        return True

    def _notified(self, key: ConfigKey, data: bytes | None = None) -> None:
        """Called on kazoo's connection thread (:mod:`disconf_client.node_watch`); never blocks
        and never waits for ZooKeeper: node data carrying the whole content is applied right
        here when nothing else is in flight for it (:meth:`_apply_inline`: no thread hand-off
        before the callback's lane); anything else is recorded and queued."""
        self.stats.add("notifications")
        with self._queue_lock:
            seq = self._notify_seq.get(key, 0) + 1
            self._notify_seq[key] = seq
            busy = key in self._queued or _ALL in self._queued or _RECHECK in self._queued
        if not busy and data is not None and self._apply_inline(key, seq, data):
            return
        with self._queue_lock:
            self._node_data[key] = (seq, data)
        self._enqueue(key)

    def _apply_inline(self, key: ConfigKey, seq: int, data: bytes) -> bool:
        """Apply node data on the calling (kazoo) thread if that needs no I/O and no wait:
        whole content, the client running, no target file, no override directory, and the
        apply lock free (else False: the worker does it). The conversion runs here, which is
        why converters must be quick; callbacks still run on their lanes."""
        entry = self._entries.get(key)
        settings = self.settings
        if (
            entry is None
            or not self._threads
            or self._closed
            or self._fetcher is None
            or entry.binding.spec.target is not None
            or settings.override_dir is not None
            or not self._is_remote(key)
        ):
            return False
        content = content_from_node(key[0], data)
        if content is None or len(content) > settings.max_config_bytes:
            return False
        if not self._apply_lock.acquire(blocking=False):
            return False
        try:
            if self._closed or seq <= self._applied_seq.get(key, 0):
                return not self._closed
            md5 = content_md5(content)  # hashed once: the ETag to remember and the binding's
            self._fetcher.remember(settings.coordinates, key[0], key[1], content, md5)
            entry.stale = False
            self.stats.add("from_notification")
            self._applied_seq[key] = seq
            self._apply(entry, content, "server", at_start=False, md5=md5)
            return True
        finally:
            self._apply_lock.release()

    def _resync_later(self) -> None:
        """Re-fetch every config after a random wait of up to ``resync_jitter`` s (not now)."""
        delay = jitter_delay(self.settings.resync_jitter)
        if delay <= 0:
            self._enqueue(_ALL)
            return
        due = time.monotonic() + delay
        with self._queue_lock:
            if self._resync_due is None or due < self._resync_due:
                self._resync_due = due
        self._wake.set()

    # -- worker -------------------------------------------------------------------------------

    def _enqueue(self, item: ConfigKey | str) -> None:
        with self._queue_lock:
            if item in self._queued or self._closed:
                return
            self._queued.add(item)
        self._queue.put(item)

    def _start_threads(self) -> None:
        for target, name in ((self._work, "worker"), (self._maintain, "maintenance")):
            thread = threading.Thread(target=target, name=f"disconf-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        # Started now rather than by the first change, which then pays no thread start.
        self._writer.start()
        if (
            self._listeners
            or self._on_error is not None
            or any(listeners_of(entry.binding.cls) for entry in self._entries.values())
        ):
            self._lanes.prestart()
        directories = self._local_directories()
        if directories:
            self._files = LocalFileWatcher(directories, self._local_file_changed)
            self._files.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._stop.is_set():
                return
            with self._queue_lock:
                self._queued.discard(item)
                notified = self._node_data.pop(item, None) if isinstance(item, tuple) else None
            seq, node_data = notified if notified is not None else (0, None)
            keys = list(self._entries) if isinstance(item, str) else [item]
            for key in keys:
                if self._stop.is_set():
                    return
                try:
                    self._reload(key, conditional=item == _RECHECK, node_data=node_data, seq=seq)
                except BaseException:  # noqa: BLE001 - nothing may kill the worker
                    log.exception("unexpected error while reloading %s", key)

    def _maintain(self) -> None:
        """Retry stale configs and ZooKeeper discovery; run the periodic safety-net check."""
        settings = self.settings
        fast = max(0.05, settings.retry_sleep)
        period = settings.recheck_interval
        next_check = time.monotonic() + period + jitter_delay(settings.resync_jitter)
        while not self._stop.is_set():
            pending = self._discovery_pending or any(e.stale for e in self._entries.values())
            with self._queue_lock:
                resync_due = self._resync_due
            wake_at = next_check if resync_due is None else min(next_check, resync_due)
            if pending:
                if self._stop.wait(min(fast, max(0.0, wake_at - time.monotonic()))):
                    return
            else:
                self._wake.wait(max(0.0, wake_at - time.monotonic()))
                self._wake.clear()
                if self._stop.is_set():
                    return
            with self._queue_lock:
                due = self._resync_due is not None and time.monotonic() >= self._resync_due
                if due:
                    self._resync_due = None
            if due:
                log.info("re-fetching every config (after up to resync_jitter s)")
                self._enqueue(_ALL)
            if self._discovery_pending and self._fetcher is not None:
                try:
                    self._start_zookeeper(initial=False)
                except Exception:  # noqa: BLE001 - the maintenance thread must survive
                    log.exception("ZooKeeper discovery failed unexpectedly; retrying")
            for entry in list(self._entries.values()):
                if entry.stale:
                    self._enqueue(entry.key)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + period + jitter_delay(settings.resync_jitter)
                log.debug("safety-net check of every config")
                self._enqueue(_RECHECK)

    # -- local files --------------------------------------------------------------------------

    def _is_remote(self, key: ConfigKey) -> bool:
        return self.settings.mode is not LoadMode.LOCAL and key[1] not in self.settings.ignore

    def _local_directories(self) -> list[Path]:
        directories: list[Path] = []
        if self.settings.override_dir is not None:
            directories.append(self.settings.override_dir)
        if any(not self._is_remote(key) for key in self._entries):
            directories.append(self.settings.local_source_dir)
        return directories

    def _local_file_changed(self, path: Path) -> None:
        """Called on a watchdog thread: map the path to a config and enqueue it."""
        for key in self._entries:
            for directory in self._local_directories():
                if config_path(directory.absolute(), key[0], key[1]) == path:
                    self._enqueue(key)

    # -- loading ------------------------------------------------------------------------------

    def _resolve(
        self,
        entry: _Entry,
        at_start: bool,
        conditional: bool = False,
        node_data: bytes | None = None,
    ) -> tuple[bytes | None, str] | None:
        """The content to apply and its source; None to keep the current values."""
        kind, name = entry.key
        settings = self.settings
        if settings.override_dir is not None:
            content = LocalSnapshot.read_plain(settings.override_dir, kind, name)
            if content is not None:
                return content, "override"
        if not self._is_remote(entry.key):
            content = LocalSnapshot.read_plain(settings.local_source_dir, kind, name)
            return content, "local" if content is not None else "defaults"
        assert self._fetcher is not None
        carried = content_from_node(kind, node_data) if node_data is not None else None
        if carried is not None and len(carried) <= settings.max_config_bytes:
            # The node's data is the latest delivered revision, whole (digest checked): no
            # download. The next conditional download asks with this content's ETag.
            self._fetcher.remember(settings.coordinates, kind, name, carried)
            entry.stale = False
            self.stats.add("from_notification")
            return carried, "server"
        # If-None-Match only while we hold what the server sent: a 304 then means "unchanged".
        conditional = conditional and entry.binding.source == "server" and not entry.stale
        try:
            if kind is ConfigType.FILE:
                content = self._fetcher.fetch_file(
                    settings.coordinates, name, conditional=conditional
                )
            else:
                value = self._fetcher.fetch_item(
                    settings.coordinates, name, conditional=conditional
                )
                content = value.encode("utf-8")
            entry.stale = False
            return content, "server"
        except NotModified:
            self.stats.add("not_modified")
            log.debug("%s unchanged on the server (304)", entry.binding.spec.label)
            return None
        except FetchError as exc:
            counter = "integrity_errors" if isinstance(exc, IntegrityError) else "fetch_errors"
            self.stats.add(counter, str(exc))
            entry.stale = not isinstance(exc, ConfigNotFoundError)
            self._wake.set()
            if at_start and settings.mode is LoadMode.SERVER:
                raise ConfigUnavailableError(
                    f"cannot load {entry.binding.spec.label}: {exc}"
                ) from exc
            if not at_start and entry.binding.source in ("server", "snapshot", "defaults"):
                log.warning("keeping the current %s: %s", entry.binding.spec.label, exc)
                return None
            log.warning("%s: %s; falling back to the local snapshot", entry.binding.spec.label, exc)
        if not at_start:
            self._writer.flush(FLUSH_WAIT)  # never read a snapshot while it is being replaced
        try:
            content = self._snapshot.read(kind, name)
        except SnapshotCorruptError as exc:
            self.stats.add("snapshot_errors", str(exc))
            log.error("not using the local snapshot: %s", exc)
            content = None
        if content is not None:
            return content, "snapshot"
        if self._bundle is not None:  # no server, no snapshot: the bootstrap bundle
            content = self._bundle.read(kind, name)
            if content is not None:
                if entry.binding.source != "bundle":
                    self.stats.add("bundle_starts")
                return content, "bundle"
        if at_start and any(spec.required for spec in entry.binding.spec.fields):
            raise ConfigUnavailableError(
                f"cannot load {entry.binding.spec.label}: no server answered and there is no "
                f"usable local snapshot in {str(self.settings.download_dir)!r}"
            )
        return None, "defaults"

    def _reload(
        self,
        key: ConfigKey,
        *,
        at_start: bool = False,
        conditional: bool = False,
        node_data: bytes | None = None,
        seq: int = 0,
    ) -> None:
        entry = self._entries[key]
        with self._apply_lock:
            if self._closed:
                return
            if seq:
                if seq <= self._applied_seq.get(key, 0):
                    return  # a newer notification of this config was applied meanwhile
                # the node data, or a download made after it: at least that revision
                self._applied_seq[key] = seq
            resolved = self._resolve(entry, at_start, conditional, node_data)
            if resolved is None:
                return
            content, source = resolved
            if self._apply(entry, content, source, at_start=at_start) or not at_start:
                return
            # A rejected first revision: fall back to the last good one, then to the defaults.
            label = entry.binding.spec.label
            if source == "server":
                try:
                    snapshot = self._snapshot.read(*key)
                except SnapshotCorruptError as exc:
                    self.stats.add("snapshot_errors", str(exc))
                    log.error("not using the local snapshot: %s", exc)
                    snapshot = None
                if snapshot is not None and self._apply(entry, snapshot, "snapshot", at_start=True):
                    log.warning(
                        "started %s from the local snapshot: the server's is invalid", label
                    )
                    return
            if content is not None and self._apply(entry, None, "defaults", at_start=True):
                log.warning("started %s from its defaults: its content is invalid", label)
                return
            raise ConfigUnavailableError(f"cannot start: {label} is invalid: see the log")

    def _apply(
        self,
        entry: _Entry,
        content: bytes | None,
        source: str,
        *,
        at_start: bool,
        md5: str | None = None,
    ) -> bool:
        """Convert and swap in; False (old values kept, error reported) if it was rejected.
        ``md5``: ``content``'s, when the caller has hashed it already."""
        binding = entry.binding
        spec = binding.spec
        if md5 is None and content is not None:
            md5 = content_md5(content)
        if binding.revision and md5 == binding.md5 and source == binding.source:
            return True
        try:
            values = build_values(spec, content)
        except BindingError as exc:
            for problem in exc.problems:
                log.error("rejected %s from %s: %s", spec.label, source, problem)
            self.stats.add("rejected", str(exc))
            if self._on_error is not None:  # on its own lane: user code never runs here
                self._lanes.submit_call(("on_error", entry.key), spec.label, exc, [self._on_error])
            return False
        event = binding.apply(values, md5=md5, source=source)
        self.stats.add("applied")
        if content is not None and spec.target is not None:
            try:
                atomic_write(spec.target, content)  # before the callbacks: they may read it
            except OSError as exc:
                log.error("cannot write %s to %s: %s", spec.label, spec.target, exc)
        # Recorded off this thread (coalesced per config, see disconf_client.persist), except
        # during start(), which returns with the snapshot and the instance nodes written.
        record = self._recorder(entry, content, source)
        if at_start:
            record()
        else:
            self._writer.submit(entry.key, record)
        log.info("applied %s from %s (md5 %s)", spec.label, source, md5)
        if event is not None and not at_start:
            # Last: the callback thread woken here then waits least for this thread to finish.
            self._fire(entry.key, event)
        return True

    def _recorder(self, entry: _Entry, content: bytes | None, source: str) -> Callable[[], None]:
        """The snapshot write and instance-node write recording one applied revision."""
        spec = entry.binding.spec

        def record() -> None:
            if content is not None and source == "server":
                try:
                    self._snapshot.write(spec.kind, spec.name, content)
                except OSError as exc:
                    self.stats.add("snapshot_errors", str(exc))
                    log.error("cannot write the local snapshot of %s: %s", spec.label, exc)
            if self._watcher is not None and self._is_remote(entry.key) and not self._closed:
                text = (content or b"").decode("utf-8", errors="replace")
                data = (
                    item_instance_data(text)
                    if spec.kind is ConfigType.ITEM
                    else file_instance_data(
                        spec.name, text, bound_schema(spec), self.settings.labels
                    )
                )
                self._watcher.set_instance(entry.key, data)

        return record

    def _fire(self, key: ConfigKey, event: ChangeEvent[Any]) -> None:
        """Hand the event to its config's callback lane (never runs user code here)."""
        self._lanes.submit(key, event, [*listeners_of(event.config), *self._listeners])


def _classes_to_bind(configs: Iterable[type] | None, scan: str | None) -> list[type]:
    """The classes given, those of ``scan``, or else every class decorated so far (logged)."""
    classes = list(configs) if configs is not None else []
    if scan is not None:
        classes.extend(cls for cls in scan_module(scan) if cls not in classes)
        log.info(
            "scan %r found %s",
            scan,
            ", ".join(config_spec(cls).owner or cls.__qualname__ for cls in classes) or "nothing",
        )
    elif configs is None:
        classes = decorated_classes()
        if classes:
            log.info(
                "no config class given: binding every class decorated so far: %s",
                ", ".join(f"{cls.__module__}.{cls.__qualname__}" for cls in classes),
            )
    return classes
