"""The hot path: the Disconf client endpoints answered by a small WSGI adapter in front of Flask.

Every Disconf client polls ``/api/zoo/hosts``, ``/api/zoo/prefix``, ``/api/config/item`` and
``/api/config/file`` at start, after every change notification and in every restart storm.
Through Flask each answer cost a request context, URL routing, the console's session hooks (which
also added ``Vary: Cookie`` to answers that never use a session) and response objects; a profile
showed the framework, not the query, dominating the time. :class:`ClientFastPath` wraps
``app.wsgi_app`` and answers every ``GET`` of the six client endpoints itself: it turns the
environ into the protocol's request model, asks the app's
:class:`disconf_web.protocol.ClientProtocol` (which owns lookup and answer building, see
:mod:`disconf_web.protocol.answers`) and writes its status, headers and body unchanged — the same
bytes the Flask blueprint :mod:`disconf_web.api.client` sends. It counts every answer in the
request metrics (:func:`disconf_web.metrics.record_request`) under the Flask endpoint names.

Everything else falls through to Flask unchanged: other paths (``/api/zoo/hosts/``) and methods
(``HEAD``, ``POST``).

Error Handling
--------------
Database errors, timeouts and outages are handled by the protocol (one retry on a fresh
connection, then the last-served value or a 503 naming the database). This module never talks to
ZooKeeper; it only calls the notifier's ``ensure_started()`` (a pid comparison) like Flask's
``before_request`` hook does after a fork.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from .metrics import record_request
from .protocol import ENDPOINTS, client_request, get_protocol
from .publisher import get_notifier

__all__ = ["ClientFastPath", "install_fast_path"]

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ClientFastPath:
    """WSGI middleware answering the client endpoints (see the module docstring)."""

    def __init__(self, app: Flask, wrapped: WSGIApp) -> None:
        self.app = app
        self.wrapped = wrapped
        self.autostart = bool(app.config.get("NOTIFIER_AUTOSTART"))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in ENDPOINTS or environ.get("REQUEST_METHOD") != "GET":
            return self.wrapped(environ, start_response)
        started = time.perf_counter()
        if self.autostart:
            get_notifier(self.app).ensure_started()
        answer = get_protocol(self.app).answer(client_request(environ))
        start_response(answer.status_line, list(answer.headers))
        record_request(
            answer.endpoint,
            "GET",
            answer.status,
            time.perf_counter() - started,
            path,
            answer.outcome,
        )
        return [answer.body]


def install_fast_path(app: Flask) -> ClientFastPath:
    """Put :class:`ClientFastPath` in front of ``app.wsgi_app`` (also used by the test client)."""
    fast = ClientFastPath(app, app.wsgi_app)
    app.wsgi_app = fast  # type: ignore[method-assign]
    return fast
