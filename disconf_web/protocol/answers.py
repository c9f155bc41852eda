"""The Disconf client endpoints, answered once: lookup and answer building (status, headers, body).

One request model (:class:`ClientRequest`, built from a WSGI environ by
:func:`client_request`) and one answer model (:class:`Answer`) for the six client endpoints of
the spec (section 1). Two thin adapters serve them: the Flask blueprint
(:mod:`disconf_web.api.client`) and the raw WSGI fast path (:mod:`disconf_web.fastpath`); both
send exactly the status, headers and body :meth:`ClientProtocol.answer` returns, so the wire
bytes cannot drift apart (a test compares them).

Byte compatibility with the original server: the value envelope ``{"status":..,"message":..,
"value":..}`` is HTTP 200 even for errors; ``/api/config/file`` answers 404 with an empty body
on any error; the list endpoints answer the console envelope with ``success`` as a string.
Extras, ignored by old clients: ``ETag`` and ``X-Disconf-MD5`` on found items and files, and
``If-None-Match`` answered with ``304 Not Modified`` (no body) when the ETag still matches.

Gray releases (:mod:`disconf_web.gray`): the hot query also reads the config's running gray
release (an outer join on its unique ``active_config_id``: no extra query when there is none);
a request the release targets (instance id ``X-Disconf-Instance``, labels ``X-Disconf-Labels``,
the client address after the trusted proxies) gets the gray content, with its own ETag and its
own last-served key; every other request the main revision. During a database outage the
release last seen keeps choosing (a process restarted during the outage serves main).

The opt-in read credential (:mod:`disconf_web.protocol.credentials`): an app that has one
requires ``X-Disconf-Read-Token`` on the item, file and list endpoints (403 otherwise; the
ZooKeeper hosts and prefix stay open, they hold no config value).

Error Handling
--------------
* Database errors (refused, reset, a connect/read/write timeout of a database that hangs, a pool
  checkout timeout): the hot query is retried once on a fresh connection; if that fails too, an
  item or file this app served before is answered from :class:`LastServed` (the same bytes,
  headers and credential check as before the outage); one it never served, and the list
  endpoints, answer ``503`` with a JSON error naming the database. Every wait is bounded by the
  database timeouts of :mod:`disconf_web.extensions`.
* A stored file whose content does not match its MD5 is never served (404, as the original).
* This module never talks to ZooKeeper.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import sqlalchemy as sa
import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" codec error handler
from werkzeug.http import HTTP_STATUS_CODES

from disconf_core import ConfigType
from disconf_core.hashing import content_md5

from ..extensions import Database
from ..gray import targeting as gray_targeting
from . import shared_gate
from .credentials import HEADER, credential_matches
from .last_served import LastServed, Served, ServedKey
from .queries import APP, ENV, LIST, ONE, ONE_TAGGED
from .read_cache import DEFAULT_MAX_BYTES, FreshnessGate, GenerationReader, ReadCache

__all__ = ["ENDPOINTS", "RECEIVED", "Answer", "ClientProtocol", "ClientRequest", "client_request"]

log = logging.getLogger(__name__)

JSON = "application/json;charset=UTF-8"
ERROR_JSON = "application/json"
OCTETS = "application/octet-stream"

#: path -> Flask endpoint name (the metrics label of both adapters).
ENDPOINTS: dict[str, str] = {
    "/api/zoo/hosts": "client_api.zoo_hosts",
    "/api/zoo/prefix": "client_api.zoo_prefix",
    "/api/config/item": "client_api.config_item",
    "/api/config/file": "client_api.config_file",
    "/api/config/list": "client_api.config_list",
    "/api/config/simple/list": "client_api.config_simple_list",
}
_LOOKUP_ENDPOINTS = frozenset({ENDPOINTS["/api/config/item"], ENDPOINTS["/api/config/file"]})
_PARAMS = ("app", "env", "version", "type", "name")
#: The environ key under which the serving front (:mod:`disconf_web.buffered_connection`) puts
#: ``time.monotonic()`` taken when it had read the request whole: after the client sent it, so
#: after any notification the client acted on (the read cache's freshness gate needs no more).
RECEIVED = "disconf.received"


@dataclass(frozen=True)
class ClientRequest:
    """What the protocol reads from a request: the path, the first value of each query
    parameter, ``If-None-Match``, the read credential header, and what a gray release targets
    by (our client's instance id and labels, the peer address, ``X-Forwarded-For``)."""

    path: str
    args: Mapping[str, str] = field(default_factory=dict)
    if_none_match: str | None = None
    read_token: str | None = None
    instance: str | None = None
    labels: str | None = None
    remote_addr: str | None = None
    forwarded_for: str | None = None
    #: ``time.monotonic()`` when the serving front had read the request whole (``RECEIVED``),
    #: else None (then the time the read cache is asked stands for it).
    received: float | None = None


def client_request(environ: Mapping[str, Any]) -> ClientRequest:
    """The request model of a WSGI environ, parsed as Werkzeug parses ``request.args`` (invalid
    UTF-8 stays percent-encoded), but never failing on a query string that is not UTF-8."""
    query = str(environ.get("QUERY_STRING", ""))
    args: dict[str, str] = {}
    if query.isascii() and "%" not in query and "+" not in query:
        # What parse_qsl returns for such a string (nothing to decode or unquote), without its
        # per-field cost: every client read sends one (app, env, version, key, type).
        for part in query.split("&"):
            if part:
                name, _, value = part.partition("=")
                args.setdefault(name, value)
    else:
        raw = query.encode("latin-1", "replace")
        decoded = raw.decode("utf-8", "werkzeug.url_quote")
        for name, value in parse_qsl(decoded, keep_blank_values=True, errors="werkzeug.url_quote"):
            args.setdefault(name, value)
    return ClientRequest(
        path=str(environ.get("PATH_INFO", "")),
        args=args,
        if_none_match=environ.get("HTTP_IF_NONE_MATCH"),
        read_token=environ.get("HTTP_" + HEADER.upper().replace("-", "_")),
        instance=environ.get("HTTP_X_DISCONF_INSTANCE"),
        labels=environ.get("HTTP_X_DISCONF_LABELS"),
        remote_addr=environ.get("REMOTE_ADDR"),
        forwarded_for=environ.get("HTTP_X_FORWARDED_FOR"),
        received=_received(environ.get(RECEIVED)),
    )


def _received(value: Any) -> float | None:
    return value if isinstance(value, float) else None


@dataclass(frozen=True)
class Answer:
    """A complete answer: status, every header in order (``Content-Type`` and ``Content-Length``
    included, none on a 304), the body, and the metrics labels."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    endpoint: str
    outcome: str  # "found" / "not_found" (item, file), "ok", "error" (5xx)

    @property
    def status_line(self) -> str:
        """``200 OK``, exactly as Werkzeug writes it."""
        return f"{self.status} {HTTP_STATUS_CODES.get(self.status, 'UNKNOWN').upper()}"


def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def envelope_bytes(status: int, message: str, value: str) -> bytes:
    """The original's value envelope, fields in the order status, message, value."""
    return _dumps({"status": status, "message": message, "value": value})


class DatabaseUnavailable(Exception):
    """The database did not answer within its bounds (carries a short reason)."""


def _matches(if_none_match: str | None, md5: str) -> bool:
    """Whether an ``If-None-Match`` header names the representation with this MD5."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == f'"{md5}"':
            return True
    return False


class _HotStatement:
    """A hot query (``ONE`` or ``ONE_TAGGED``) compiled once for the reader's dialect, run on a
    raw DBAPI cursor (one round trip on MySQL), with one retry on a fresh connection after a
    database error that came within ``retry_within`` seconds (a dropped pooled connection); an
    error that took longer (a timeout: the database hangs) is not retried, so a hung database
    costs one bound, not two."""

    def __init__(self, engine: sa.Engine, retry_within: float, query: sa.Select[Any] = ONE) -> None:
        self.engine = engine
        self.retry_within = retry_within
        compiled = query.compile(dialect=engine.dialect)
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        given = dict.fromkeys(_PARAMS)
        every = compiled.construct_params(given)
        self.names = list(compiled.positiontup or ()) if self.positional else list(every)
        self.fixed = {k: v for k, v in every.items() if k not in given}  # the LIVE status
        dbapi = engine.dialect.loaded_dbapi
        self.errors: tuple[type[BaseException], ...] = (
            dbapi.Error,
            sa.exc.DBAPIError,
            sa.exc.TimeoutError,
        )

    def first(self, values: dict[str, Any]) -> tuple[Any, ...] | None:
        merged = {**self.fixed, **values}
        params: Any = tuple(merged[n] for n in self.names) if self.positional else merged
        for attempt in (1, 2):
            started = time.monotonic()
            raw = None
            try:
                raw = self.engine.raw_connection()
                cursor = raw.cursor()
                try:
                    cursor.execute(self.sql, params)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            except self.errors as exc:
                log.debug("client read failed (try %d/2): %r", attempt, exc)
                if raw is not None:
                    raw.invalidate()
                if attempt == 2 or time.monotonic() - started >= self.retry_within:
                    raise
                continue
            raw.close()
            return None if row is None else tuple(row)
        raise AssertionError("unreachable")  # pragma: no cover


class ClientProtocol:
    """The client endpoints of one app (kept in ``app.extensions``; see the module docstring)."""

    def __init__(
        self,
        database: Database,
        *,
        zk_hosts: str,
        zk_prefix: str,
        last_served: LastServed,
        trusted_proxies: gray_targeting.TrustedProxies | None = None,
        read_cache_max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.database = database
        self.last_served = last_served
        self.trusted_proxies = trusted_proxies or gray_targeting.TrustedProxies()
        # The running gray release last seen per config (for reads during an outage).
        self._gray: dict[ServedKey, gray_targeting.GrayRule] = {}
        self._hosts = envelope_bytes(1, "", zk_hosts)
        self._prefix = envelope_bytes(1, "", zk_prefix)
        self._statement: _HotStatement | None = None
        self._tagged: _HotStatement | None = None
        self.read_cache: ReadCache | None = None
        if read_cache_max_bytes > 0:
            timeouts = database.timeouts
            gate = FreshnessGate(
                self._read_generation,
                wait_bound=timeouts.pool + timeouts.connect + 2 * timeouts.read,
                errors=(Exception,),
                shared=shared_gate.inherited(),
            )
            self.read_cache = ReadCache(gate, read_cache_max_bytes)
        self._generation_reader: GenerationReader | None = None

    @property
    def statement(self) -> _HotStatement:
        if self._statement is None:
            self._statement = _HotStatement(
                self.database.reader, retry_within=self.database.timeouts.connect
            )
        return self._statement

    @property
    def tagged_statement(self) -> _HotStatement:
        if self._tagged is None:
            self._tagged = _HotStatement(
                self.database.reader, self.database.timeouts.connect, ONE_TAGGED
            )
        return self._tagged

    def _read_generation(self) -> int:
        if self._generation_reader is None:
            self._generation_reader = GenerationReader(
                self.database.reader, retry_within=self.database.timeouts.connect
            )
        return self._generation_reader()

    def close(self) -> None:
        """Return the gate's connection (the app is shutting down)."""
        reader, self._generation_reader = self._generation_reader, None
        if reader is not None:
            reader.close()

    def _row(
        self, key: ServedKey, values: dict[str, Any], arrived: float | None = None
    ) -> tuple[Any, ...] | None:
        """The hot query's row for ``key``: a kept one the gate proves current, else the
        query's (database errors are raised as the statement raises them)."""
        cache = self.read_cache
        if cache is None or not cache.tagging():
            return self.statement.first(values)
        row = cache.fresh(key, arrived)
        if row is not None:
            return row
        tagged = self.tagged_statement.first(values)
        if tagged is None:
            cache.discard(key)
            return None
        row = tagged[:-1]
        cache.put(key, tagged[-1], row)
        return row

    def answer(self, request: ClientRequest) -> Answer:
        """The answer to a ``GET`` of one of :data:`ENDPOINTS` (KeyError for other paths)."""
        endpoint = ENDPOINTS[request.path]
        if request.path == "/api/zoo/hosts":
            return self._json(endpoint, 200, self._hosts)
        if request.path == "/api/zoo/prefix":
            return self._json(endpoint, 200, self._prefix)
        if request.path == "/api/config/item":
            return self._lookup(request, endpoint, ConfigType.ITEM)
        if request.path == "/api/config/file":
            return self._lookup(request, endpoint, ConfigType.FILE)
        return self._list(request, endpoint, with_values=request.path == "/api/config/list")

    # -- answer building ---------------------------------------------------------------------

    @staticmethod
    def _make(
        endpoint: str, status: int, content_type: str | None, body: bytes, *extra: tuple[str, str]
    ) -> Answer:
        headers: list[tuple[str, str]] = []
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        if status != 304:  # a 304 carries no entity headers
            headers.append(("Content-Length", str(len(body))))
        headers += extra
        if status >= 500:
            outcome = "error"
        elif endpoint in _LOOKUP_ENDPOINTS:
            outcome = "found" if any(name == "ETag" for name, _ in extra) else "not_found"
        else:
            outcome = "ok"
        return Answer(status, tuple(headers), body, endpoint, outcome)

    def _json(self, endpoint: str, status: int, body: bytes) -> Answer:
        return self._make(endpoint, status, JSON, body)

    def _unavailable(self, endpoint: str, reason: str) -> Answer:
        if endpoint in _LOOKUP_ENDPOINTS:
            message = f"database unavailable and this config was not served before: {reason}"
        else:
            message = f"database unavailable: {reason}"
        body = json.dumps({"error": message}, ensure_ascii=False).encode("utf-8")
        return self._make(endpoint, 503, ERROR_JSON, body)

    def _forbidden(self, endpoint: str, kind: ConfigType | None, app: str, sent: bool) -> Answer:
        if sent:
            message = f"the read credential sent for app {app} is not valid ({HEADER})"
        else:
            message = f"app {app} requires a read credential: send header {HEADER}"
        if kind is ConfigType.ITEM:
            return self._json(endpoint, 403, envelope_bytes(0, message, ""))
        if kind is ConfigType.FILE:
            return self._make(endpoint, 403, ERROR_JSON, _dumps({"error": message}))
        return self._json(endpoint, 403, _list_error(message))

    def _found(
        self, request: ClientRequest, endpoint: str, kind: ConfigType, served: Served
    ) -> Answer:
        args = request.args
        if not credential_matches(served.credential, request.read_token):
            return self._forbidden(endpoint, kind, args["app"], bool(request.read_token))
        tags = (("ETag", f'"{served.md5}"'), ("X-Disconf-MD5", served.md5))
        if kind is ConfigType.ITEM:
            if _matches(request.if_none_match, served.md5):
                return self._make(endpoint, 304, None, b"", *tags)
            return self._make(endpoint, 200, JSON, envelope_bytes(1, "", served.value), *tags)
        body = served.value.encode("utf-8")
        if content_md5(body) != served.md5:  # never serve a row whose content lost its hash
            return self._make(endpoint, 404, None, b"")
        if _matches(request.if_none_match, served.md5):
            return self._make(endpoint, 304, None, b"", *tags)
        disposition = f"attachment; filename={quote_plus(args['key'], safe='*')}"
        return self._make(endpoint, 200, OCTETS, body, ("Content-Disposition", disposition), *tags)

    # -- the lookups -------------------------------------------------------------------------

    def _lookup(self, request: ClientRequest, endpoint: str, kind: ConfigType) -> Answer:
        args = request.args
        for name in ("app", "env", "version", "key"):
            if not args.get(name):
                if kind is ConfigType.ITEM:
                    return self._json(endpoint, 200, envelope_bytes(0, f"{name} is empty", ""))
                return self._make(endpoint, 404, None, b"")
        key: ServedKey = (args["app"], args["env"], args["version"], int(kind), args["key"])
        values = dict(zip(_PARAMS, key, strict=True))
        statement = self.statement
        try:
            row = self._row(key, values, request.received)
        except statement.errors as exc:
            log.warning("client read of %r: database unavailable: %r", key, exc)
            rule = self._gray.get(key)
            if rule is not None and rule.selects(self._requester(request)):
                key = gray_targeting.variant_key(key, rule.release_id)
            served = self.last_served.get(key)
            if served is None:
                return self._unavailable(endpoint, _reason(exc))
            return self._found(request, endpoint, kind, served)
        if row is None:
            self.last_served.discard(key)
            return self._miss(request, endpoint, kind)
        credential = None if row[2] is None else str(row[2])
        if row[3] is not None:  # a running gray release: does it target this request?
            rule = self._gray_rule(key, int(row[3]), str(row[6]))
            if rule.selects(self._requester(request)):
                served = Served(str(row[4]), str(row[5]), credential)
                self.last_served.put(gray_targeting.variant_key(key, rule.release_id), served)
                return self._found(request, endpoint, kind, served)
        elif self._gray:
            self._gray.pop(key, None)  # its release ended
        served = Served(str(row[0]), str(row[1]), credential)
        self.last_served.put(key, served)
        return self._found(request, endpoint, kind, served)

    def _gray_rule(self, key: ServedKey, release_id: int, target: str) -> gray_targeting.GrayRule:
        """The parsed target of a running release (parsed once per release and config)."""
        rule = self._gray.get(key)
        if rule is None or rule.release_id != release_id:
            rule = self._gray[key] = gray_targeting.GrayRule.from_json(release_id, target)
        return rule

    def _requester(self, request: ClientRequest) -> gray_targeting.Requester:
        return gray_targeting.Requester(
            instance=request.instance or None,
            labels=gray_targeting.parse_labels(request.labels),
            address=gray_targeting.client_address(
                request.remote_addr, request.forwarded_for, self.trusted_proxies
            ),
        )

    def _app_and_env(self, app: str, env: str | None) -> tuple[bool, str | None, bool]:
        """(app exists, its credential hash, env exists) in one connection."""
        with self.database.reader.connect() as connection:
            found = connection.execute(APP, {"app": app}).first()
            if found is None:
                return False, None, False
            credential = None if found[1] is None else str(found[1])
            if env is None:
                return True, credential, True
            return True, credential, connection.execute(ENV, {"env": env}).first() is not None

    def _miss(self, request: ClientRequest, endpoint: str, kind: ConfigType) -> Answer:
        """Only on a miss: name the unknown app or env, else the config is missing."""
        args = request.args
        try:
            app_known, credential, env_known = self._app_and_env(args["app"], args["env"])
        except self.statement.errors as exc:
            return self._unavailable(endpoint, _reason(exc))
        if not credential_matches(credential, request.read_token):
            return self._forbidden(endpoint, kind, args["app"], bool(request.read_token))
        if kind is ConfigType.FILE:
            return self._make(endpoint, 404, None, b"")
        if not app_known:
            message = f"app {args['app']} doesn't exist"
        elif not env_known:
            message = f"env {args['env']} doesn't exist"
        else:
            message = "cannot find this config"
        return self._json(endpoint, 200, envelope_bytes(0, message, ""))

    def _list(self, request: ClientRequest, endpoint: str, *, with_values: bool) -> Answer:
        args = request.args
        for name in ("app", "env", "version"):
            if not args.get(name):
                return self._json(endpoint, 200, _list_error(f"{name} is empty"))
        params = {"app": args["app"], "env": args["env"], "version": args["version"]}
        try:
            app_known, credential, env_known = self._app_and_env(args["app"], args["env"])
            if not credential_matches(credential, request.read_token):
                return self._forbidden(endpoint, None, args["app"], bool(request.read_token))
            if not app_known:
                return self._json(endpoint, 200, _list_error(f"app {args['app']} doesn't exist"))
            if not env_known:
                return self._json(endpoint, 200, _list_error(f"env {args['env']} doesn't exist"))
            with self.database.reader.connect() as connection:
                rows = connection.execute(LIST, params).all()
        except self.statement.errors as exc:
            return self._unavailable(endpoint, _reason(exc))
        result = [
            {
                "id": row.id,
                "type": row.type,
                "status": row.status,
                "name": row.name,
                "value": row.value if with_values else None,
                "appId": row.app_id,
                "version": row.version,
                "envId": row.env_id,
                "createTime": _time(row.created_at),
                "updateTime": _time(row.updated_at),
            }
            for row in rows
        ]
        body = {
            "success": "true",
            "message": {},
            "sessionId": "",
            "page": {
                "result": result,
                "totalCount": len(result),
                "pageNo": 1,
                "pageSize": len(result),
            },
        }
        return self._json(endpoint, 200, _dumps(body))


def _list_error(message: str) -> bytes:
    return _dumps(
        {"success": "false", "message": {"global": message}, "sessionId": "", "status": 1}
    )


def _time(value: datetime) -> str:
    return value.strftime("%Y%m%d%H%M%S")


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return f"{type(original).__name__}: {str(original)[:200]}"
