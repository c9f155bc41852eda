"""One client connection of the serving front (:mod:`disconf_web.front`): read a request whole,
run it in the worker's thread pool, write the answer; and the front's limits.

:class:`BufferedConnection` is an asyncio protocol. Its request is parsed by gunicorn's own
HTTP/1.1 parser (``gunicorn.asgi.parser``: request-line, header and chunked-body validation, the
request-smuggling checks) into memory; only a complete request (head and body) is handed to a
pool thread (:func:`call_app` runs the WSGI app to its end and returns the whole answer); the
event loop writes the answer, so a client that reads slowly holds no thread either. Every phase
has a deadline (:class:`FrontLimits`): the head within ``header_timeout`` of the connection
being accepted or of its first byte after an idle keep-alive wait; the body within
``body_timeout`` of the end of the head; the answer taken by the client within
``body_timeout``; an idle keep-alive connection closed after ``keepalive``. A body larger than
``max_body_bytes`` is answered 413 without being read. Deadlines are absolute: a client that
trickles bytes does not extend them.

Error Handling
--------------
* A malformed request is answered 400 (414 request line too long, 431 header too large, 501
  unknown transfer coding, 413 body too large) and its connection closed; the app never sees it.
* A deadline that passes: 408 and close if part of the request arrived, a plain close for a
  connection that never sent a byte or an answer the client does not take.
* After an answer that closes the connection, the rest of what the client sends is discarded
  for ``_LINGER`` seconds (so the kernel does not reset the connection before the client read
  the answer), then the socket is closed.
* The app raising (Flask turns errors into 500 answers itself; this is the last resort): a 500
  answer, the connection closed, the traceback in gunicorn's error log.
* No database or ZooKeeper state lives here: their loss and restarts are the app's business.
"""

from __future__ import annotations

import asyncio
import email.utils
import io
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes

from gunicorn.asgi import parser as http_parser  # type: ignore[import-untyped]

from disconf_core import DisconfError

from .protocol.answers import RECEIVED

__all__ = [
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_KEEPALIVE",
    "DEFAULT_MAX_BODY_BYTES",
    "Answer",
    "AppRunner",
    "BufferedConnection",
    "FrontLimits",
    "FrontWorker",
    "WSGIApp",
    "call_app",
]

DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds for a request's line and headers to arrive (from accept or from its first byte)."""
DEFAULT_BODY_TIMEOUT = 30.0
"""Seconds for a request body to arrive after its head, and for an answer to be taken."""
DEFAULT_KEEPALIVE = 5.0
"""Seconds an idle keep-alive connection waits for the first byte of its next request."""
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest request body read (413 above): 4 x the default ``DISCONF_MAX_CONFIG_BYTES`` (1 MiB);
grows with that setting (see ``_default_max_body``). Bounds the memory one request can hold."""

_LINGER = 2.0
_MAX_PIPELINED = 1024 * 1024

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be above 0")
    return value


@dataclass(frozen=True)
class FrontLimits:
    """The front's bounds (see the module docstring); each has a ``DISCONF_HTTP_*`` variable."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    keepalive: float = DEFAULT_KEEPALIVE
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_env(cls) -> FrontLimits:
        """``DISCONF_HTTP_HEADER_TIMEOUT``, ``DISCONF_HTTP_BODY_TIMEOUT``,
        ``DISCONF_HTTP_KEEPALIVE``, ``DISCONF_HTTP_MAX_BODY_BYTES`` over the defaults."""
        return cls(
            header_timeout=_env_float("DISCONF_HTTP_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT),
            body_timeout=_env_float("DISCONF_HTTP_BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT),
            keepalive=_env_float("DISCONF_HTTP_KEEPALIVE", DEFAULT_KEEPALIVE),
            max_body_bytes=int(
                _env_float("DISCONF_HTTP_MAX_BODY_BYTES", float(_default_max_body()))
            ),
        )


def _default_max_body() -> int:
    """``DEFAULT_MAX_BODY_BYTES``, or more when ``DISCONF_MAX_CONFIG_BYTES`` was raised: twice
    the config limit plus 64 KiB (a multipart upload's framing), so a config the app accepts is
    never refused by the front."""
    raw = os.environ.get("DISCONF_MAX_CONFIG_BYTES", "").strip()
    try:
        config_limit = int(raw) if raw else 0
    except ValueError:
        config_limit = 0  # the app reports the bad setting itself
    return max(DEFAULT_MAX_BODY_BYTES, 2 * config_limit + 64 * 1024)


# -- running the app in a pool thread ------------------------------------------------------


class Answer:
    """A WSGI answer, whole: status line, headers, body chunks."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: str, headers: list[tuple[str, str]], body: list[bytes]) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def call_app(app: WSGIApp, environ: dict[str, Any]) -> Answer:
    """Run the WSGI app to the end (in a pool thread); the whole answer, buffered."""
    started: list[tuple[str, list[tuple[str, str]]]] = []
    body: list[bytes] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if started and exc_info is None:
            raise AssertionError("start_response called twice without exc_info")
        # Nothing is sent before the app returns, so an error page may always replace it.
        started[:] = [(status, list(headers))]
        body.clear()
        return body.append

    result = app(environ, start_response)
    try:
        for chunk in result:
            if chunk:
                body.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not started:
        raise RuntimeError("the WSGI app returned without calling start_response")
    status, headers = started[0]
    return Answer(status, headers, body)


# -- one connection ------------------------------------------------------------------------

_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"}
_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


class _Refused(DisconfError):
    """Answer ``status`` and close (raised from a parser callback)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _status_of(exc: Exception) -> int:
    if isinstance(exc, http_parser.LimitRequestLine):
        return 414
    if isinstance(exc, http_parser.LimitRequestHeaders):
        return 431
    if isinstance(exc, http_parser.UnsupportedTransferCoding):
        return 501
    return 400


class AppRunner(Protocol):
    """What a connection needs of the pool that runs the app
    (:class:`~disconf_web.app_pool.AppPool`): take a request, call ``done`` on the loop with
    the answer or the app's exception; ``RuntimeError`` once it is shut down."""

    def submit(
        self,
        app: WSGIApp,
        environ: dict[str, Any],
        done: Callable[[Answer | None, BaseException | None], None],
    ) -> None: ...


class FrontWorker(Protocol):
    """What a connection needs of its worker (:class:`~disconf_web.front.BufferedWorker`),
    declared here so this module does not depend on the worker's."""

    @property
    def limits(self) -> FrontLimits: ...

    @property
    def cfg(self) -> Any: ...  # gunicorn's Config (untyped)

    @property
    def log(self) -> Any: ...  # gunicorn's Logger (untyped)

    @property
    def alive(self) -> bool: ...

    @property
    def connections(self) -> set[BufferedConnection]: ...

    @property
    def pool(self) -> AppRunner | None: ...

    @property
    def wsgi(self) -> WSGIApp: ...


class BufferedConnection(asyncio.Protocol):
    """One client connection: buffer a request, run it in the pool, write the answer."""

    # states: "head" (reading the request line + headers), "body", "busy" (the app runs),
    # "sending" (the answer is not yet taken by the client), "idle" (keep-alive), "draining"
    # (answered, FIN sent, discarding the rest for _LINGER s), "closed"

    def __init__(self, worker: FrontWorker) -> None:
        self.worker = worker
        self.limits = worker.limits
        cfg = worker.cfg
        self.parser = http_parser.PythonProtocol(
            on_headers_complete=self._on_headers,
            on_body=self._on_body,
            limit_request_line=cfg.limit_request_line,
            limit_request_fields=cfg.limit_request_fields,
            limit_request_field_size=cfg.limit_request_field_size,
        )
        self.transport: asyncio.Transport | None = None
        self.state = "head"
        self.received = False  # bytes of the current request arrived
        self.body: list[bytes] = []
        self.body_size = 0
        self.pending = bytearray()  # pipelined bytes that arrived while busy
        self.keep_alive = False
        self.write_paused = False
        self.timer: asyncio.TimerHandle | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.local: tuple[str, int] = ("", 0)

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        if isinstance(peer, tuple):
            self.peer = (str(peer[0]), int(peer[1]))
        if isinstance(local, tuple):
            self.local = (str(local[0]), int(local[1]))
        # pause_writing/resume_writing then say exactly "answer not yet taken" / "taken"
        transport.set_write_buffer_limits(high=0, low=0)
        self.worker.connections.add(self)
        self._arm(self.limits.header_timeout, self._timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = "closed"
        self._disarm()
        self.worker.connections.discard(self)

    def eof_received(self) -> bool:
        # A client may half-close once its request is sent: keep the socket open to answer.
        return self.state in ("busy", "sending")

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.state == "sending":
            self._sent()

    def data_received(self, data: bytes) -> None:
        if self.state in ("busy", "sending"):
            self.pending += data
            if len(self.pending) > _MAX_PIPELINED and self.transport is not None:
                self.transport.pause_reading()
            return
        if self.state in ("closed", "draining"):
            return
        if self.state == "idle":
            self.state = "head"
            self._arm(self.limits.header_timeout, self._timed_out)
        self.received = True
        try:
            self.parser.feed(data)
        except _Refused as refused:
            self._refuse(refused.status, str(refused))
            return
        except Exception as exc:  # noqa: BLE001 - gunicorn's ParseError family and friends
            self._refuse(_status_of(exc), str(exc) or type(exc).__name__)
            return
        if self.parser.is_complete:
            self._dispatch()

    # -- parser callbacks

    def _on_headers(self) -> bool:
        length = self.parser.content_length
        if length is not None and length > self.limits.max_body_bytes:
            raise _Refused(413, f"request body of {length} bytes is above the limit")
        expects_body = bool(length) or self.parser.is_chunked
        if expects_body:
            self.state = "body"
            self._arm(self.limits.body_timeout, self._timed_out)
            if self.parser.http_version >= (1, 1) and any(
                name == b"expect" and value.lower() == b"100-continue"
                for name, value in self.parser.headers
            ):
                assert self.transport is not None
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return False

    def _on_body(self, chunk: bytes) -> None:
        self.body_size += len(chunk)
        if self.body_size > self.limits.max_body_bytes:
            raise _Refused(413, "request body is above the limit")
        self.body.append(chunk)

    # -- timers

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self.timer = asyncio.get_running_loop().call_later(seconds, callback)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _timed_out(self) -> None:
        self.timer = None
        if self.state in ("head", "body") and self.received:
            self._refuse(408, f"request not complete in time ({self.state})")
        else:  # mute, idle keep-alive, or an answer the client does not take
            self._abort()

    # -- answering

    def _abort(self) -> None:
        self.state = "closed"
        self._disarm()
        if self.transport is not None:
            self.transport.abort()

    def _refuse(self, status: int, message: str) -> None:
        if self.state == "closed" or self.transport is None:
            return
        if status != 408:
            self.worker.log.debug("refused request from %s: %s %s", self.peer[0], status, message)
        body = f"{status} {_REASONS.get(status, 'Error')}\n".encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nConnection: close\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            f"Date: {_http_date()}\r\n\r\n"
        )
        self.keep_alive = False
        self.transport.pause_reading()
        self.transport.write(head.encode("latin-1") + body)
        self._written()

    def _dispatch(self) -> None:
        self._disarm()
        assert self.transport is not None
        self.state = "busy"
        self.transport.pause_reading()
        self.pending = bytearray(self.parser.remaining()) + self.pending
        self.keep_alive = bool(self.parser.should_keep_alive) and self.worker.alive
        environ = self._environ()
        pool = self.worker.pool
        try:
            if pool is None:
                raise RuntimeError("no app pool")
            pool.submit(self.worker.wsgi, environ, self._answered)
        except RuntimeError:  # the pool is shut down: the worker is stopping
            self._refuse(503, "the worker is stopping")

    def _environ(self) -> dict[str, Any]:
        parser = self.parser
        target: bytes = parser.path
        if b"://" in target[:16]:  # absolute-form: keep the path and query only
            slash = target.find(b"/", target.find(b"://") + 3)
            target = target[slash:] if slash != -1 else b"/"
        path, _, query = target.partition(b"?")
        path = path.partition(b"#")[0]
        major, minor = parser.http_version
        body = b"".join(self.body)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": parser.method.decode("latin-1"),
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "RAW_URI": target.decode("latin-1"),
            "REQUEST_URI": target.decode("latin-1"),
            "SERVER_NAME": self.local[0],
            "SERVER_PORT": str(self.local[1]),
            "SERVER_PROTOCOL": f"HTTP/{major}.{minor}",
            "SERVER_SOFTWARE": "disconf-web",
            "REMOTE_ADDR": self.peer[0],
            "REMOTE_PORT": str(self.peer[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            RECEIVED: time.monotonic(),  # read whole by now (the read cache's freshness gate)
        }
        if parser.content_length is not None or body:
            environ["CONTENT_LENGTH"] = str(len(body))
        for raw_name, raw_value in parser.headers:
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            if name == "content-type":
                environ["CONTENT_TYPE"] = value
                continue
            if name in ("content-length", "transfer-encoding") or "_" in name:
                continue  # framing is done; "_" names would alias "-" names
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in environ:
                separator = "; " if key == "HTTP_COOKIE" else ", "
                environ[key] = environ[key] + separator + value
            else:
                environ[key] = value
        if self._trusted_scheme(environ):
            environ["wsgi.url_scheme"] = "https"
        return environ

    def _trusted_scheme(self, environ: dict[str, Any]) -> bool:
        """gunicorn's rule: a scheme header counts only from a ``forwarded_allow_ips`` peer."""
        cfg = self.worker.cfg
        allowed = cfg.forwarded_allow_ips
        if "*" not in allowed and self.peer[0] not in allowed:
            return False
        for header, value in (cfg.secure_scheme_headers or {}).items():
            key = "HTTP_" + header.upper().replace("-", "_")
            if environ.get(key, "").lower() == str(value).lower():
                return True
        return False

    def _answered(self, answer: Answer | None, error: BaseException | None) -> None:
        """On the loop: the pool's answer (or the app's exception) for this connection."""
        if self.state == "closed" or self.transport is None or self.transport.is_closing():
            return
        if answer is None:  # the last resort behind Flask's own error handling
            self.worker.log.error(
                "the app failed on a request from %s", self.peer[0], exc_info=error
            )
            self._refuse(500, "the app failed")
            return
        self.transport.write(self._encode(answer))
        self._written()

    def _encode(self, answer: Answer) -> bytes:
        code = int(answer.status[:3])
        head_only = self.parser.method == b"HEAD"
        has_length = False
        lines = [f"HTTP/1.1 {answer.status}\r\n"]
        for name, value in answer.headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP:
                if lower == "connection" and "close" in value.lower():
                    self.keep_alive = False
                continue
            has_length = has_length or lower == "content-length"
            lines.append(f"{name}: {value}\r\n")
        body = b"".join(answer.body)
        no_body = code < 200 or code in (204, 304)
        if not has_length and not no_body:
            lines.append(f"Content-Length: {len(body)}\r\n")
        if not any(name.lower() == "date" for name, _ in answer.headers):
            lines.append(f"Date: {_http_date()}\r\n")
        if not self.keep_alive:
            lines.append("Connection: close\r\n")
        elif self.parser.http_version < (1, 1):
            lines.append("Connection: keep-alive\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        return head if head_only or no_body else head + body

    def _written(self) -> None:
        if self.write_paused:  # the client has not taken the whole answer yet
            self.state = "sending"
            self._arm(self.limits.body_timeout, self._timed_out)
        else:
            self._sent()

    def _sent(self) -> None:
        assert self.transport is not None
        if not self.keep_alive or not self.worker.alive:
            self._linger()
            return
        self.parser.reset()
        self.body = []
        self.body_size = 0
        self.received = False
        self.state = "idle"
        self._arm(self.limits.keepalive, self._timed_out)
        self.transport.resume_reading()
        if self.pending:
            pending, self.pending = bytes(self.pending), bytearray()
            self.data_received(pending)

    def _linger(self) -> None:
        """Close after an answer: send FIN, then discard what the client still sends for at
        most ``_LINGER`` s, so that a request it had not finished sending does not make the
        kernel reset the connection before the client read the answer."""
        assert self.transport is not None
        if not self.transport.can_write_eof():
            self._abort()
            return
        self.state = "draining"
        self.transport.write_eof()
        self.transport.resume_reading()
        self._arm(_LINGER, self._abort)

    def close_if_idle(self) -> None:
        """On a graceful stop: a connection between requests, or still sending its request
        line and headers (nothing was promised to it yet), is closed now."""
        if self.state in ("idle", "head"):
            self._abort()

    def abort(self) -> None:
        self._abort()
