"""How the client talks HTTP: one small transport protocol, used by production and by tests.

The fetcher builds a :class:`Request` (method, URL, headers and the bounds of this transfer)
and hands it to a :class:`Transport`, which answers a :class:`Response` (status, headers, the
whole body) or raises a :class:`~disconf_client.errors.FetchError`:

* :class:`HTTPTransport` (the default) sends it through a urllib3 ``PoolManager`` with
  keep-alive connections (a fetch costs about half the CPU of one through ``requests``), or
  through a urllib3 ``ProxyManager`` when the environment configures a proxy for the URL's
  scheme (``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``, honouring ``NO_PROXY``; read once per
  server origin, when the transport first talks to it; credentials in the proxy URL are sent as
  ``Proxy-Authorization``). TLS is verified with the system's certificates.
* :class:`MockTransport` calls a function ``Request -> Response`` (tests: no sockets), and
  applies the same size rule, so unit tests exercise the fetcher exactly as production does.

Bounds, each named by a client setting (``docs/client.md``):

* ``http_timeout``: connecting, and each single read of the socket;
* ``transfer_timeout``: the whole transfer, headers and body together (a server trickling
  bytes, or streaming an endless body, is cut off there): :class:`TransferTimeoutError`. The
  body is read in steps whose socket timeout shrinks to what is left; the status line and
  headers are cut by one watchdog thread per process (it shuts the socket down at the deadline);
* ``max_config_bytes``: the body. A ``Content-Length`` above it is refused before reading; a
  body without one (chunked) is read only up to it: :class:`ResponseTooLargeError`. A refused
  answer's connection is closed, never returned to the pool.

A server that cannot be reached or does not answer (connection refused, connect or read timeout
before the status line) raises :class:`ServerUnreachableError`, with ``refused`` telling a
refused connection from a silent peer; the fetcher uses that to stop asking a dead server during
a start (see :mod:`disconf_client.fetcher`).

urllib3 replaces a pooled connection the server closed while it was idle; one the server closes
just as it is reused is re-sent once at once (a GET is idempotent), not reported as a failure.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .errors import (
    FetchError,
    ResponseTooLargeError,
    ServerUnreachableError,
    TransferTimeoutError,
)

__all__ = [
    "HTTPTransport",
    "MockTransport",
    "Request",
    "Response",
    "Transport",
]

_CHUNK = 64 * 1024
_WATCHDOG_IDLE = 60.0  # the watchdog thread ends after this long with nothing to watch


@dataclass(frozen=True)
class Request:
    """One GET (or other method) with the bounds of its transfer."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    max_bytes: int = 1024 * 1024
    timeout: float = 5.0
    """Connect, and each single read (``http_timeout``)."""
    transfer_timeout: float = 30.0
    """The whole transfer (``transfer_timeout``)."""

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def params(self) -> dict[str, str]:
        """The query string as a dict (the last value of a repeated name wins)."""
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))


class _CaseInsensitive(dict[str, str]):
    """Header names compared case-insensitively (``get("etag")`` finds ``ETag``)."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        super().__init__()
        for key, value in (items or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class Response:
    """An answer: status, headers (case-insensitive ``get``) and the whole body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _CaseInsensitive(self.headers))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Transport(Protocol):
    """What the fetcher needs: answer a request (or raise ``FetchError``), and close."""

    def handle(self, request: Request) -> Response: ...

    def close(self) -> None: ...


def _too_large(request: Request, size: int, declared: bool) -> ResponseTooLargeError:
    what = "announces" if declared else "sent more than"
    amount = f"{size} bytes" if declared else f"{request.max_bytes} bytes"
    return ResponseTooLargeError(
        f"the answer to {request.path} {what} {amount}, above max_config_bytes="
        f"{request.max_bytes}; refused"
    )


class MockTransport:
    """A transport that calls ``handler(request)``: tests mount a fake server with it.

    The handler returns a :class:`Response` or raises (e.g. ``ServerUnreachableError`` to play
    a server that is down). The ``max_bytes`` rule applies as in :class:`HTTPTransport`.
    """

    def __init__(self, handler: Callable[[Request], Response]) -> None:
        self.handler = handler
        self.closed = False

    def handle(self, request: Request) -> Response:
        if self.closed:
            raise FetchError("the client is closing")
        response = self.handler(request)
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > request.max_bytes:
            raise _too_large(request, int(declared), declared=True)
        if len(response.body) > request.max_bytes:
            raise _too_large(request, len(response.body), declared=False)
        return response

    def close(self) -> None:
        self.closed = True


def _proxy_for(url: str) -> str | None:
    """The proxy the environment configures for ``url`` (None: connect directly)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _unreachable(request: Request, exc: BaseException) -> ServerUnreachableError:
    reason: BaseException | None = exc
    refused = False
    while reason is not None:
        if isinstance(reason, ConnectionRefusedError):
            refused = True
            break
        reason = reason.__cause__ or reason.__context__
    error = ServerUnreachableError(f"{urlsplit(request.url).netloc}: {exc}", refused=refused)
    return error


class _Watchdog:
    """One thread per process cutting connections whose transfer deadline passed.

    ``arm(deadline, action)`` returns a handle; ``cancel(handle)`` disarms it (cheap: no thread
    per request). Used for the header phase of an answer, where a server sending its status line
    and headers a byte at a time would otherwise be bounded only per read.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[list[Any]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, action: Callable[[], None]) -> list[Any]:
        entry: list[Any] = [deadline, next(self._order), action]
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="disconf-transfer-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0] is entry:
                self._cond.notify()
        return entry

    def cancel(self, entry: list[Any]) -> None:
        entry[2] = None  # dropped lazily by the thread

    def _run(self) -> None:
        idle_since = time.monotonic()
        while True:
            due: list[Callable[[], None]] = []
            with self._cond:
                while self._heap and self._heap[0][2] is None:
                    heapq.heappop(self._heap)
                now = time.monotonic()
                if not self._heap:
                    if now - idle_since >= _WATCHDOG_IDLE:
                        self._thread = None
                        return
                    self._cond.wait(_WATCHDOG_IDLE)
                    continue
                idle_since = now
                while self._heap and self._heap[0][0] <= now:
                    action = heapq.heappop(self._heap)[2]
                    if action is not None:
                        due.append(action)
                if not due:
                    self._cond.wait(self._heap[0][0] - now)
                    continue
            for action in due:
                try:
                    action()
                except OSError:
                    pass  # the connection is already gone


_WATCHDOG = _Watchdog()
_REQUEST = threading.local()  # the transfer deadline of the request this thread is making


def _cut(connection: HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        sock.shutdown(socket.SHUT_RDWR)


class _BoundedHeadersMixin:
    """``getresponse`` (the status line and headers) is cut at the transfer deadline."""

    def getresponse(self) -> Any:
        deadline: float | None = getattr(_REQUEST, "deadline", None)
        if deadline is None:
            return super().getresponse()  # type: ignore[misc]
        entry = _WATCHDOG.arm(deadline, lambda: _cut(self))  # type: ignore[arg-type]
        try:
            return super().getresponse()  # type: ignore[misc]
        finally:
            _WATCHDOG.cancel(entry)


class _BoundedHTTPConnection(_BoundedHeadersMixin, HTTPConnection):
    pass


class _BoundedHTTPSConnection(_BoundedHeadersMixin, HTTPSConnection):
    pass


class _BoundedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _BoundedHTTPConnection


class _BoundedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _BoundedHTTPSConnection


_POOL_CLASSES = {"http": _BoundedHTTPConnectionPool, "https": _BoundedHTTPSConnectionPool}


M = TypeVar("M", bound=urllib3.PoolManager)


def _bounded(manager: M) -> M:
    manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
    return manager


class HTTPTransport:
    """urllib3 connection pools: direct, or through a ``ProxyManager`` (see the module doc)."""

    def __init__(self, *, pool_maxsize: int = 4) -> None:
        # No retries inside urllib3: every failure is one of the fetcher's counted tries.
        self._direct = _bounded(
            urllib3.PoolManager(num_pools=16, maxsize=pool_maxsize, retries=False)
        )
        self._proxies: dict[str, urllib3.ProxyManager] = {}
        self._origins: dict[tuple[str, str], str | None] = {}  # (scheme, host:port) -> proxy
        self._maxsize = pool_maxsize
        self._lock = threading.Lock()
        self._closed = False

    def _proxy(self, url: str) -> str | None:
        """The proxy for ``url``'s origin, looked up in the environment once per origin."""
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        try:
            return self._origins[origin]
        except KeyError:
            proxy = self._origins[origin] = _proxy_for(url)
            return proxy

    def _manager(self, url: str) -> urllib3.PoolManager:
        proxy = self._proxy(url)
        if proxy is None:
            return self._direct
        with self._lock:
            manager = self._proxies.get(proxy)
            if manager is None:
                parsed = urllib3.util.parse_url(proxy)
                headers = None
                if parsed.auth:  # http://user:password@proxy:3128, as requests accepts it
                    headers = urllib3.make_headers(proxy_basic_auth=unquote(parsed.auth))
                    proxy_url = parsed._replace(auth=None).url
                else:
                    proxy_url = proxy
                manager = _bounded(
                    urllib3.ProxyManager(
                        proxy_url,
                        proxy_headers=headers,
                        num_pools=4,
                        maxsize=self._maxsize,
                        retries=False,
                    )
                )
                self._proxies[proxy] = manager
            return manager

    def uses_proxy(self, url: str) -> bool:
        return self._proxy(url) is not None

    def handle(self, request: Request) -> Response:
        with self._lock:
            if self._closed:
                raise FetchError("the client is closing")
        manager = self._manager(request.url)
        deadline = time.monotonic() + request.transfer_timeout
        first = min(request.timeout, request.transfer_timeout)
        timeout = urllib3.Timeout(connect=first, read=first)
        headers = {"Accept": "*/*", **request.headers}

        def send() -> Any:
            return manager.request(
                request.method,
                request.url,
                headers=headers,
                timeout=timeout,
                preload_content=False,
                redirect=False,
            )

        _REQUEST.deadline = deadline
        try:
            try:
                raw = send()
            except urllib3.exceptions.ProtocolError as exc:
                if _silent(exc) or time.monotonic() >= deadline:
                    raise
                # The server closed a pooled keep-alive connection just as it was reused
                # (urllib3 only notices a close that arrived before the request): re-send once.
                raw = send()
        except urllib3.exceptions.HTTPError as exc:
            if time.monotonic() >= deadline:
                raise _transfer_timeout(request, 0) from exc
            if isinstance(
                exc, (urllib3.exceptions.TimeoutError, urllib3.exceptions.NewConnectionError)
            ) or (isinstance(exc, urllib3.exceptions.ProtocolError) and _silent(exc)):
                raise _unreachable(request, exc) from exc
            raise FetchError(f"{urlsplit(request.url).netloc}: {exc}") from exc
        finally:
            _REQUEST.deadline = None
        return Response(raw.status, dict(raw.headers), _read_body(raw, request, deadline))

    def close(self) -> None:
        """Close every pooled connection; later requests fail (we are closing)."""
        with self._lock:
            self._closed = True
            managers = [self._direct, *self._proxies.values()]
        for manager in managers:
            manager.clear()

    @property
    def open_pools(self) -> int:
        """How many connection pools are open (0 after ``close()``)."""
        return len(self._direct.pools) + sum(len(m.pools) for m in self._proxies.values())


def _silent(exc: BaseException) -> bool:
    """A protocol error that is really a peer not answering (a read timeout inside it)."""
    return any(isinstance(arg, (TimeoutError, socket.timeout)) for arg in exc.args)


def _transfer_timeout(request: Request, received: int) -> TransferTimeoutError:
    return TransferTimeoutError(
        f"the answer to {request.path} took longer than transfer_timeout="
        f"{request.transfer_timeout} s ({received} bytes of body received); refused"
    )


def _read_body(raw: Any, request: Request, deadline: float) -> bytes:
    """Read the whole body within ``max_bytes`` and the transfer deadline, or refuse it."""
    ok = False
    try:
        declared = raw.headers.get("Content-Length")
        expected: int | None = None  # the body's length, when the header gives it exactly
        if declared is not None and declared.strip().isdigit():
            if int(declared) > request.max_bytes:
                raise _too_large(request, int(declared), declared=True)
            if not raw.headers.get("Content-Encoding"):
                expected = int(declared)
        chunks: list[bytes] = []
        total = 0
        while expected != 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _transfer_timeout(request, total)
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(max(0.001, min(request.timeout, remaining)))
            try:
                chunk = raw.read1(_CHUNK)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise _transfer_timeout(request, total) from exc
                raise FetchError(f"reading the answer to {request.path}: {exc}") from exc
            if not chunk:
                break
            total += len(chunk)
            if total > request.max_bytes:
                raise _too_large(request, total, declared=False)
            chunks.append(chunk)
            if total == expected:
                break  # complete: no extra read for the end of the body
        ok = True
        return b"".join(chunks)
    finally:
        if not ok:
            raw.close()  # never return a half-read connection to the pool
        raw.release_conn()
