"""Offline start from a bundle (issue 12): a client with no server and no snapshot starts from
the bundle the real server exported, says so (source, stats), and the server wins once it
answers; a snapshot wins over the bundle; a bundle for other coordinates or tampered is not
used."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from disconf_client import (
    ConfigUnavailableError,
    DisconfClient,
    MockTransport,
    disconf_file,
    disconf_item,
)
from disconf_client.cache import LocalSnapshot
from disconf_client.errors import ServerUnreachableError
from disconf_client.transport import Request, Response
from disconf_core import ConfigType
from tests.helpers import wait_until
from tests.plugins.web import LiveServer

APP, ENV, VERSION = "shop", "prod", "1_0_0"


def _classes() -> tuple[type[Any], type[Any]]:
    @disconf_file("redis.properties")
    class Redis:
        host: str
        port: int = 6379

    @disconf_item("discountRate")
    class Discount:
        rate: Decimal

    return Redis, Discount


def _down(request: Request) -> Response:
    raise ServerUnreachableError(f"{request.url}: connection refused")


def _client(tmp_path: Path, configs: list[type], bundle: Path, **kw: Any) -> DisconfClient:
    settings: dict[str, Any] = {
        "app": APP,
        "env": ENV,
        "version": VERSION,
        "servers": "http://127.0.0.1:9",
        "download_dir": str(tmp_path / "download"),
        "retry_times": 1,
        "retry_sleep": 0.1,
        "properties_file": None,
        "bootstrap_bundle": str(bundle),
    }
    settings.update(kw)
    return DisconfClient(configs, **settings)


def _export(live: LiveServer, path: Path) -> Path:
    answer = live.api("GET", f"/apps/{APP}/envs/{ENV}/versions/{VERSION}/bundle")
    assert answer.status_code == 200, answer.text
    path.write_bytes(answer.content)
    return path


def test_no_server_no_snapshot_starts_from_the_bundle_then_the_server_wins(
    live_server: LiveServer, tmp_path: Path
) -> None:
    live_server.publish_file(APP, ENV, VERSION, "redis.properties", "host=a\nport=1\n")
    live_server.publish_item(APP, ENV, VERSION, "discountRate", "0.1")
    bundle = _export(live_server, tmp_path / "shop.bundle.json")
    live_server.publish_file(APP, ENV, VERSION, "redis.properties", "host=b\nport=2\n")
    live_server.stop()
    Redis, Discount = _classes()
    client = _client(tmp_path, [Redis, Discount], bundle, servers=live_server.url)
    with client:
        assert (Redis.host, Redis.port, Discount.rate) == ("a", 1, Decimal("0.1"))
        assert client.source_of(Redis) == client.source_of(Discount) == "bundle"
        assert client.stats.as_dict()["bundle_starts"] == 2
        # The bundle is never written as the snapshot.
        assert (
            LocalSnapshot(tmp_path / "download").read(ConfigType.FILE, "redis.properties") is None
        )
        live_server.start()
        wait_until(
            lambda: client.source_of(Redis) == "server" and client.source_of(Discount) == "server",
            timeout=30,
            message="the server to replace the bundle's values",
        )
        assert (Redis.host, Redis.port) == ("b", 2)
        assert client.stats.as_dict()["bundle_starts"] == 2


def _write_bundle(path: Path, *, app: str = APP, md5: str | None = None) -> Path:
    from disconf_core import content_md5

    content = "host=bundled\n"
    path.write_text(
        json.dumps(
            {
                "format": "disconf-bundle",
                "format_version": 1,
                "app": app,
                "env": ENV,
                "version": VERSION,
                "manifest": [
                    {"kind": "file", "name": "redis.properties", "md5": md5 or content_md5(content)}
                ],
                "files": {"redis.properties": content},
            }
        )
    )
    return path


def test_a_snapshot_wins_over_the_bundle(tmp_path: Path) -> None:
    Redis, _ = _classes()
    LocalSnapshot(tmp_path / "download").write(
        ConfigType.FILE, "redis.properties", b"host=snapshot\n"
    )
    bundle = _write_bundle(tmp_path / "b.json")
    client = DisconfClient(
        [Redis],
        app=APP, env=ENV, version=VERSION, servers="http://down.invalid",
        download_dir=str(tmp_path / "download"), retry_times=1, retry_sleep=0.1,
        properties_file=None, bootstrap_bundle=str(bundle), transport=MockTransport(_down),
    )  # fmt: skip
    with client:
        assert Redis.host == "snapshot" and client.source_of(Redis) == "snapshot"
        assert client.stats.as_dict()["bundle_starts"] == 0


@pytest.mark.parametrize("problem", ["other app", "tampered", "missing file"])
def test_an_unusable_bundle_is_not_used(tmp_path: Path, problem: str) -> None:
    Redis, _ = _classes()
    if problem == "other app":
        bundle = _write_bundle(tmp_path / "b.json", app="other")
    elif problem == "tampered":
        bundle = _write_bundle(tmp_path / "b.json", md5="0" * 32)
    else:
        bundle = tmp_path / "missing.json"
    client = DisconfClient(
        [Redis],
        app=APP, env=ENV, version=VERSION, servers="http://down.invalid",
        download_dir=str(tmp_path / "download"), retry_times=1, retry_sleep=0.1,
        properties_file=None, bootstrap_bundle=str(bundle), transport=MockTransport(_down),
    )  # fmt: skip
    with pytest.raises(ConfigUnavailableError):
        client.start()
