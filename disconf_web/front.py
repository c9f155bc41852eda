"""The serving front of each server worker: :class:`BufferedWorker`, a gunicorn worker class.

A config server faces thousands of clients, and some are slow or mute. gunicorn's ``gthread``
worker reads a request inside one of its pool threads, so a few dozen clients that send half a
request and hold (or connect and never send a byte) occupy every thread and starve the rest.
:class:`BufferedWorker` keeps its thread pool for the application only: one asyncio event loop
per worker process accepts the connections and reads each request whole
(:class:`disconf_web.buffered_connection.BufferedConnection`, with the header, body and
keep-alive deadlines of :class:`FrontLimits`: the ``--header-timeout`` and ``--body-timeout``
options, ``DISCONF_HTTP_*`` variables); only complete requests reach the ``threads`` pool
threads that run the WSGI app, and the loop writes their answers.

``gunicorn -k disconf_web.front.BufferedWorker 'disconf_web.wsgi:app'`` uses it outside
``disconf-web serve`` (limits from :meth:`FrontLimits.from_env`).

Error Handling
--------------
* SIGTERM (graceful stop): the worker stops accepting, closes idle connections and those still
  sending their request head, lets the requests in progress finish (each answered with
  ``Connection: close``) for at most gunicorn's ``graceful_timeout``, then closes the rest.
  SIGINT/SIGQUIT: immediate exit (the pool is shut down without waiting).
* The master going away (parent pid changes): the worker stops as on SIGTERM.
* Each held connection is a file descriptor: the worker raises its soft limit to the hard one.
* Requests that are malformed, too large or too slow: see
  :mod:`disconf_web.buffered_connection`. Database and ZooKeeper loss are the app's business.
"""

from __future__ import annotations

import asyncio
import os
import resource
from typing import Any

from gunicorn.workers.base import Worker  # type: ignore[import-untyped]

from .app_pool import AppPool
from .buffered_connection import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEPALIVE,
    DEFAULT_MAX_BODY_BYTES,
    BufferedConnection,
    FrontLimits,
    WSGIApp,
)

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_KEEPALIVE",
    "DEFAULT_MAX_BODY_BYTES",
    "BufferedWorker",
    "FrontLimits",
    "WSGIApp",
]

_GRACE_POLL = 0.1
_HEARTBEAT = 1.0


class BufferedWorker(Worker):  # type: ignore[misc]
    """A gunicorn worker: an asyncio front that buffers complete requests, a thread pool that
    runs the app (``gunicorn -k disconf_web.serving.BufferedWorker``; limits from
    :meth:`FrontLimits.from_env` unless the application object carries ``front_limits``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.alive: bool = True
        limits = getattr(self.app, "front_limits", None)
        self.limits: FrontLimits = limits if limits is not None else FrontLimits.from_env()
        self.threads = max(1, int(self.cfg.threads))
        self.connections: set[BufferedConnection] = set()
        self.pool: AppPool | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.wsgi: WSGIApp

    def init_process(self) -> None:
        _raise_open_file_limit()
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.pool = AppPool(self.threads, self.loop)
        super().init_process()

    def handle_quit(self, sig: int, frame: Any) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        super().handle_quit(sig, frame)

    def run(self) -> None:
        assert self.loop is not None
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            if self.pool is not None:
                self.pool.shutdown()
            self.loop.close()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        servers = [
            await loop.create_server(
                lambda: BufferedConnection(self), sock=listener.sock, backlog=self.cfg.backlog
            )
            for listener in self.sockets
        ]
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                break
            await asyncio.sleep(_HEARTBEAT)
        self.alive = False
        for server in servers:
            server.close()
        for connection in list(self.connections):
            connection.close_if_idle()
        deadline = loop.time() + float(self.cfg.graceful_timeout)
        while self.connections and loop.time() < deadline:
            self.notify()
            await asyncio.sleep(_GRACE_POLL)
        for connection in list(self.connections):
            connection.abort()
        await asyncio.sleep(0)  # let the transports run their close callbacks


def _raise_open_file_limit() -> None:
    """Each held connection is a descriptor: take the hard limit, not the soft 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 65536 if hard == resource.RLIM_INFINITY else hard
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
