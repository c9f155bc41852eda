"""Grey failures of the server, through the production transport on 127.0.0.1: a body announced
too large, an endless chunked body, a trickle slower than the whole-transfer bound, and a
listener that accepts and never answers (a black hole) during an AUTO start of several configs.
No test asserts a time: they assert what was refused and how many connections were made."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from disconf_client import (
    ClientSettings,
    DisconfClient,
    LoadMode,
    ResponseTooLargeError,
    ServerUnreachableError,
    TransferTimeoutError,
    disconf_file,
    field,
)
from disconf_client.cache import LocalSnapshot
from disconf_client.fetcher import DEFAULT_MAX_CONFIG_BYTES, ConfigFetcher
from disconf_core import ConfigType, Coordinates
from disconf_web.settings import DEFAULTS as SERVER_DEFAULTS

COORDS = Coordinates("shop", "1_0_0", "prod")
_SERVE_BOUND = 30.0  # no fake server thread lives longer than this


class RawServer:
    """A TCP listener on 127.0.0.1 whose every connection is handled by ``behaviour(sock)``.

    It counts accepted connections; ``behaviour`` runs on its own thread per connection. Closing
    the server closes every connection it holds.
    """

    def __init__(self, behaviour: Callable[[socket.socket, threading.Event], None]) -> None:
        self.behaviour = behaviour
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.stop = threading.Event()
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        deadline = time.monotonic() + _SERVE_BOUND
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self.sockets.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn, self.stop)
        except OSError:
            pass  # the client hung up on us: that is the point

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for conn in self.sockets:
            try:
                conn.close()
            except OSError:
                pass
        self.thread.join(5)


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def make(behaviour: Callable[[socket.socket, threading.Event], None]) -> RawServer:
        server = RawServer(behaviour)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def _read_request(conn: socket.socket) -> None:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def huge_content_length(conn: socket.socket, stop: threading.Event) -> None:
    _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 209715200\r\n\r\n" + b"x" * 1024)
    stop.wait(_SERVE_BOUND)  # then never sends the rest


def endless_chunks(conn: socket.socket, stop: threading.Event) -> None:
    _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    deadline = time.monotonic() + _SERVE_BOUND
    while not stop.is_set() and time.monotonic() < deadline:
        conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    deadline = time.monotonic() + _SERVE_BOUND
    while not stop.wait(0.05) and time.monotonic() < deadline:
        conn.sendall(b"x")  # each read is quick; the whole never ends in time


def trickled_headers(conn: socket.socket, stop: threading.Event) -> None:
    _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    deadline = time.monotonic() + _SERVE_BOUND
    number = 0
    while not stop.wait(0.05) and time.monotonic() < deadline:
        number += 1
        conn.sendall(b"X-Slow-%d: y\r\n" % number)  # headers that never end, each read quick


def black_hole(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(_SERVE_BOUND)  # accepts, reads nothing, answers nothing


def fetcher_for(server: RawServer, **kwargs: Any) -> ConfigFetcher:
    options: dict[str, Any] = {"retry_times": 1, "retry_sleep": 0, "timeout": 2.0}
    options.update(kwargs)
    return ConfigFetcher([server.url], **options)


def test_the_default_cap_is_the_servers_default_config_limit() -> None:
    assert SERVER_DEFAULTS["MAX_CONFIG_BYTES"] == DEFAULT_MAX_CONFIG_BYTES
    assert ClientSettings(app="a").max_config_bytes == SERVER_DEFAULTS["MAX_CONFIG_BYTES"]


def test_a_content_length_above_the_cap_is_refused_before_reading(
    raw_server: Callable[..., RawServer],
) -> None:
    server = raw_server(huge_content_length)
    fetcher = fetcher_for(server, max_bytes=64 * 1024)
    try:
        with pytest.raises(ResponseTooLargeError, match="209715200 bytes.*max_config_bytes=65536"):
            fetcher.fetch_file(COORDS, "big.properties")
    finally:
        fetcher.close()


def test_an_endless_chunked_body_is_cut_at_the_cap(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(endless_chunks)
    fetcher = fetcher_for(server, max_bytes=256 * 1024, transfer_timeout=20.0)
    try:
        with pytest.raises(ResponseTooLargeError, match="more than 262144 bytes"):
            fetcher.fetch_file(COORDS, "endless.properties")
    finally:
        fetcher.close()


def test_a_trickle_is_cut_at_the_whole_transfer_bound(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(trickle)
    fetcher = fetcher_for(server, timeout=2.0, transfer_timeout=0.5)
    try:
        with pytest.raises(TransferTimeoutError, match="transfer_timeout=0.5"):
            fetcher.fetch_file(COORDS, "slow.properties")
    finally:
        fetcher.close()


def test_headers_trickling_are_cut_at_the_whole_transfer_bound(
    raw_server: Callable[..., RawServer],
) -> None:
    server = raw_server(trickled_headers)
    fetcher = fetcher_for(server, timeout=2.0, transfer_timeout=0.5)
    try:
        with pytest.raises(TransferTimeoutError, match="transfer_timeout=0.5"):
            fetcher.fetch_file(COORDS, "slow.properties")
        assert server.accepted == 1  # cut, not re-sent as a dropped keep-alive connection
    finally:
        fetcher.close()


def test_a_mute_server_is_unreachable_not_a_crash(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(black_hole)
    fetcher = fetcher_for(server, timeout=0.3)
    try:
        with pytest.raises(ServerUnreachableError) as info:
            fetcher.fetch_item(COORDS, "rate")
        assert not info.value.refused
    finally:
        fetcher.close()


def _configs() -> list[type[Any]]:
    classes: list[type[Any]] = []
    for number in range(4):

        @disconf_file(f"part{number}.properties")
        class Part:
            value: str = field(key="value", default="default")

        classes.append(Part)
    return classes


def _seed_snapshots(download_dir: Path) -> None:
    snapshot = LocalSnapshot(download_dir)
    for number in range(4):
        snapshot.write(
            ConfigType.FILE, f"part{number}.properties", f"value=snap{number}\n".encode()
        )


def test_an_auto_start_asks_a_black_hole_once_for_all_configs(
    raw_server: Callable[..., RawServer], tmp_path: Path
) -> None:
    """Before: one full retry round per config (3 tries x 5 requests = 15 connections)."""
    server = raw_server(black_hole)
    download_dir = tmp_path / "download"
    _seed_snapshots(download_dir)
    classes = _configs()
    settings = ClientSettings(
        app=COORDS.app,
        env=COORDS.env,
        version=COORDS.version,
        servers=(server.url,),
        mode=LoadMode.AUTO,
        download_dir=download_dir,
        retry_times=3,
        retry_sleep=30.0,  # the background retry comes long after the count below
        http_timeout=0.3,
    )
    client = DisconfClient(classes, settings=settings)
    try:
        client.start()
        assert server.accepted == 1  # ZooKeeper discovery timed out; no config asked it again
        assert [cls.value for cls in classes] == ["snap0", "snap1", "snap2", "snap3"]
        assert {client.source_of(cls) for cls in classes} == {"snapshot"}
    finally:
        client.close()
