"""The threads that run the WSGI app for one serving-front worker (:mod:`disconf_web.front`).

The front's event loop hands a complete request to :meth:`AppPool.submit`; one of ``threads``
threads runs :func:`~disconf_web.buffered_connection.call_app` and hands the answer (or the
exception) back to the loop with ``call_soon_threadsafe``. This is what
``loop.run_in_executor`` on a ``ThreadPoolExecutor`` did, without its two futures per request
(a ``concurrent.futures.Future`` with its ``Condition``, an asyncio future chained to it): a
profile of a worker under the 10,000-instance restart storm spent a third of the event loop's
CPU creating and chaining them (bench/NOTES.md).

Error Handling
--------------
* The app raising: the exception is handed to ``done`` (the connection answers 500).
* After :meth:`shutdown` (the worker stopping), :meth:`submit` raises ``RuntimeError`` (the
  connection answers 503); queued requests not started yet are dropped, their connections are
  closed by the worker's graceful stop; each thread ends after its current request.
* The event loop closed before an answer is handed back: the answer is dropped (the worker is
  exiting and its connections are gone).
* No database or ZooKeeper state lives here.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

from .buffered_connection import Answer, WSGIApp, call_app

__all__ = ["AppPool", "Done"]

Done = Callable[[Answer | None, BaseException | None], None]
_Job = tuple[WSGIApp, dict[str, Any], Done] | None


class AppPool:
    """``threads`` threads running the app for ``loop`` (see the module docstring)."""

    def __init__(self, threads: int, loop: asyncio.AbstractEventLoop, name: str = "disconf-web"):
        self.loop = loop
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._closed = False
        self._threads = [
            # daemon: a worker that fails before its graceful stop must still be able to exit
            threading.Thread(target=self._run, name=f"{name}_{index}", daemon=True)
            for index in range(max(1, threads))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, app: WSGIApp, environ: dict[str, Any], done: Done) -> None:
        """Run ``app(environ)`` on a pool thread; ``done(answer, error)`` runs on the loop."""
        if self._closed:
            raise RuntimeError("the app pool is shut down")
        self._jobs.put((app, environ, done))

    def shutdown(self) -> None:
        """Refuse new requests, drop queued ones, let each thread end after its current one.
        Safe from a signal handler (``SimpleQueue.put`` is reentrant); idempotent."""
        if self._closed:
            return
        self._closed = True
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        for _ in self._threads:
            self._jobs.put(None)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None or self._closed:
                return
            app, environ, done = job
            answer: Answer | None = None
            error: BaseException | None = None
            try:
                answer = call_app(app, environ)
            except Exception as exc:  # noqa: BLE001 - handed to the loop, answered 500 there
                error = exc
            try:
                self.loop.call_soon_threadsafe(done, answer, error)
            except RuntimeError:
                return  # the loop is closed: the worker is exiting
