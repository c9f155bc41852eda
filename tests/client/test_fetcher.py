from __future__ import annotations

import pytest

from disconf_client import ConfigFetcher, ConfigNotFoundError, FetchError, IntegrityError
from disconf_client.transport import MockTransport, Request, Response
from disconf_core import Coordinates
from tests.client.fakes import FakeDisconfServer

COORDS = Coordinates("app", "1_0", "prod")


def make(server: FakeDisconfServer, servers: tuple[str, ...] = ("http://fake",)) -> ConfigFetcher:
    return ConfigFetcher(servers, transport=server.transport(), retry_times=3, retry_sleep=0)


def test_file_item_and_discovery() -> None:
    server = FakeDisconfServer(zk_hosts="127.0.0.1:2181", prefix="/disconf")
    server.files["a.properties"] = "k=värde\n".encode()
    server.items["rate"] = "0.5"
    fetcher = make(server)
    assert fetcher.fetch_file(COORDS, "a.properties") == "k=värde\n".encode()
    assert fetcher.fetch_item(COORDS, "rate") == "0.5"
    assert fetcher.zoo_hosts() == "127.0.0.1:2181"
    assert fetcher.zoo_prefix() == "/disconf"
    assert "app=app" in server.requests_seen[0] and "env=prod" in server.requests_seen[0]


def test_retries_then_failover_to_next_server() -> None:
    server = FakeDisconfServer()
    server.files["a"] = b"x"
    dead = FakeDisconfServer()
    dead.down = True

    def route(request: Request) -> Response:
        return (dead if request.url.startswith("http://down") else server).handle(request)

    fetcher = ConfigFetcher(
        ("http://down", "http://fake"), transport=MockTransport(route), retry_times=2, retry_sleep=0
    )
    assert fetcher.fetch_file(COORDS, "a") == b"x"
    assert len(dead.requests_seen) == 2 and len(server.requests_seen) == 1
    # the server that answered is tried first next time
    assert fetcher.fetch_file(COORDS, "a") == b"x"
    assert len(dead.requests_seen) == 2


def test_every_server_down_lists_attempts() -> None:
    server = FakeDisconfServer()
    server.down = True
    fetcher = make(server)
    with pytest.raises(FetchError, match="try 3") as info:
        fetcher.fetch_file(COORDS, "a")
    assert not isinstance(info.value, IntegrityError)
    assert len(server.requests_seen) == 3


def test_etag_mismatch_is_retried_and_never_returned() -> None:
    server = FakeDisconfServer()
    server.files["a"] = b"good"
    server.corrupt_etag = 2
    assert make(server).fetch_file(COORDS, "a") == b"good"
    assert len(server.requests_seen) == 3
    server.corrupt_etag = 5
    with pytest.raises(IntegrityError, match="does not match"):
        make(server).fetch_file(COORDS, "a")


def test_missing_item_is_definitive() -> None:
    server = FakeDisconfServer()
    with pytest.raises(ConfigNotFoundError, match="cannot find this config"):
        make(server).fetch_item(COORDS, "nope")
    assert len(server.requests_seen) == 1


def test_file_404_is_retried() -> None:
    server = FakeDisconfServer()
    with pytest.raises(FetchError, match="HTTP 404"):
        make(server).fetch_file(COORDS, "nope")
    assert len(server.requests_seen) == 3


def test_bad_name_is_refused_before_any_request() -> None:
    server = FakeDisconfServer()
    with pytest.raises(ValueError, match="'../x'"):
        make(server).fetch_file(COORDS, "../x")
    assert server.requests_seen == []
