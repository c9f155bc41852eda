"""The hot path: the Disconf client endpoints served by a small WSGI dispatcher in front of Flask.

Every Disconf client polls ``/api/zoo/hosts``, ``/api/zoo/prefix``, ``/api/config/item`` and
``/api/config/file`` at start, after every change notification and in every restart storm.
Through Flask each answer cost a request context, URL routing, the console's session hooks (which
also added ``Vary: Cookie`` to answers that never use a session), response objects and a
SQLAlchemy Core execution; a profile showed the framework, not the query, dominating the time.
:class:`ClientFastPath` wraps ``app.wsgi_app`` and answers the successful ``GET``\\ s of these
endpoints itself, byte-identical to :mod:`disconf_web.api.client` (same bodies, same
``Content-Type``, ``Content-Length``, ``Content-Disposition``, ``ETag`` and ``X-Disconf-MD5``),
with one precompiled statement executed on a raw DBAPI cursor from
:attr:`disconf_web.extensions.Database.reader` (autocommit, no pre-ping, no rollback on return:
one round trip per answer on MySQL). It still counts every answer in the request metrics
(:func:`disconf_web.metrics.record_request`) under the same endpoint names.

Everything else falls through to Flask unchanged: other paths and methods (``HEAD``, ``POST``),
requests with a missing parameter, configs that are not found (Flask names the unknown app or
env), a query string that is not UTF-8, and the list endpoints.

Error Handling
--------------
* A database error on the query: the connection is invalidated and the query retried once on a
  fresh connection (a server-side disconnect, a recycled MySQL connection). If it fails again the
  request falls through to Flask, which behaves as before the fast path existed: it answers the
  last value this process served (:class:`disconf_web.api.client.LastServed`) while the database
  is down, or its 503 JSON error when it never served that config.
* A row whose file content does not match its stored MD5 falls through to Flask (which answers
  404, as the original).
* This module never talks to ZooKeeper; it only calls the notifier's ``ensure_started()`` (a pid
  comparison) like Flask's ``before_request`` hook does after a fork.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import sqlalchemy as sa
from flask import Flask

from disconf_core import ConfigType
from disconf_core.hashing import content_md5

from .api.client import _ONE, _last_served
from .extensions import get_db
from .metrics import record_request
from .state import get_notifier

__all__ = ["ClientFastPath", "install_fast_path"]

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_JSON = "application/json;charset=UTF-8"
_OK = "200 OK"
_REQUIRED = ("app", "env", "version", "key")
_PARAMS = ("app", "env", "version", "type", "name")
_Answer = tuple[str, str, list[tuple[str, str]], bytes]


def _envelope_ok(value: str) -> bytes:
    """``{"status":1,"message":"","value":...}`` exactly as ``api.client.envelope`` writes it."""
    encoded = json.dumps(value, ensure_ascii=False).encode("utf-8")
    return b'{"status":1,"message":"","value":' + encoded + b"}"


class _Statement:
    """``api.client._ONE`` compiled once for the reader's dialect, run on a DBAPI cursor."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        compiled = _ONE.compile(dialect=engine.dialect)
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        given = dict.fromkeys(_PARAMS)
        every = compiled.construct_params(given)
        self.names = list(compiled.positiontup or ()) if self.positional else list(every)
        self.fixed = {k: v for k, v in every.items() if k not in given}  # the LIVE status
        dbapi = engine.dialect.loaded_dbapi
        self.errors: tuple[type[BaseException], ...] = (dbapi.Error, sa.exc.DBAPIError)

    def params(self, values: dict[str, Any]) -> Any:
        merged = {**self.fixed, **values}
        if self.positional:
            return tuple(merged[name] for name in self.names)
        return merged

    def first(self, values: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row; one retry on a fresh connection after a database error."""
        params = self.params(values)
        for attempt in (1, 2):
            try:
                raw = self.engine.raw_connection()
            except sa.exc.DBAPIError:
                if attempt == 2:
                    raise
                continue
            try:
                cursor = raw.cursor()
                try:
                    cursor.execute(self.sql, params)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            except self.errors as exc:
                log.debug("hot-path query failed (try %d/2): %r", attempt, exc)
                raw.invalidate()
                if attempt == 2:
                    raise
                continue
            raw.close()
            return None if row is None else tuple(row)
        raise AssertionError("unreachable")  # pragma: no cover


class _Fallthrough(Exception):
    """Let Flask answer this request."""


class ClientFastPath:
    """WSGI middleware answering the hot client endpoints (see the module docstring)."""

    def __init__(self, app: Flask, wrapped: WSGIApp) -> None:
        self.app = app
        self.wrapped = wrapped
        self.hosts_body = _envelope_ok(str(app.config["ZK_HOSTS"]))
        self.prefix_body = _envelope_ok(str(app.config["ZK_PREFIX"]))
        self.autostart = bool(app.config.get("NOTIFIER_AUTOSTART"))
        self._statement: _Statement | None = None
        self.routes: dict[str, tuple[str, Callable[[dict[str, Any]], _Answer]]] = {
            "/api/zoo/hosts": ("client_api.zoo_hosts", self._hosts),
            "/api/zoo/prefix": ("client_api.zoo_prefix", self._prefix),
            "/api/config/item": ("client_api.config_item", self._item),
            "/api/config/file": ("client_api.config_file", self._file),
        }

    @property
    def statement(self) -> _Statement:
        if self._statement is None:
            self._statement = _Statement(get_db(self.app).reader)
        return self._statement

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = self.routes.get(environ.get("PATH_INFO", ""))
        if route is None or environ.get("REQUEST_METHOD") != "GET":
            return self.wrapped(environ, start_response)
        started = time.perf_counter()
        endpoint, handler = route
        try:
            if self.autostart:
                get_notifier(self.app).ensure_started()
            outcome, content_type, extra, body = handler(environ)
        except _Fallthrough:
            return self.wrapped(environ, start_response)
        start_response(
            _OK, [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra]
        )
        record_request(
            endpoint, "GET", 200, time.perf_counter() - started, environ["PATH_INFO"], outcome
        )
        return [body]

    # -- handlers: (metrics outcome, Content-Type, headers after Content-Length, body) -----------

    def _hosts(self, _environ: dict[str, Any]) -> _Answer:
        return "ok", _JSON, [], self.hosts_body

    def _prefix(self, _environ: dict[str, Any]) -> _Answer:
        return "ok", _JSON, [], self.prefix_body

    def _lookup(self, environ: dict[str, Any], kind: ConfigType) -> tuple[dict[str, str], str, str]:
        args = _args(environ)
        values: dict[str, Any] = {
            "app": args["app"],
            "env": args["env"],
            "version": args["version"],
            "type": int(kind),
            "name": args["key"],
        }
        try:
            row = self.statement.first(values)
        except self.statement.errors as exc:
            log.warning("hot path: database error, Flask answers this request: %r", exc)
            raise _Fallthrough from exc
        if row is None:
            raise _Fallthrough  # Flask names what is missing (and forgets the LastServed entry)
        value, md5 = str(row[0]), str(row[1])
        cache_key = (args["app"], args["env"], args["version"], int(kind), args["key"])
        _last_served.put(cache_key, (value, md5))
        return args, value, md5

    def _item(self, environ: dict[str, Any]) -> _Answer:
        _args_used, value, md5 = self._lookup(environ, ConfigType.ITEM)
        headers = [("ETag", f'"{md5}"'), ("X-Disconf-MD5", md5)]
        return "found", _JSON, headers, _envelope_ok(value)

    def _file(self, environ: dict[str, Any]) -> _Answer:
        args, value, md5 = self._lookup(environ, ConfigType.FILE)
        body = value.encode("utf-8")
        if content_md5(body) != md5:
            raise _Fallthrough  # Flask refuses to serve it (404)
        disposition = f"attachment; filename={quote_plus(args['key'], safe='*')}"
        headers = [
            ("Content-Disposition", disposition),
            ("ETag", f'"{md5}"'),
            ("X-Disconf-MD5", md5),
        ]
        return "found", "application/octet-stream", headers, body


def _args(environ: dict[str, Any]) -> dict[str, str]:
    """The first value of each query parameter, parsed as Werkzeug parses ``request.args``;
    falls through to Flask when a required one is missing or empty."""
    try:
        query = environ.get("QUERY_STRING", "").encode("latin-1").decode()
        pairs = parse_qsl(query, keep_blank_values=True, errors="werkzeug.url_quote")
    except (UnicodeError, LookupError) as exc:
        raise _Fallthrough from exc
    args: dict[str, str] = {}
    for name, value in pairs:
        args.setdefault(name, value)
    for name in _REQUIRED:
        if not args.get(name):
            raise _Fallthrough
    return args


def install_fast_path(app: Flask) -> ClientFastPath:
    """Put :class:`ClientFastPath` in front of ``app.wsgi_app`` (also used by the test client)."""
    fast = ClientFastPath(app, app.wsgi_app)
    app.wsgi_app = fast  # type: ignore[method-assign]
    return fast
