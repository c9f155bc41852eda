"""Where change callbacks run: one serial lane per config, on a bounded pool of threads.

The client's worker thread fetches and swaps values in; it runs no callback or hook (only the
fields' converters, which must not block). It hands each
:class:`~disconf_client.binding.ChangeEvent` to :class:`CallbackLanes`, which guarantees:

* **order per config**: the callbacks of one config run one event at a time, in the order the
  revisions were applied, and for one event in registration order (``@on_change`` functions,
  then the client's catch-all listeners);
* **isolation between configs**: different configs' lanes run on different threads, so a
  callback that hangs holds back only later events of its own config. Values (class attributes,
  ``snapshot()``) keep flowing to every config, the hung one included;
* **a bounded thread count**: at most ``callback_threads`` lanes run at once (threads are
  started on demand, the first one possibly ahead with :meth:`CallbackLanes.prestart`, and kept
  until ``close()``). When that many callbacks hang at once, other
  configs' events wait for a free thread; their values are still applied;
* **bounded memory**: a lane holds at most ``MAX_PENDING`` waiting events; beyond that the two
  newest are merged into one (``old`` of the first, ``new`` of the last, the union of the keys
  changed), so a callback stuck for hours does not grow memory without bound;
* **no user code kills a thread**: whatever a callback raises (``BaseException`` included, e.g.
  ``asyncio.CancelledError``) is logged with its traceback and counted; the lane goes on;
* **a callback that runs too long is reported**: after ``warn_after`` seconds a warning names
  its qualified name, the config and the time so far (once per call), ``on_slow`` is called
  (the client counts ``stats.slow_callbacks``), and its return is logged with the total time.

One monitor thread per process checks the running callbacks of every client every
``min(1, warn_after / 4)`` seconds (it ends when no client is open).
``close()`` stops the lanes; it waits at most ``CLOSE_WAIT`` seconds per thread, so a hung
callback cannot hang ``close()`` (its daemon thread is abandoned).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .binding import ChangeEvent

__all__ = ["CLOSE_WAIT", "MAX_PENDING", "CallbackLanes", "callback_name"]

log = logging.getLogger(__name__)

MAX_PENDING = 100
"""Events one config's lane keeps waiting behind a running callback before merging."""
CLOSE_WAIT = 2.0
"""Seconds ``close()`` waits for each callback thread."""

Callback = Callable[[ChangeEvent[Any]], object]


def callback_name(callback: object) -> str:
    """``module.Qualified.name`` of a callback (its ``repr`` if it has none)."""
    qualname = getattr(callback, "__qualname__", None)
    module = getattr(callback, "__module__", None)
    if qualname is None:
        return repr(callback)
    return f"{module}.{qualname}" if module else str(qualname)


@dataclass
class _Job:
    event: Any  # a ChangeEvent, or what an error hook receives (a BindingError)
    callbacks: tuple[Callable[[Any], object], ...]
    label: str


@dataclass
class _Lane:
    jobs: deque[_Job] = field(default_factory=deque)
    busy: bool = False  # queued as ready or running


@dataclass
class _Running:
    name: str
    label: str
    started: float
    reported: bool = False


class CallbackLanes:
    """Runs callbacks per config; see the module docstring."""

    def __init__(
        self,
        *,
        max_threads: int,
        warn_after: float,
        on_error: Callable[[str], None] = lambda message: None,
        on_slow: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.max_threads = max(1, max_threads)
        self.warn_after = warn_after
        self._on_error = on_error
        self._on_slow = on_slow
        self._lock = threading.Lock()
        self._lanes: dict[Hashable, _Lane] = {}
        # Lanes with a job to run, taken by whichever thread is idle. A SimpleQueue: the
        # hand-off of each event to a thread is one put/get, not a Condition's lock dance.
        self._ready: queue.SimpleQueue[Hashable | None] = queue.SimpleQueue()
        self._ready_count = 0  # lanes put on _ready and not taken yet
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting on _ready (or about to)
        self._running: dict[int, _Running] = {}
        self._closed = False
        self._monitored = False

    # -- submitting ---------------------------------------------------------------------------

    def submit(
        self, lane: Hashable, event: ChangeEvent[Any], callbacks: Sequence[Callback]
    ) -> None:
        """Queue ``event`` for ``callbacks`` on ``lane`` (a config); returns at once."""
        self.submit_call(lane, f"{event.kind.segment} {event.name!r}", event, callbacks)

    def submit_call(
        self,
        lane: Hashable,
        label: str,
        argument: Any,
        callbacks: Sequence[Callable[[Any], object]],
    ) -> None:
        """Queue ``callback(argument)`` calls on ``lane`` (e.g. an error hook); returns at once.

        Beyond ``MAX_PENDING`` waiting jobs, two change events are merged; any other argument
        (an error report) is dropped for the newer one."""
        if not callbacks:
            return
        with self._lock:
            if self._closed:
                return
            state = self._lanes.get(lane)
            if state is None:  # not setdefault: no _Lane built per event only to be dropped
                state = self._lanes[lane] = _Lane()
            state.jobs.append(_Job(argument, tuple(callbacks), label))
            if len(state.jobs) > MAX_PENDING:
                newest = state.jobs.pop()
                older = state.jobs.pop()
                state.jobs.append(_merge(older, newest))
            if not state.busy:
                state.busy = True
                self._ready_count += 1
                # one thread per ready lane: an idle thread already woken for another lane (it
                # has not taken it yet) must not count, or a hung callback would hold this one
                if self._ready_count > self._idle and len(self._threads) < self.max_threads:
                    self._spawn()
                self._ready.put(lane)
            if not self._monitored:
                self._monitored = True
                _MONITOR.add(self)

    def prestart(self) -> None:
        """Start one thread now (the client does at start when it has callbacks), so the first
        event is not handed to a thread still being started."""
        with self._lock:
            if not self._threads and not self._closed:
                self._spawn()

    def pending(self) -> int:
        """Events waiting or running in every lane."""
        with self._lock:
            return sum(len(lane.jobs) for lane in self._lanes.values()) + len(self._running)

    def running(self) -> list[tuple[str, str, float]]:
        """The callbacks running now: (qualified name, config, seconds so far)."""
        now = time.monotonic()
        with self._lock:
            return [(r.name, r.label, now - r.started) for r in self._running.values()]

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lanes.clear()
            threads = list(self._threads)
            for _ in threads:
                self._ready.put(None)  # one wake-up per thread; a busy one sees it when done
        _MONITOR.discard(self)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=CLOSE_WAIT)

    # -- threads ------------------------------------------------------------------------------

    def _spawn(self) -> None:
        number = len(self._threads) + 1
        thread = threading.Thread(
            target=self._serve, name=f"disconf-callback-{number}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _serve(self) -> None:
        with self._lock:
            self._idle += 1
        while True:
            key = self._ready.get()
            with self._lock:
                self._idle -= 1
                if key is None or self._closed:
                    return
                self._ready_count -= 1
                lane = self._lanes[key]
                job = lane.jobs.popleft()
            try:
                self._run(job)
            finally:
                with self._lock:
                    if lane.jobs and not self._closed:
                        self._ready_count += 1
                        self._ready.put(key)  # to the back: lanes take turns
                    else:
                        lane.busy = False
                    self._idle += 1

    def _run(self, job: _Job) -> None:
        event = job.event
        label = job.label
        ident = threading.get_ident()
        for callback in job.callbacks:
            name = callback_name(callback)
            running = _Running(name, label, time.monotonic())
            with self._lock:
                if self._closed:
                    return
                self._running[ident] = running
            try:
                callback(event)
            except BaseException as exc:  # noqa: BLE001 - user code never kills a client thread
                # Logged before it is counted: whoever sees the count finds the traceback.
                log.error(
                    "change callback %s raised for %s (the other callbacks still run)",
                    name,
                    label,
                    exc_info=(type(exc), exc, exc.__traceback__),
                )
                self._on_error(f"{name}: {exc!r}")
            finally:
                with self._lock:
                    self._running.pop(ident, None)
                if running.reported:
                    log.warning(
                        "change callback %s for %s returned after %.1f s",
                        name,
                        label,
                        time.monotonic() - running.started,
                    )

    @property
    def check_interval(self) -> float:
        return min(1.0, max(0.01, self.warn_after / 4))

    def check_slow(self) -> None:
        """Report callbacks running longer than ``warn_after`` (called by the monitor)."""
        with self._lock:
            if self._closed:
                return
            now = time.monotonic()
            slow = [
                r
                for r in self._running.values()
                if not r.reported and now - r.started >= self.warn_after
            ]
            for running in slow:
                running.reported = True
        for running in slow:
            elapsed = now - running.started
            log.warning(
                "change callback %s for %s has been running for %.1f s (callback_warn_after="
                "%s s); later events of this config wait for it, other configs do not",
                running.name,
                running.label,
                elapsed,
                self.warn_after,
            )
            self._on_slow(f"{running.name} for {running.label}: {elapsed:.1f} s")


class _Monitor:
    """One thread per process checking every open :class:`CallbackLanes` for slow callbacks.

    It starts with the first lanes that run a callback and ends when no lanes are left open.
    """

    def __init__(self) -> None:
        self._lanes: weakref.WeakSet[CallbackLanes] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, lanes: CallbackLanes) -> None:
        with self._lock:
            self._lanes.add(lanes)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="disconf-callback-monitor", daemon=True
                )
                self._thread.start()

    def discard(self, lanes: CallbackLanes) -> None:
        with self._lock:
            self._lanes.discard(lanes)

    def _run(self) -> None:
        sleeper = threading.Event()  # never set: only waits the interval
        while True:
            with self._lock:
                lanes = list(self._lanes)
                if not lanes:
                    self._thread = None
                    return
            for each in lanes:
                try:
                    each.check_slow()
                except Exception:  # noqa: BLE001 - the monitor must survive a bad hook
                    log.exception("checking for slow callbacks failed")
            del each
            sleeper.wait(min(lane.check_interval for lane in lanes))
            del lanes


_MONITOR = _Monitor()


def _merge(older: _Job, newest: _Job) -> _Job:
    """One event standing for two consecutive ones of the same config (else the newest job)."""
    first, last = older.event, newest.event
    if not (isinstance(first, ChangeEvent) and isinstance(last, ChangeEvent)):
        log.warning("dropped a report for %s: %d are waiting already", older.label, MAX_PENDING)
        return newest
    changed = frozenset(first.changed | last.changed)
    callbacks = tuple(dict.fromkeys([*older.callbacks, *newest.callbacks]))
    return _Job(replace(last, old=first.old, changed=changed), callbacks, newest.label)
