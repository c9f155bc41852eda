"""Master/standby: exactly one active master among the instances sharing an election name.

Instances of a service that must run as one active copy (a scheduler, an ordered queue consumer)
each create an :class:`ActiveStandby` with the same name; one becomes master, the others wait
as warm standbys and one of them takes over when the master goes away::

    election = ActiveStandby(
        "billing-job",
        coords=Coordinates("billing", "1_0_0", "prod"),
        zk_hosts="zk1:2181,zk2:2181",
        on_become_master=lambda token: scheduler.start(fencing_token=token),
        on_lose_master=scheduler.stop,
    ).start()

It is kazoo's ``Lock`` recipe under ``<prefix>/<app>_<version>_<env>/standby/<name>``
(:mod:`~disconf_client.standby.lock`): every contender holds an EPHEMERAL_SEQUENTIAL node (its
data: host, pid, since — see :mod:`disconf_core.standby`) and the lowest node is the master.
That node's sequence number is the **fencing token** handed to ``on_become_master(token)``:
successive masters' tokens strictly increase, so a downstream store that remembers the highest
token it has seen can refuse a deposed master's late writes.

Each time this instance wins the lock it opens a :class:`Term` (token, lock node, context,
whether it is master, the ``on_lose_master`` it queued); a term ends once and never restarts.

* ``is_master`` is True only while the session is CONNECTED and the current term holds the
  lowest node; it flips to False synchronously in the kazoo listener, before any hook runs.
* Hooks (``on_become_master(token)``, ``on_become_standby()``, ``on_lose_master()``) run one at a
  time, in order, on a per-election hook thread (:mod:`~disconf_client.standby.hooks`) — never
  on the kazoo event thread. A raising hook is logged and the recipe carries on.
* Config per role: ``load_master_config()`` runs (on the election's worker thread) after the
  lock is won and before ``is_master`` turns True and ``on_become_master`` runs; if it raises,
  the instance gives its place up and competes again :data:`RETRY_PAUSE` later, so a standby
  whose master config loads becomes master instead. ``load_standby_config()`` runs before
  ``on_become_standby``, and both only once this instance's lock node is queued behind the
  master's (a standby is always listed among the contenders when its hooks run). See
  :mod:`~disconf_client.standby.roles`.
* Context: the master may :meth:`ActiveStandby.save_context` bytes or a JSON value (at most
  512 KiB, larger raises :class:`~disconf_client.standby.errors.ContextTooLargeError`); the
  write is a ZooKeeper transaction that also checks the master's lock node still exists, so a
  deposed master can never overwrite its successor's context
  (:mod:`~disconf_client.standby.store`). The next master finds it in
  :attr:`ActiveStandby.context` when ``on_become_master`` runs.
* A clean :meth:`ActiveStandby.stop` (or :meth:`resign`) runs ``on_lose_master`` first and only
  then deletes the lock node, so the next master (notified at once by its watch) never overlaps.
* A master killed with SIGKILL is replaced once ZooKeeper expires its session: within the
  **negotiated** session timeout (:attr:`ActiveStandby.negotiated_session_timeout`; the server
  may grant more than was asked, and a warning is logged when it does) plus
  :data:`RETRY_PAUSE`; :attr:`ActiveStandby.takeover_bound` is that sum.

Errors (the tree is drawn in :mod:`~disconf_client.standby.errors`): a master's work loop
catches :class:`~disconf_client.standby.errors.MastershipError` once — it covers "no longer
master" (:class:`~disconf_client.standby.errors.NotMasterError`) and "ZooKeeper cannot be
reached" (:class:`~disconf_client.standby.errors.CoordinatorUnavailableError`).

Error Handling
--------------
* **SUSPENDED** (connection lost, session maybe alive): a master stops being master at once —
  ``is_master`` turns False in the listener and ``on_lose_master`` is queued; ``save_context``
  raises ``NotMasterError`` from then on. Nobody else can become master before the session
  expires, because the lock node still exists. A standby keeps its place in the queue.
* **Reconnect** (CONNECTED again, same session): the former master waits for its
  ``on_lose_master`` to return (at most ``hook_timeout``), deletes its old lock node and joins
  the contest again with a new node; the next contender in line becomes master with a higher
  token. It never resumes its old term silently.
* **LOST** (session expired): every lock node of the session is gone. The recipe never believes
  it is master from that moment; a pending acquisition is cancelled and the instance re-enters
  the contest from scratch on the new session.
* **ZooKeeper restart**: the same as SUSPENDED then reconnect (or LOST if the sessions expired
  meanwhile). A client created by the recipe (``zk_hosts=``) retries the connection with at most
  1 s between attempts, forever, until :meth:`stop`.
* **Calls** (``save_context``, ``load_context``, ``contenders``) wait at most the session
  timeout and raise ``CoordinatorUnavailableError`` when ZooKeeper does not answer.
* **stop() while ZooKeeper is unreachable** returns promptly: once ``on_lose_master`` has
  returned there is nothing left to wait for. A client created by the recipe is stopped (its
  lock node expires with the session); with a shared ``client=`` the lock node is deleted when
  that client reconnects, or expires with its session.
* **Lock node deleted by someone else** (an operator): a watch on the master's own node demotes
  it, exactly as on SUSPENDED.
* A process paused (SIGSTOP, a long GC) while master cannot notice anything until it runs again;
  when it resumes it sees SUSPENDED/LOST within moments (its next ``save_context`` raises a
  ``MastershipError``), but a standby may already be master. This is inherent to any lease or
  lock service: fence downstream writes with the token.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import CancelledError, KazooException
from kazoo.protocol.states import EventType, KazooState, WatchedEvent

from disconf_core import DEFAULT_PREFIX, Coordinates, standby_node
from disconf_core.standby import (
    CONTEXT_NODE,
    Contender,
    JSONValue,
    SavedContext,
    contender_data,
    contender_token,
    decode_context,
    encode_context,
)

from .errors import NotMasterError, StandbyError
from .hooks import HookRunner
from .lock import AbandonedLocks, ContenderLock
from .roles import RoleConfigs
from .session import make_client, session_timeouts
from .spec import StandbySpec
from .store import list_contenders, read_context, write_context

__all__ = ["DEFAULT_SESSION_TIMEOUT", "RETRY_PAUSE", "ActiveStandby", "Term"]

log = logging.getLogger(__name__)

DEFAULT_SESSION_TIMEOUT = 10.0
# After a failed master-config load or an unexpected ZooKeeper error; also the longest pause
# between the contender lock's retries while ZooKeeper is unreachable.
RETRY_PAUSE = 1.0

MasterHook = Callable[[int], object]
Hook = Callable[[], object]


@dataclass(eq=False)
class Term:
    """One master term of this instance: opened when its lock is won, ended exactly once.

    Guarded by the election's condition. ``is_master`` is True from the takeover (after the
    master config loaded) until the demotion; ``over`` is True from the demotion (or a takeover
    that did not happen) on; ``lose_done`` is set once the term's ``on_lose_master`` returned.
    """

    token: int
    node: str  # the full path of this term's lock node
    context: SavedContext | None = None
    is_master: bool = False
    over: bool = False
    lose_done: threading.Event | None = None


class ActiveStandby:
    """One instance's seat in the election ``name``; see the module docstring."""

    def __init__(
        self,
        name: str,
        *,
        coords: Coordinates,
        zk_hosts: str | None = None,
        client: KazooClient | None = None,
        prefix: str = DEFAULT_PREFIX,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        on_become_master: MasterHook | None = None,
        on_become_standby: Hook | None = None,
        on_lose_master: Hook | None = None,
        load_master_config: Hook | None = None,
        load_standby_config: Hook | None = None,
        hook_timeout: float | None = None,
        host: str | None = None,
        role_configs: RoleConfigs | None = None,
    ) -> None:
        """Exactly one of ``zk_hosts`` (the recipe owns a client) or ``client`` (shared).

        ``session_timeout`` (seconds) applies to a client the recipe creates; a shared client
        keeps its own. It also bounds each ZooKeeper call of ``save_context``,
        ``load_context`` and ``contenders``. ``hook_timeout`` (default: ``session_timeout``)
        bounds how long a former master waits for ``on_lose_master`` before giving its lock
        node up anyway. ``role_configs`` provides both config loaders and is closed by
        :meth:`stop`.
        """
        if (zk_hosts is None) == (client is None):
            raise StandbyError(
                f"master/standby {name!r}: give exactly one of zk_hosts= or client= "
                f"(got zk_hosts={zk_hosts!r}, client={client!r})"
            )
        if isinstance(session_timeout, bool) or not isinstance(session_timeout, (int, float)):
            raise StandbyError(f"session_timeout {session_timeout!r} must be a number of seconds")
        if not 0.5 <= session_timeout <= 600:
            raise StandbyError(
                f"session_timeout {session_timeout!r} must be between 0.5 and 600 seconds"
            )
        if role_configs is not None:
            if load_master_config is not None or load_standby_config is not None:
                raise StandbyError(
                    f"master/standby {name!r}: role_configs= provides the config loaders; do not "
                    "also pass load_master_config= or load_standby_config="
                )
            load_master_config = role_configs.load_master
            load_standby_config = role_configs.load_standby
        self.role_configs = role_configs
        self.name = name
        self.coords = coords
        self.path = standby_node(prefix, coords, name)  # validates the name
        self.context_path = f"{self.path}/{CONTEXT_NODE}"
        self.session_timeout = float(session_timeout)
        self.hook_timeout = float(hook_timeout if hook_timeout is not None else session_timeout)
        self.host = host or socket.gethostname()
        self._owns_client = client is None
        if client is None:
            assert zk_hosts is not None
            client = make_client(zk_hosts, self.session_timeout)
        self._zk: KazooClient = client
        self._on_become_master = on_become_master
        self._on_become_standby = on_become_standby
        self._on_lose_master = on_lose_master
        self._load_master_config = load_master_config
        self._load_standby_config = load_standby_config

        # Guarded by _cond: the session (connected; the epoch, incremented on LOST: every node of
        # an older epoch is gone) and the seat (started/closing, the lock queued or held now,
        # the current or last term, the last context seen).
        self._cond = threading.Condition(threading.Lock())
        self._connected = False
        self._epoch = 0
        self._started = False
        self._closing = False
        self._lock: ContenderLock | None = None
        self._term: Term | None = None
        self._context: SavedContext | None = None
        self._hooks: HookRunner | None = None
        self._worker: threading.Thread | None = None
        self._worker_done = False
        self._abandoned = AbandonedLocks(client, self.path, name)

    @classmethod
    def for_object(
        cls, obj: object, *, disconf: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> ActiveStandby:
        """An election wired to an ``@active_standby`` class's instance and its hook methods.

        When the decorator named per-role configs, they are bound by a
        :class:`~disconf_client.standby.roles.RoleConfigs` whose ``DisconfClient`` settings
        are ``disconf`` (default: from the environment / ``disconf.properties``).
        """
        spec = getattr(type(obj), "__disconf_standby__", None)
        if not isinstance(spec, StandbySpec):
            raise TypeError(f"{type(obj).__qualname__} is not decorated with @active_standby")
        if (spec.master_configs or spec.standby_configs) and "role_configs" not in kwargs:
            kwargs["role_configs"] = RoleConfigs(
                spec.master_configs, spec.standby_configs, **dict(disconf or {})
            )
        for hook in ("on_become_master", "on_become_standby", "on_lose_master"):
            if hook in kwargs:
                raise TypeError(f"{hook}= comes from {type(obj).__qualname__}; do not pass it")
            method = getattr(obj, hook, None)
            if method is not None:
                kwargs[hook] = method
        return cls(spec.name, **kwargs)

    # ----------------------------------------------------------------- public surface

    @property
    def is_master(self) -> bool:
        """True only while CONNECTED and holding the lowest lock node."""
        with self._cond:
            return self._term is not None and self._term.is_master

    @property
    def token(self) -> int | None:
        """The fencing token of the current master term, None when not master."""
        with self._cond:
            term = self._term
            return term.token if term is not None and term.is_master else None

    @property
    def context(self) -> SavedContext | None:
        """The context read when this instance became master, or the last one it saved."""
        with self._cond:
            return self._context

    @property
    def negotiated_session_timeout(self) -> float | None:
        """The session timeout (s) ZooKeeper granted this instance's client.

        None until the first session is established, and for a shared ``client=`` that was not
        made by :func:`~disconf_client.standby.session.make_client` (kazoo does not report it).
        """
        timeouts = session_timeouts(self._zk)
        return None if timeouts is None else timeouts.negotiated

    @property
    def takeover_bound(self) -> float:
        """How long after this instance dies (as master) a standby takes over, at most (s).

        The negotiated session timeout (the requested one while unknown) plus
        :data:`RETRY_PAUSE`: ZooKeeper expires the dead session, the next contender's watch
        fires, and a contender that was itself reconnecting retries within that pause.
        """
        negotiated = self.negotiated_session_timeout
        return (negotiated if negotiated is not None else self.session_timeout) + RETRY_PAUSE

    def start(self) -> ActiveStandby:
        """Join the contest (returns at once; hooks report the role). Idempotent."""
        with self._cond:
            if self._closing:
                raise StandbyError(f"master/standby {self.name!r} was stopped; create a new one")
            if self._started:
                return self
            self._started = True
        self._hooks = HookRunner(self.name)
        self._zk.add_listener(self._on_state)
        if self._owns_client:
            self._zk.start_async()
        connected = self._zk.state == KazooState.CONNECTED
        with self._cond:
            self._connected = connected
        if connected:
            self._check_session_timeout()
        self._worker = threading.Thread(
            target=self._run, name=f"disconf-standby[{self.name}]", daemon=True
        )
        self._worker.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Leave the contest: ``on_lose_master`` runs first, then the lock node is deleted."""
        with self._cond:
            if self._closing or not self._started:
                self._closing = True
                return
            self._closing = True
            self._demote_locked("stopping")
            if self._lock is not None:
                self._lock.cancel()
            self._cond.notify_all()
        in_hook = self._hooks is not None and self._hooks.is_current()
        if (
            self._worker is not None
            and self._worker is not threading.current_thread()
            and not in_hook  # the worker may be waiting for this very hook to return
        ):
            self._join_worker(self._worker, timeout)
        self._zk.remove_listener(self._on_state)
        if self._hooks is not None:
            self._hooks.stop(timeout)
        if self.role_configs is not None:
            try:
                self.role_configs.close()
            except Exception:
                log.exception("master/standby %r: closing the role configs failed", self.name)
        if self._owns_client:
            try:
                self._zk.stop()
                self._zk.close()
            except Exception:  # pragma: no cover - closing a broken client
                log.exception("master/standby %r: closing the ZooKeeper client failed", self.name)

    close = stop

    def __enter__(self) -> ActiveStandby:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def resign(self) -> bool:
        """Give mastership up (``on_lose_master`` first) and rejoin the queue at the back."""
        with self._cond:
            was_master = self._term is not None and self._term.is_master
            self._demote_locked("resigned")
            return was_master

    def save_context(self, value: bytes | JSONValue) -> None:
        """Store the master's context (bytes or JSON, <= 512 KiB) for the next master.

        Raises a :class:`~disconf_client.standby.errors.MastershipError` when this instance
        cannot act as master: :class:`NotMasterError` unless it is master *and* its lock node
        still exists at the moment of the write (checked in the same ZooKeeper transaction),
        :class:`~disconf_client.standby.errors.CoordinatorUnavailableError` when ZooKeeper does
        not answer within the session timeout. A bad value raises
        :class:`~disconf_client.standby.errors.ContextTooLargeError` (over 512 KiB) or
        :class:`~disconf_client.standby.errors.StandbyDataError` (not bytes/JSON).
        """
        with self._cond:
            term = self._term
            if term is None or not term.is_master:
                raise NotMasterError(
                    f"master/standby {self.name!r}: only the master may save the context"
                )
        data = encode_context(
            value, token=term.token, saved_at=time.time(), host=self.host, pid=os.getpid()
        )
        self._write_context(term.node, data)
        saved = decode_context(data)
        with self._cond:
            if self._term is term:
                term.context = saved
                self._context = saved

    def load_context(self) -> SavedContext | None:
        """Read the saved context from ZooKeeper now (any role)."""
        return read_context(self._zk, self.name, self.context_path, self._call_timeout())

    def contenders(self) -> list[Contender]:
        """Every contender (host, pid, since, token, is_master), master first, for diagnostics."""
        return list_contenders(self._zk, self.name, self.path, self._call_timeout())

    # ----------------------------------------------------------------- ZooKeeper data

    @property
    def _master_node(self) -> str | None:
        """The lock node of the current master term (None when not master)."""
        with self._cond:
            term = self._term
            return term.node if term is not None and term.is_master else None

    def _write_context(self, node: str, data: bytes) -> None:
        """One transaction: ``node`` (our lock node) must exist, then the context is set."""
        write_context(self._zk, self.name, self.context_path, node, data, self._call_timeout())

    def _call_timeout(self) -> float:
        negotiated = self.negotiated_session_timeout
        return negotiated if negotiated is not None else self.session_timeout

    def _check_session_timeout(self) -> None:
        """Warn (once per value) when ZooKeeper granted another session timeout than asked."""
        timeouts = session_timeouts(self._zk)
        negotiated = None if timeouts is None else timeouts.unreported_change()
        if timeouts is None or negotiated is None:
            return
        log.warning(
            "master/standby %r: ZooKeeper granted a session timeout of %.1fs, not the %.1fs "
            "asked for (a server keeps it between its minSessionTimeout and maxSessionTimeout, "
            "by default 2 and 20 x tickTime); a master that dies is replaced within %.1fs",
            self.name,
            negotiated,
            timeouts.requested,
            negotiated + RETRY_PAUSE,
        )

    # ----------------------------------------------------------------- listener (event thread)

    def _on_state(self, state: KazooState) -> None:
        """Session state listener: flips flags only, never blocks."""
        with self._cond:
            if state == KazooState.CONNECTED:
                self._connected = True
            else:
                self._connected = False
                if state == KazooState.LOST:
                    self._epoch += 1
                    if self._lock is not None:
                        self._lock.cancel()
                self._demote_locked(f"ZooKeeper session {state.lower()}")
            self._cond.notify_all()
        if state == KazooState.CONNECTED:
            self._check_session_timeout()

    def _on_own_node(self, event: WatchedEvent) -> None:
        """Watch on the master's own lock node (event thread)."""
        if event.type == EventType.DELETED:
            with self._cond:
                term = self._term
                if term is not None and term.node == event.path and not term.over:
                    self._demote_locked("its lock node was deleted")

    def _demote_locked(self, reason: str) -> None:
        """End the current term, if any (caller holds ``self._cond``)."""
        term = self._term
        if term is not None and not term.over:
            term.over = True
            if term.is_master:
                term.is_master = False
                log.warning(
                    "master/standby %r: no longer master (token %s): %s",
                    self.name,
                    term.token,
                    reason,
                )
                term.lose_done = self._submit("on_lose_master", self._on_lose_master)
        self._cond.notify_all()

    def _submit(self, what: str, call: Callable[[], object] | None) -> threading.Event | None:
        if self._hooks is None or call is None:
            return None
        return self._hooks.submit(what, call)

    # ----------------------------------------------------------------- worker thread

    def _run(self) -> None:
        try:
            while self._wait_connected():
                if not self._abandoned.delete():
                    self._pause(0.1)
                    continue
                self._compete()
        except Exception:  # pragma: no cover - a bug; logged rather than lost
            log.exception("master/standby %r: election worker crashed", self.name)
            with self._cond:
                self._demote_locked("the election worker crashed")
        finally:
            with self._cond:
                self._demote_locked("leaving the election")
                lock, self._lock = self._lock, None
            if lock is not None:
                self._abandon(lock)
            self._wait_lose_hook()
            if self._zk.connected:
                self._abandoned.delete()
            with self._cond:
                self._worker_done = True
                self._cond.notify_all()

    def _join_worker(self, worker: threading.Thread, timeout: float) -> None:
        """Wait (at most ``timeout``) for the worker to leave; never wait for ZooKeeper to return.

        While ZooKeeper is unreachable the worker may be blocked in a kazoo call (a lock
        acquisition's ``get_children``, its clean-up ``delete``) that kazoo only answers after a
        reconnect. Nothing useful can be done in ZooKeeper then, so once ``on_lose_master`` has
        returned a client owned by the recipe is stopped, which fails that call at once (the
        lock node goes with the session). A shared client is not ours to stop: its worker
        finishes, deleting its lock node, when the connection returns.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.wait_for(lambda: self._worker_done or not self._connected, timeout)
            lose_done = self._term.lose_done if self._term is not None else None
        if worker.is_alive() and not self._zk.connected:
            if lose_done is not None:
                lose_done.wait(max(0.0, deadline - time.monotonic()))
            if self._owns_client:
                log.info(
                    "master/standby %r: ZooKeeper unreachable while stopping; stopping its client",
                    self.name,
                )
                self._zk.stop()
            else:
                log.info(
                    "master/standby %r: ZooKeeper unreachable while stopping; the lock node is "
                    "deleted when the shared client reconnects, or expires with its session",
                    self.name,
                )
                return
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            log.warning("master/standby %r: worker still busy after %.1fs", self.name, timeout)

    def _wait_connected(self) -> bool:
        """Block until CONNECTED (True) or stopping (False)."""
        with self._cond:
            self._cond.wait_for(lambda: self._closing or self._connected)
            return not self._closing

    def _pause(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._closing, timeout=seconds)

    def _compete(self) -> None:
        """Queue for the lock; once won, hold one master term until it ends."""
        data = contender_data(self.name, self.host, os.getpid(), time.time())
        lock = ContenderLock(self._zk, self.path, data)
        with self._cond:
            if self._closing:
                return
            epoch = self._epoch
            self._lock = lock
        acquired = False
        lock.on_queued = self._enter_standby  # runs in this thread, once our node is queued
        try:
            acquired = bool(lock.acquire())
        except (CancelledError, InterruptedError):
            acquired = False
        except KazooException as exc:
            log.warning("master/standby %r: contest interrupted: %r", self.name, exc)
            acquired = False
            self._pause(RETRY_PAUSE)
        term: Term | None = None
        with self._cond:
            # A SUSPENDED/CONNECTED blip while we waited in the queue is harmless (the session
            # and our node survived); a LOST is not (the epoch changed: our node is gone).
            won = acquired and self._connected and self._epoch == epoch and not self._closing
            token = contender_token(lock.node) if won and lock.node is not None else None
            if token is not None:
                # from now on any demotion ends this term, and so cancels the takeover
                term = self._term = Term(token, f"{self.path}/{lock.node}")
        if term is None:
            self._abandon(lock)
            return
        if not self._take_over(term, epoch, lock):
            return
        try:
            if self._zk.exists(term.node, watch=self._on_own_node) is None:
                with self._cond:
                    if self._term is term:
                        self._demote_locked("its lock node vanished")
        except KazooException:
            pass  # the session listener demotes us
        with self._cond:
            self._cond.wait_for(lambda: term.over)
        self._wait_lose_hook()
        self._abandon(lock)

    def _take_over(self, term: Term, epoch: int, lock: ContenderLock) -> bool:
        """Load the master config and the context, then make ``term`` master (True) if still
        current; on failure (or a demotion meanwhile) end the term without any hook and give
        ``lock`` up (False)."""
        try:
            if self._load_master_config is not None:
                self._load_master_config()
            context = read_context(
                self._zk, self.name, self.context_path, self._call_timeout(), damaged="ignore"
            )
        except Exception:
            log.exception(
                "master/standby %r: could not prepare to become master; giving the lock up",
                self.name,
            )
            with self._cond:
                term.over = True
            self._abandon(lock)
            self._pause(RETRY_PAUSE)
            return False
        with self._cond:
            current = (
                self._connected and self._epoch == epoch and not self._closing and not term.over
            )
            if current:
                term.is_master = True
                term.context = self._context = context
                log.info("master/standby %r: became master with token %d", self.name, term.token)
                hook = self._on_become_master
                if hook is not None:
                    token = term.token
                    self._submit("on_become_master", lambda: hook(token))
            else:
                term.over = True
        if not current:
            self._abandon(lock)
        return current

    def _enter_standby(self) -> None:
        if self._load_standby_config is not None:
            try:
                self._load_standby_config()
            except Exception:
                log.exception("master/standby %r: load_standby_config raised", self.name)
        self._submit("on_become_standby", self._on_become_standby)

    def _wait_lose_hook(self) -> None:
        with self._cond:
            done = self._term.lose_done if self._term is not None else None
        if done is not None and not done.wait(self.hook_timeout):
            log.warning(
                "master/standby %r: on_lose_master still running after %.1fs; "
                "giving the lock node up anyway",
                self.name,
                self.hook_timeout,
            )

    def _abandon(self, lock: ContenderLock) -> None:
        """Forget ``lock``: its node (if any) is deleted now or after the next reconnect."""
        with self._cond:
            if self._lock is lock:
                self._lock = None
        self._abandoned.add(lock.prefix)
        if self._zk.connected:
            self._abandoned.delete()
