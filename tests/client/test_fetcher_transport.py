"""The fetcher's default transport (urllib3 pools, the one production uses), against a real
HTTP/1.1 server on 127.0.0.1: connection reuse, a keep-alive connection the server dropped, a
path prefix, errors as failed tries, close(); a ProxyManager when a proxy is configured."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from disconf_client.errors import FetchError
from disconf_client.fetcher import ConfigFetcher
from disconf_client.transport import HTTPTransport
from disconf_core import Coordinates, content_md5
from disconf_web.embedded_zookeeper import free_port

COORDS = Coordinates("shop", "1_0_0", "prod")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests_seen: list[str]
    proxy_authorization: list[str | None]
    connections: int
    drop_after_answer: bool


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.requests_seen.append(self.path)
        self.server.proxy_authorization.append(self.headers.get("Proxy-Authorization"))
        body = json.dumps({"status": 1, "message": "", "value": "0.5"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", f'"{content_md5("0.5")}"')
        self.end_headers()
        self.wfile.write(body)
        if self.server.drop_after_answer:
            self.close_connection = True  # like gunicorn dropping an idle keep-alive connection

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.requests_seen, httpd.connections, httpd.drop_after_answer = [], 0, False
    httpd.proxy_authorization = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def url(server: _Server, prefix: str = "") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{prefix}"


def test_keep_alive_connection_is_reused(server: _Server) -> None:
    fetcher = ConfigFetcher([url(server)], retry_times=1, retry_sleep=0)
    try:
        assert isinstance(fetcher.transport, HTTPTransport)
        assert not fetcher.transport.uses_proxy(url(server))
        for _ in range(3):
            assert fetcher.fetch_item(COORDS, "rate") == "0.5"
        assert server.connections == 1
        assert server.requests_seen[0] == (
            "/api/config/item?app=shop&env=prod&version=1_0_0&key=rate&type=1"
        )
    finally:
        fetcher.close()


def test_a_dropped_keep_alive_connection_is_replaced_without_a_failed_try(
    server: _Server,
) -> None:
    server.drop_after_answer = True
    fetcher = ConfigFetcher([url(server)], retry_times=1, retry_sleep=0)
    try:
        for _ in range(3):  # retry_times=1: a failed try would raise
            assert fetcher.fetch_item(COORDS, "rate") == "0.5"
        assert server.connections == 3
    finally:
        fetcher.close()


def test_the_server_path_prefix_is_kept(server: _Server) -> None:
    fetcher = ConfigFetcher([url(server, "/disconf/")], retry_times=1, retry_sleep=0)
    try:
        assert fetcher.zoo_prefix() == "0.5"
        assert server.requests_seen == ["/disconf/api/zoo/prefix"]
    finally:
        fetcher.close()


def test_connection_refused_is_a_failed_try_then_the_next_server(server: _Server) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    fetcher = ConfigFetcher([dead, url(server)], retry_times=2, retry_sleep=0)
    try:
        assert fetcher.fetch_item(COORDS, "rate") == "0.5"
    finally:
        fetcher.close()
    alone = ConfigFetcher([dead], retry_times=2, retry_sleep=0)
    with pytest.raises(FetchError, match=r"try 2: .*(refused|Errno)"):
        alone.fetch_item(COORDS, "rate")
    alone.close()


def test_threads_share_the_pool_and_close_ends_it(server: _Server) -> None:
    fetcher = ConfigFetcher([url(server)], retry_times=1, retry_sleep=0)
    answers: list[str] = []
    workers = [
        threading.Thread(target=lambda: answers.append(fetcher.fetch_item(COORDS, "rate")))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert answers == ["0.5"] * 4
    assert 1 <= server.connections <= 4  # pooled: at most maxsize connections per server
    fetcher.close()
    assert isinstance(fetcher.transport, HTTPTransport)
    assert fetcher.transport.open_pools == 0  # every pooled connection closed
    with pytest.raises(FetchError, match="closing"):
        fetcher.fetch_item(COORDS, "rate")


def test_a_proxy_from_the_environment_goes_through_a_proxy_manager(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy here is the test server itself: a forward proxy receives the absolute URL."""
    transport = HTTPTransport()
    assert not transport.uses_proxy("https://conf.example")
    monkeypatch.setenv("HTTP_PROXY", url(server))
    monkeypatch.setenv("NO_PROXY", "bypassed.example")
    assert transport.uses_proxy("http://conf.example:8080")
    assert not transport.uses_proxy("http://bypassed.example")
    fetcher = ConfigFetcher(["http://conf.example:8080"], transport=transport, retry_times=1)
    try:
        assert fetcher.fetch_item(COORDS, "rate") == "0.5"
        assert server.requests_seen[-1].startswith("http://conf.example:8080/api/config/item?")
        assert server.proxy_authorization[-1] is None
    finally:
        fetcher.close()
    port = server.server_address[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://user:p%40ss@127.0.0.1:{port}")
    fetcher = ConfigFetcher(["http://conf.example:8080"], transport=HTTPTransport())
    try:
        assert fetcher.fetch_item(COORDS, "rate") == "0.5"
        expected = "Basic " + base64.b64encode(b"user:p@ss").decode()
        assert server.proxy_authorization[-1] == expected
    finally:
        fetcher.close()
