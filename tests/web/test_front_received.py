"""The serving front stamps each request with the time it had read it whole
(``disconf.received``): the read cache's freshness gate answers the request with any generation
read that started later, so the stamp must be taken after the request's last byte arrived and
before the app runs."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from disconf_web.buffered_connection import BufferedConnection, FrontLimits
from disconf_web.protocol import client_request
from disconf_web.protocol.answers import RECEIVED


class _Pool:
    def __init__(self) -> None:
        self.environs: list[dict[str, Any]] = []

    def submit(self, _app: Any, environ: dict[str, Any], _done: Any) -> None:
        self.environs.append(environ)


class _Transport(asyncio.Transport):
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 4000) if name in ("peername", "sockname") else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        return None

    def pause_reading(self) -> None:
        return None


def test_each_request_is_stamped_when_read_whole() -> None:
    pool = _Pool()
    cfg = SimpleNamespace(
        limit_request_line=8190,
        limit_request_fields=100,
        limit_request_field_size=8190,
        forwarded_allow_ips=["127.0.0.1"],
        secure_scheme_headers={},
    )
    worker = SimpleNamespace(
        limits=FrontLimits(), cfg=cfg, log=None, alive=True, connections=set(), pool=pool,
        wsgi=None,
    )  # fmt: skip

    async def feed() -> tuple[float, float]:
        connection = BufferedConnection(worker)
        connection.connection_made(_Transport())
        connection.data_received(b"GET /api/config/item?app=a&env=e&version=1&key=k HTTP/1.1\r\n")
        half_read = time.monotonic()
        connection.data_received(b"Host: 127.0.0.1\r\n\r\n")
        after = time.monotonic()
        connection.connection_lost(None)
        return half_read, after

    half_read, after = asyncio.run(feed())
    (environ,) = pool.environs
    stamp = environ[RECEIVED]
    assert isinstance(stamp, float)
    assert half_read < stamp <= after  # taken once the last byte was read, before the app
    assert client_request(environ).received == stamp
