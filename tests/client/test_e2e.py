"""End to end: DisconfClient and the ``disconf`` CLI against the real server (``live_server``)
and the real ZooKeeper; publishes go through the admin API."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from disconf_client import (
    ChangeEvent,
    ConfigUnavailableError,
    DisconfClient,
    LoadMode,
    disconf_file,
    disconf_item,
    field,
    on_change,
)
from disconf_client.cli import main as cli_main
from tests.helpers import wait_until
from tests.plugins.web import LiveServer

APP, ENV, VERSION = "shop", "prod", "1_0_0"


def classes() -> tuple[type[Any], type[Any]]:
    @disconf_file("redis.properties")
    class Redis:
        host: str = "localhost"
        port: int = field(key="redis.port", default=6379)
        hosts: list[str] = field(default=[])

    @disconf_item("discountRate")
    class Discount:
        rate: Decimal = Decimal("0")

    return Redis, Discount


def make_client(live: LiveServer, tmp_path: Path, configs: list[type], **kw: Any) -> DisconfClient:
    settings: dict[str, Any] = {
        "app": APP,
        "env": ENV,
        "version": VERSION,
        "servers": live.url,
        "download_dir": str(tmp_path / "download"),
        "retry_times": 2,
        "retry_sleep": 0.1,
        "properties_file": None,
    }
    settings.update(kw)
    return DisconfClient(configs, **settings)


def test_publish_through_admin_api_reaches_callback(
    live_server: LiveServer, tmp_path: Path
) -> None:
    Redis, Discount = classes()
    live_server.publish_file(APP, ENV, VERSION, "redis.properties", "host=a\nredis.port=1\n")
    live_server.publish_item(APP, ENV, VERSION, "discountRate", "0.1")
    events: list[ChangeEvent[Any]] = []
    on_change(Redis, Discount)(events.append)
    with make_client(live_server, tmp_path, [Redis, Discount]) as client:
        assert (Redis.host, Redis.port, Discount.rate) == ("a", 1, Decimal("0.1"))
        live_server.publish_file(
            APP, ENV, VERSION, "redis.properties", "host=b\nredis.port=2\nhosts=x, y\n"
        )
        wait_until(lambda: events, timeout=10, message="the file change callback")
        assert events[0].new.port == 2 and events[0].new.hosts == ["x", "y"]
        assert events[0].changed == {"host", "redis.port", "hosts"}
        live_server.publish_item(APP, ENV, VERSION, "discountRate", "0.35")
        wait_until(lambda: len(events) == 2, timeout=10, message="the item change callback")
        assert events[1].new.rate == Decimal("0.35")

        # The server's self-check sees our instance, holding the current values.
        def self_check() -> dict[str, Any]:
            path = f"/apps/{APP}/envs/{ENV}/versions/{VERSION}/files/redis.properties/instances"
            result: dict[str, Any] = live_server.api("GET", path).json()
            return result

        wait_until(lambda: self_check()["counts"] == {"instances": 1, "mismatched": 0})
        assert client.stats.rejected == 0

        # A bad publish (forced past the publish guard, which sees our schema): old values
        # kept, reported.
        forced = live_server.api(
            "PUT",
            f"/apps/{APP}/envs/{ENV}/versions/{VERSION}/files/redis.properties",
            data=b"redis.port=http\n",
            params={"force_reason": "test the client's rejection"},
        )
        assert forced.status_code == 200, forced.text
        wait_until(lambda: client.stats.rejected == 1, timeout=10, message="the rejection")
        assert Redis.port == 2 and len(events) == 2


def test_server_stop_start_and_start_from_snapshot(live_server: LiveServer, tmp_path: Path) -> None:
    Redis, _ = classes()
    live_server.publish_file(APP, ENV, VERSION, "redis.properties", "redis.port=1\n")
    with make_client(live_server, tmp_path, [Redis]):
        assert Redis.port == 1
        live_server.stop()
        assert Redis.port == 1  # keeps serving its values
        live_server.start()
        live_server.publish_file(APP, ENV, VERSION, "redis.properties", "redis.port=2\n")
        wait_until(lambda: Redis.port == 2, timeout=10, message="an update after a restart")

    live_server.publish_file(APP, ENV, VERSION, "redis.properties", "redis.port=3\n")
    live_server.stop()
    with pytest.raises(ConfigUnavailableError):
        make_client(live_server, tmp_path, [Redis], mode=LoadMode.SERVER).start()
    with make_client(live_server, tmp_path, [Redis]) as client:  # AUTO
        assert Redis.port == 2  # from the snapshot
        live_server.start()
        wait_until(lambda: Redis.port == 3, timeout=20, message="catch-up after the restart")
        wait_until(lambda: client.zk_connected, message="watching after late discovery")
        live_server.publish_file(APP, ENV, VERSION, "redis.properties", "redis.port=4\n")
        wait_until(lambda: Redis.port == 4, timeout=10, message="a notification after catch-up")


def test_cli_get_push_watch(
    live_server: LiveServer, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    live_server.ensure_app_env(APP, ENV)
    source = tmp_path / "app.yaml"
    source.write_text("a: 1\n")
    base = [APP, ENV, VERSION]
    server = ["--server", live_server.url]
    token = ["--token", live_server.admin_token]
    assert cli_main(["push", *base, "app.yaml", str(source), *server, *token]) == 0
    assert cli_main(["push", *base, "rate", "--item", "0.5", *server, *token]) == 0
    capsysbinary.readouterr()
    assert cli_main(["get", *base, "app.yaml", *server]) == 0
    assert capsysbinary.readouterr().out == b"a: 1\n"
    assert cli_main(["get", *base, "rate", "--item", *server]) == 0
    assert capsysbinary.readouterr().out == b"0.5\n"
    assert cli_main(["push", *base, "x", str(source), *server, "--token", "wrong"]) == 1
    assert b"HTTP 401" in capsysbinary.readouterr().err
    assert cli_main(["get", *base, "missing.yaml", *server, "--retries", "1"]) == 1

    # watch in a subprocess: the first revision, then a published one, then it exits (--count).
    watch = subprocess.Popen(
        [sys.executable, "-m", "disconf_client.cli", "watch", *base, "app.yaml", *server,
         "--count", "2", "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )  # fmt: skip
    try:
        assert watch.stdout is not None
        first = watch.stdout.readline()
        assert first.startswith(b"# revision 1 md5 ")
        assert watch.stdout.readline() == b"a: 1\n"
        live_server.publish_file(APP, ENV, VERSION, "app.yaml", "a: 2\n")
        out, err = watch.communicate(timeout=30)
        assert out.startswith(b"# revision 2 md5 ") and out.endswith(b"a: 2\n"), err
        assert watch.returncode == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()


def test_read_credential_and_conditional_safety_net_against_the_server(
    live_server: LiveServer, tmp_path: Path
) -> None:
    Redis, Discount = classes()
    live_server.publish_file(APP, ENV, VERSION, "redis.properties", "redis.port=1\n")
    live_server.publish_item(APP, ENV, VERSION, "discountRate", "0.1")
    answer = live_server.api("PUT", f"/apps/{APP}/read-credential")
    assert answer.status_code == 201, answer.text
    token = answer.json()["token"]
    try:
        with pytest.raises(ConfigUnavailableError, match="403.*read_token / DISCONF_READ_TOKEN"):
            make_client(
                live_server, tmp_path, [Redis, Discount], mode=LoadMode.SERVER, retry_times=1
            ).start()
        client = make_client(
            live_server, tmp_path, [Redis, Discount], read_token=token, recheck_interval=0.3
        )
        with client:
            assert (Redis.port, Discount.rate) == (1, Decimal("0.1"))
            # the safety net asks with If-None-Match: the server answers 304, nothing changes
            wait_until(lambda: client.stats.not_modified >= 4, message="two rounds of 304")
            assert client.stats.fetch_errors == 0 and client.stats.applied == 2
            live_server.publish_file(APP, ENV, VERSION, "redis.properties", "redis.port=2\n")
            wait_until(lambda: Redis.port == 2, message="a change still arrives")
    finally:
        live_server.api("DELETE", f"/apps/{APP}/read-credential")
