"""HTTP access to the Disconf server list (protocol spec §1).

:class:`ConfigFetcher` downloads files (``/api/config/file``) and items (``/api/config/item``) and
discovers ZooKeeper (``/api/zoo/hosts``, ``/api/zoo/prefix``). All I/O goes through one
:class:`~disconf_client.transport.Transport` (urllib3 pools by default; tests inject a
``MockTransport``), so tests and production share every line of this module.

Retries and failover, as the original client: each server is tried ``retry_times`` times with
``retry_sleep`` seconds between tries, then the next server of the list. Any status other than
200, a connection error, a malformed envelope or an integrity failure counts as a failed try.
When the server sends an ``ETag`` (the quoted MD5 of the body) the body is checked against it;
a mismatch is retried and never returned. An item answer of ``status: 0`` ("cannot find this
config") is definitive: :class:`~disconf_client.errors.ConfigNotFoundError`, no retry. An
answer above ``max_config_bytes`` is refused (the next server is asked, the same one is not
asked again for this download): :class:`~disconf_client.errors.ResponseTooLargeError`.

Dead servers during a start: inside :meth:`ConfigFetcher.start_round` (the client uses it for an
AUTO start) a server that refuses the connection or does not answer within ``http_timeout`` is
remembered as down and not asked again until the round ends, by this or any other config: a
start against a dead or mute server list costs one timeout per server, not one retry round per
config. Outside a round (SERVER mode, background retries) every try is made.

Every request carries ``X-Disconf-Read-Token`` when a ``read_token`` is set (the token is never
logged), and ``X-Disconf-Instance`` (the instance id) and ``X-Disconf-Labels`` (``zone=a,...``)
when given: gray releases target by them (unmodified clients send neither). Sleeps wait on a
``threading.Event`` so that :meth:`ConfigFetcher.close` interrupts them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlencode

from disconf_core import (
    ConfigType,
    Coordinates,
    content_md5,
    quoted_etag,
    unquote_etag,
    validate_config_name,
)

from .errors import (
    ConfigNotFoundError,
    FetchError,
    IntegrityError,
    ResponseTooLargeError,
    ServerUnreachableError,
)
from .transport import HTTPTransport, Request, Response, Transport

__all__ = [
    "DEFAULT_MAX_CONFIG_BYTES",
    "DEFAULT_TRANSFER_TIMEOUT",
    "READ_TOKEN_HEADER",
    "ConfigFetcher",
]

log = logging.getLogger(__name__)
R = TypeVar("R")

DEFAULT_MAX_CONFIG_BYTES = 1024 * 1024
"""The server's default ``MAX_CONFIG_BYTES``: no config it accepts is larger."""
DEFAULT_TRANSFER_TIMEOUT = 30.0
"""Seconds one whole download may take (headers and body), whatever ``http_timeout`` is."""
READ_TOKEN_HEADER = "X-Disconf-Read-Token"
INSTANCE_HEADER = "X-Disconf-Instance"
LABELS_HEADER = "X-Disconf-Labels"
_ENVELOPE_OVERHEAD = 4096  # status/message around an item's value


class ConfigFetcher:
    """Fetch configs from a list of servers with retries, failover and integrity checks."""

    def __init__(
        self,
        servers: Sequence[str],
        *,
        transport: Transport | None = None,
        retry_times: int = 3,
        retry_sleep: float = 2.0,
        timeout: float = 5.0,
        max_bytes: int = DEFAULT_MAX_CONFIG_BYTES,
        transfer_timeout: float = DEFAULT_TRANSFER_TIMEOUT,
        read_token: str | None = None,
        instance: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        if not servers:
            raise ValueError("ConfigFetcher needs at least one server")
        self.servers = tuple(server.rstrip("/") for server in servers)
        self.transport: Transport = transport if transport is not None else HTTPTransport()
        self.retry_times = max(1, retry_times)
        self.retry_sleep = retry_sleep
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.transfer_timeout = transfer_timeout
        self._headers = {READ_TOKEN_HEADER: read_token} if read_token else {}
        # Who asks (gray releases target by them): this instance's id and its labels.
        if instance:
            self._headers[INSTANCE_HEADER] = instance
        if labels:
            self._headers[LABELS_HEADER] = ",".join(f"{k}={v}" for k, v in labels.items())
        self._closed = threading.Event()
        self._preferred = 0  # index of the server that answered last
        self._dead: dict[str, str] | None = None  # inside start_round: server -> why
        self._down_since: float | None = None  # every server failed (monotonic time)
        self._etags: dict[str, str] = {}  # the last ETag of each config's download

    def close(self) -> None:
        """Interrupt any retry sleep; later calls fail at once."""
        self._closed.set()
        self.transport.close()

    @contextmanager
    def start_round(self) -> Iterator[None]:
        """Remember a server that refuses or does not answer until the block ends (see above)."""
        self._dead = {}
        try:
            yield
        finally:
            self._dead = None

    @property
    def dead_servers(self) -> dict[str, str]:
        """Inside a start round: the servers given up on, and why."""
        return dict(self._dead or {})

    def _try_all(self, what: str, attempt: Callable[[str], R]) -> R:
        failures: list[str] = []
        errors: list[FetchError] = []
        order = list(range(self._preferred, len(self.servers))) + list(range(self._preferred))
        for position, index in enumerate(order):
            server = self.servers[index]
            dead = self._dead
            if dead is not None and server in dead:
                failures.append(f"{server}: not asked, it {dead[server]} earlier in this start")
                errors.append(ServerUnreachableError(server, refused=dead[server] == "refused"))
                continue
            for number in range(1, self.retry_times + 1):
                if self._closed.is_set():
                    raise FetchError(f"{what}: the client is closing")
                try:
                    result = attempt(server)
                except (ConfigNotFoundError, NotModified):
                    self._answered(index)  # a definitive answer: the server is up
                    raise
                except (FetchError, OSError, ValueError) as exc:
                    failures.append(f"{server} try {number}: {exc}")
                    errors.append(exc if isinstance(exc, FetchError) else FetchError(str(exc)))
                    log.warning(
                        "%s from %s failed (try %d/%d): %s",
                        what,
                        server,
                        number,
                        self.retry_times,
                        exc,
                    )
                    if isinstance(exc, ServerUnreachableError) and dead is not None:
                        dead[server] = "refused" if exc.refused else "did not answer"
                        log.warning("%s is down: not asked again during this start", server)
                        break
                    if isinstance(exc, ResponseTooLargeError):
                        break  # the same answer again: ask the next server
                    last_try = number == self.retry_times and position == len(order) - 1
                    if not last_try and self.retry_sleep > 0:
                        self._closed.wait(self.retry_sleep)
                    continue
                self._answered(index)
                return result
        if self._down_since is None:
            self._down_since = time.monotonic()
        raise _combined(errors, f"{what} failed on every server: " + "; ".join(failures))

    def _answered(self, index: int) -> None:
        """Server ``index`` answered: ask it first next time; log if every server was failing."""
        self._preferred = index
        if self._down_since is not None:
            log.warning(
                "the Disconf server %s answers again (every try failed for %.1f s)",
                self.servers[index],
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    def _get(
        self,
        server: str,
        path: str,
        params: dict[str, str],
        max_bytes: int,
        extra_headers: dict[str, str] | None = None,
        *,
        not_modified: bool = False,
    ) -> Response:
        url = f"{server}{path}"
        if params:
            url += "?" + urlencode(params)
        request = Request(
            "GET",
            url,
            headers={**self._headers, **(extra_headers or {})},
            max_bytes=max_bytes,
            timeout=self.timeout,
            transfer_timeout=self.transfer_timeout,
        )
        answer = self.transport.handle(request)
        if answer.status == 403:
            hint = "refused" if READ_TOKEN_HEADER in self._headers else "not set"
            raise FetchError(
                f"HTTP 403: {answer.text[:200].strip()} (the client's read_token / "
                f"DISCONF_READ_TOKEN is {hint})"
            )
        if answer.status != 200 and not (not_modified and answer.status == 304):
            raise FetchError(f"HTTP {answer.status}")
        return answer

    @staticmethod
    def _check_etag(answer: Response, value: str | None = None) -> None:
        """Check the ETag (if any) against the body, or for an envelope against its value."""
        etag = answer.headers.get("ETag")
        if etag:
            expected = unquote_etag(etag).lower()
            actual = content_md5(answer.body)
            if expected != actual and (value is None or content_md5(value) != expected):
                what = "body" if value is None else "value"
                raise IntegrityError(f"{what} MD5 {actual} does not match the ETag MD5 {expected}")

    def _conditional(self, cache_key: str | None) -> dict[str, str]:
        etag = self._etags.get(cache_key) if cache_key is not None else None
        return {"If-None-Match": etag} if etag else {}

    def _envelope(
        self,
        server: str,
        path: str,
        params: dict[str, str],
        *,
        cache_key: str | None = None,
        conditional: bool = False,
    ) -> str | None:
        limit = self.max_bytes * 6 + _ENVELOPE_OVERHEAD  # JSON may escape a byte as \uXXXX
        extra = self._conditional(cache_key) if conditional else {}
        answer = self._get(server, path, params, limit, extra, not_modified=bool(extra))
        if answer.status == 304:
            return None
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
        if len(text.encode("utf-8", errors="replace")) > self.max_bytes:
            raise ResponseTooLargeError(
                f"the value of {path} {params.get('key', '')!r} is above max_config_bytes="
                f"{self.max_bytes}; refused"
            )
        self._check_etag(answer, text)
        self._remember(cache_key, answer)
        return text

    def _remember(self, cache_key: str | None, answer: Response) -> None:
        etag = answer.headers.get("ETag")
        if cache_key is not None:
            if etag:
                self._etags[cache_key] = etag
            else:
                self._etags.pop(cache_key, None)

    def remember(
        self,
        coords: Coordinates,
        kind: ConfigType,
        name: str,
        content: bytes,
        md5: str | None = None,
    ) -> None:
        """``content`` was obtained without a download (from a notification's node data): the
        next conditional download of it asks with its ETag (the server's ETag is its MD5).
        ``md5``: ``content``'s MD5 when the caller has it already (not hashed a second time)."""
        what = "file" if kind is ConfigType.FILE else "item"
        etag = quoted_etag(content) if md5 is None else f'"{md5}"'
        self._etags[f"{what} {coords} {name}"] = etag

    def fetch_file(self, coords: Coordinates, name: str, *, conditional: bool = False) -> bytes:
        """The raw bytes of file ``name`` (ETag-checked).

        ``conditional=True`` sends ``If-None-Match`` with the ETag of the last download of this
        file; a ``304`` then raises :class:`NotModified` (nothing to apply)."""
        validate_config_name(name, "file")
        params = _params(coords, key=name, type="0")
        cache_key = f"file {coords} {name}"

        def attempt(server: str) -> bytes:
            extra = self._conditional(cache_key) if conditional else {}
            answer = self._get(
                server, "/api/config/file", params, self.max_bytes, extra, not_modified=bool(extra)
            )
            if answer.status == 304:
                raise NotModified(name)
            self._check_etag(answer)
            self._remember(cache_key, answer)
            return answer.body

        return self._try_all(f"download of file {name!r} ({coords})", attempt)

    def fetch_item(self, coords: Coordinates, key: str, *, conditional: bool = False) -> str:
        """The value string of item ``key`` (``conditional``: as :meth:`fetch_file`)."""
        validate_config_name(key, "item")
        params = _params(coords, key=key, type="1")
        cache_key = f"item {coords} {key}"

        def attempt(server: str) -> str:
            text = self._envelope(
                server, "/api/config/item", params, cache_key=cache_key, conditional=conditional
            )
            if text is None:
                raise NotModified(key)
            return text

        return self._try_all(f"download of item {key!r} ({coords})", attempt)

    def _discover(self, path: str) -> str:
        def attempt(server: str) -> str:
            return self._envelope(server, path, {}) or ""

        return self._try_all(f"ZooKeeper discovery ({path})", attempt)

    def zoo_hosts(self) -> str:
        """The ZooKeeper connect string the server announces."""
        value = self._discover("/api/zoo/hosts")
        if not value.strip():
            raise FetchError("the server announced an empty ZooKeeper host list")
        return value.strip()

    def zoo_prefix(self) -> str:
        """The ZooKeeper root prefix the server announces (e.g. ``/disconf``)."""
        return self._discover("/api/zoo/prefix").strip()


class NotModified(Exception):  # noqa: N818 - a signal, not an error
    """A conditional download answered ``304``: the config did not change."""


def _combined(errors: list[FetchError], message: str) -> FetchError:
    """The error for "every try failed": of the failures' common class, if they share one."""
    kinds = {type(error) for error in errors}
    if len(kinds) != 1:
        return FetchError(message)
    kind = kinds.pop()
    if kind is ServerUnreachableError:
        refused = all(getattr(error, "refused", False) for error in errors)
        return ServerUnreachableError(message, refused=refused)
    return kind(message)


def _params(coords: Coordinates, **extra: str) -> dict[str, str]:
    return {"app": coords.app, "env": coords.env, "version": coords.version, **extra}
