"""HTTP access to the Disconf server list (protocol spec §1).

:class:`ConfigFetcher` downloads files (``/api/config/file``) and items (``/api/config/item``) and
discovers ZooKeeper (``/api/zoo/hosts``, ``/api/zoo/prefix``). All I/O goes through an injected
``requests.Session``, so tests mount a fake adapter instead of patching internals.

Retries and failover, as the original client: each server is tried ``retry_times`` times with
``retry_sleep`` seconds between tries, then the next server of the list. Any status other than
200, a connection error, a malformed envelope or an integrity failure counts as a failed try.
When the server sends an ``ETag`` (the quoted MD5 of the body) the body is checked against it;
a mismatch is retried and never returned. An item answer of ``status: 0`` ("cannot find this
config") is definitive: :class:`~disconf_client.errors.ConfigNotFoundError`, no retry.

Sleeps wait on a ``threading.Event`` so that :meth:`ConfigFetcher.close` interrupts them.

Transport: with an injected ``requests.Session`` every request goes through it. Without one,
plain ``http://`` servers are asked through a urllib3 connection pool with keep-alive (a fetch
costs about half the CPU of one through ``requests``, which adds up when every client of a config
re-fetches at once after a publish; ``bench/NOTES.md``); ``https://`` servers, or any server when
a proxy is configured in the environment, go through a ``requests.Session`` (TLS verification,
proxies and ``no_proxy`` as ``requests`` does them). urllib3 replaces a pooled connection the
server closed while it was idle (gunicorn drops idle ones after a few seconds); one the server
closes just as it is reused is re-sent once at once, not counted as a failed try. Connection
errors, timeouts and malformed answers are failed tries like any other.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

import requests
import urllib3

from disconf_core import Coordinates, content_md5, unquote_etag, validate_config_name

from .errors import ConfigNotFoundError, FetchError, IntegrityError

__all__ = ["ConfigFetcher"]

log = logging.getLogger(__name__)
R = TypeVar("R")


class _Headers(Protocol):
    def get(self, name: str, /) -> str | None: ...


@dataclass(frozen=True)
class _Answer:
    """What the fetcher needs of an HTTP answer, whichever transport fetched it."""

    status: int
    headers: _Headers
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _Pool:
    """Keep-alive connections to plain-HTTP servers, pooled by urllib3 (see the module doc)."""

    def __init__(self, timeout: float) -> None:
        # No retries inside urllib3: every failure is one of the fetcher's counted tries.
        # urllib3 itself replaces a pooled connection the server has closed while it was idle.
        self._manager = urllib3.PoolManager(
            num_pools=16, maxsize=4, timeout=urllib3.Timeout(total=timeout), retries=False
        )
        self._lock = threading.Lock()
        self._closed = False

    def get(self, server: str, path: str, params: dict[str, str]) -> _Answer:
        with self._lock:
            if self._closed:
                raise FetchError("the client is closing")
        url = f"{server}{path}"
        if params:
            url += "?" + urlencode(params)
        try:
            response = self._manager.request("GET", url, headers={"Accept": "*/*"})
        except urllib3.exceptions.ProtocolError:
            # The server closed a pooled keep-alive connection just as it was reused (urllib3
            # only notices a close that arrived before the request): re-send this GET once.
            response = self._manager.request("GET", url, headers={"Accept": "*/*"})
        return _Answer(response.status, response.headers, response.data)

    def close(self) -> None:
        """Close every pooled connection; later requests fail (we are closing)."""
        with self._lock:
            self._closed = True
        self._manager.clear()


def _lightweight(server: str) -> bool:
    """Plain HTTP with no proxy configured in the environment."""
    if urlsplit(server).scheme != "http":
        return False
    proxies = urllib.request.getproxies()
    return not (proxies.get("http") or proxies.get("all"))


class ConfigFetcher:
    """Fetch configs from a list of servers with retries, failover and integrity checks."""

    def __init__(
        self,
        servers: Sequence[str],
        *,
        session: requests.Session | None = None,
        retry_times: int = 3,
        retry_sleep: float = 2.0,
        timeout: float = 5.0,
    ) -> None:
        if not servers:
            raise ValueError("ConfigFetcher needs at least one server")
        self.servers = tuple(server.rstrip("/") for server in servers)
        self._injected = session is not None
        self.session = session if session is not None else requests.Session()
        self._light = {s for s in self.servers if not self._injected and _lightweight(s)}
        self._pool = _Pool(timeout)
        self.retry_times = max(1, retry_times)
        self.retry_sleep = retry_sleep
        self.timeout = timeout
        self._closed = threading.Event()
        self._preferred = 0  # index of the server that answered last

    def close(self) -> None:
        """Interrupt any retry sleep; later calls fail at once."""
        self._closed.set()
        self._pool.close()

    def _try_all(self, what: str, attempt: Callable[[str], R]) -> R:
        failures: list[str] = []
        integrity_only = True
        order = list(range(self._preferred, len(self.servers))) + list(range(self._preferred))
        for index in order:
            server = self.servers[index]
            for number in range(1, self.retry_times + 1):
                if self._closed.is_set():
                    raise FetchError(f"{what}: the client is closing")
                try:
                    result = attempt(server)
                except ConfigNotFoundError:
                    raise
                except (
                    requests.RequestException,
                    urllib3.exceptions.HTTPError,
                    OSError,
                    FetchError,
                    ValueError,
                ) as exc:
                    failures.append(f"{server} try {number}: {exc}")
                    integrity_only = integrity_only and isinstance(exc, IntegrityError)
                    log.warning(
                        "%s from %s failed (try %d/%d): %s",
                        what,
                        server,
                        number,
                        self.retry_times,
                        exc,
                    )
                    last_try = number == self.retry_times and index == order[-1]
                    if not last_try and self.retry_sleep > 0:
                        self._closed.wait(self.retry_sleep)
                    continue
                self._preferred = index
                return result
        error = IntegrityError if failures and integrity_only else FetchError
        raise error(f"{what} failed on every server: " + "; ".join(failures))

    def _get(self, server: str, path: str, params: dict[str, str]) -> _Answer:
        if server in self._light:
            answer = self._pool.get(server, path, params)
        else:
            response = self.session.get(f"{server}{path}", params=params, timeout=self.timeout)
            answer = _Answer(response.status_code, response.headers, response.content)
        if answer.status != 200:
            raise FetchError(f"HTTP {answer.status}")
        return answer

    @staticmethod
    def _check_etag(answer: _Answer, value: str | None = None) -> None:
        """Check the ETag (if any) against the body, or for an envelope against its value."""
        etag = answer.headers.get("ETag")
        if etag:
            expected = unquote_etag(etag).lower()
            actual = content_md5(answer.body)
            if expected != actual and (value is None or content_md5(value) != expected):
                what = "body" if value is None else "value"
                raise IntegrityError(f"{what} MD5 {actual} does not match the ETag MD5 {expected}")

    def _envelope(self, server: str, path: str, params: dict[str, str]) -> str:
        answer = self._get(server, path, params)
        try:
            payload: Any = json.loads(answer.body)
        except ValueError as exc:
            raise FetchError(f"the answer is not JSON: {answer.text[:100]!r}") from exc
        if not isinstance(payload, dict) or "status" not in payload:
            raise FetchError(f"the answer is not a value envelope: {answer.text[:100]!r}")
        if str(payload.get("status")) != "1":
            message = str(payload.get("message") or "status 0")
            raise ConfigNotFoundError(f"{path} {params}: the server answered {message!r}")
        value = payload.get("value")
        text = "" if value is None else str(value)
        self._check_etag(answer, text)
        return text

    def fetch_file(self, coords: Coordinates, name: str) -> bytes:
        """The raw bytes of file ``name`` (ETag-checked)."""
        validate_config_name(name, "file")
        params = _params(coords, key=name, type="0")

        def attempt(server: str) -> bytes:
            answer = self._get(server, "/api/config/file", params)
            self._check_etag(answer)
            return answer.body

        return self._try_all(f"download of file {name!r} ({coords})", attempt)

    def fetch_item(self, coords: Coordinates, key: str) -> str:
        """The value string of item ``key``."""
        validate_config_name(key, "item")
        params = _params(coords, key=key, type="1")
        return self._try_all(
            f"download of item {key!r} ({coords})",
            lambda server: self._envelope(server, "/api/config/item", params),
        )

    def zoo_hosts(self) -> str:
        """The ZooKeeper connect string the server announces."""
        value = self._try_all(
            "ZooKeeper discovery (/api/zoo/hosts)",
            lambda server: self._envelope(server, "/api/zoo/hosts", {}),
        )
        if not value.strip():
            raise FetchError("the server announced an empty ZooKeeper host list")
        return value.strip()

    def zoo_prefix(self) -> str:
        """The ZooKeeper root prefix the server announces (e.g. ``/disconf``)."""
        return self._try_all(
            "ZooKeeper discovery (/api/zoo/prefix)",
            lambda server: self._envelope(server, "/api/zoo/prefix", {}),
        ).strip()


def _params(coords: Coordinates, **extra: str) -> dict[str, str]:
    return {"app": coords.app, "env": coords.env, "version": coords.version, **extra}
