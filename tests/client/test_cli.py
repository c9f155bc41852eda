"""The ``disconf`` CLI (click) against a small HTTP server on 127.0.0.1: output bytes, exit
statuses (0 ok, 1 failure, 2 usage), and the read credential header."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from disconf_client.cli import main
from disconf_client.fetcher import READ_TOKEN_HEADER
from disconf_core import quoted_etag

FILES = {"redis.properties": b"redis.host=10.0.0.1\nredis.port=6380\n"}
ITEMS = {"discountRate": "0.5"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    tokens: list[str | None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.tokens.append(self.headers.get(READ_TOKEN_HEADER))
        parts = urlsplit(self.path)
        key = parse_qs(parts.query).get("key", [""])[0]
        if parts.path == "/api/config/file" and key in FILES:
            self._send(FILES[key], quoted_etag(FILES[key]))
        elif parts.path == "/api/config/item" and key in ITEMS:
            body = json.dumps({"status": 1, "message": "", "value": ITEMS[key]}).encode()
            self._send(body, None)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def _send(self, body: bytes, etag: str | None) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.tokens = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def address(server: _Server) -> str:
    return f"127.0.0.1:{server.server_address[1]}"


def test_get_prints_the_raw_file_and_the_item(
    server: _Server, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    base = ["demo", "dev", "1_0_0"]
    assert main(["get", *base, "redis.properties", "--server", address(server)]) == 0
    assert capfdbinary.readouterr().out == FILES["redis.properties"]
    assert main(["get", *base, "discountRate", "--item", "--server", address(server)]) == 0
    assert capfdbinary.readouterr().out == b"0.5\n"
    assert server.tokens == [None, None]


def test_the_read_token_comes_from_the_option_or_the_environment(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["demo", "dev", "1_0_0", "redis.properties", "--server", address(server)]
    assert main(["get", *base, "--read-token", "opt-token"]) == 0
    monkeypatch.setenv("DISCONF_READ_TOKEN", "env-token")
    assert main(["get", *base]) == 0
    assert server.tokens == ["opt-token", "env-token"]


def test_exit_statuses(server: _Server, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get", "demo", "dev"]) == 2
    assert "Missing argument" in capsys.readouterr().err
    assert main(["nonsense"]) == 2
    missing = ["get", "demo", "dev", "1_0_0", "nope.properties", "--retries", "1"]
    assert main([*missing, "--server", address(server)]) == 1
    err = capsys.readouterr().err
    assert "disconf get: " in err and "HTTP 404" in err
    assert main(["--help"]) == 0
    assert "watch" in capsys.readouterr().out
