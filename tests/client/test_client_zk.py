"""DisconfClient against a fake HTTP server and a real ZooKeeper (notifications, sessions)."""

from __future__ import annotations

import json
import logging
import os
from decimal import Decimal
from typing import Any

import pytest
from kazoo.client import KazooClient

from disconf_client import (
    BindingError,
    ChangeEvent,
    ConfigUnavailableError,
    ForkedProcessError,
    LoadMode,
    disconf_file,
    disconf_item,
    field,
    on_change,
    snapshot,
)
from disconf_client.decorators import config_spec
from disconf_client.schema import items_schema_data
from disconf_core import ConfigType, content_md5
from disconf_core.schema import SCHEMA_KEY, schema_node
from tests.client.conftest import COORDS, Harness
from tests.helpers import in_forked_child, wait_until


def redis_class() -> type[Any]:
    @disconf_file("redis.properties")
    class RedisConfig:
        host: str = "localhost"
        port: int = field(key="redis.port", default=6379)
        timeout: Decimal = Decimal("1.5")

    return RedisConfig


def required_class() -> type[Any]:
    @disconf_file("db.properties")
    class Db:
        url: str
        pool: int = 5

    return Db


def test_values_bound_and_publish_reaches_callback(harness: Harness) -> None:
    Redis = redis_class()

    @disconf_item("discountRate")
    class Discount:
        rate: Decimal = Decimal("0")

    events: list[ChangeEvent[Any]] = []
    on_change(Redis)(events.append)
    catch_all: list[str] = []
    harness.publish_file("redis.properties", "host=10.0.0.1\nredis.port=7000\n", notify=False)
    harness.publish_item("discountRate", "0.25", notify=False)
    client = harness.client([Redis, Discount], on_change=lambda e: catch_all.append(e.name))
    client.start()
    assert (Redis.host, Redis.port, Discount.rate) == ("10.0.0.1", 7000, Decimal("0.25"))
    assert events == [] and catch_all == []  # no callbacks for the first load

    # one ephemeral instance node per config, with the original's data format (plus the bound
    # schema under its reserved key, for the publish guard)
    ((name, data),) = harness.instances(ConfigType.FILE, "redis.properties")
    assert name.split("_")[1] == str(os.getpid())
    reported = json.loads(data)
    assert reported.pop(SCHEMA_KEY)["fields"][1] == {
        "key": "redis.port",
        "type": {"type": "int"},
        "required": False,
    }
    assert reported == {"host": "10.0.0.1", "redis.port": "7000"}
    assert harness.instances(ConfigType.ITEM, "discountRate")[0][1] == b"0.25"

    harness.publish_file("redis.properties", "host=10.0.0.2\nredis.port=7001\n")
    wait_until(lambda: events, timeout=10, message="the change callback")
    event = events[0]
    assert event.changed == {"host", "redis.port"}
    assert (event.old.host, event.old.port) == ("10.0.0.1", 7000)
    assert (event.new.host, event.new.port) == ("10.0.0.2", 7001)
    assert snapshot(Redis) is event.new and Redis.port == 7001
    wait_until(
        lambda: (
            {
                key: value
                for key, value in json.loads(
                    harness.instances(ConfigType.FILE, "redis.properties")[0][1]
                ).items()
                if key != SCHEMA_KEY
            }
            == {"host": "10.0.0.2", "redis.port": "7001"}
        ),
        message="the instance node update",
    )
    harness.publish_item("discountRate", "0.5")
    wait_until(lambda: Discount.rate == Decimal("0.5"), message="the item update")
    # callbacks run after the new values are in place: wait for the catch-all hook too
    wait_until(lambda: len(catch_all) == 2, message="the catch-all hook for the item")
    assert catch_all == ["redis.properties", "discountRate"]
    assert client.stats.applied == 4 and client.stats.notifications >= 2
    # the snapshot on disk is the last applied revision
    snapshot_file = harness.download_dir / "redis.properties"
    wait_until(lambda: snapshot_file.read_bytes().startswith(b"host=10.0.0.2"), message="snapshot")
    client.close()
    assert harness.instances(ConfigType.FILE, "redis.properties") == []


def test_set_data_with_unchanged_node_data_triggers_a_reload(harness: Harness) -> None:
    """The original server setData's the node; clients ignore the node's data itself."""
    Redis = redis_class()
    harness.publish_file("redis.properties", "redis.port=1\n")
    client = harness.client([Redis])
    client.start()
    node = harness.node(ConfigType.FILE, "redis.properties")
    same = harness.zk.get(node)[0]
    harness.server.files["redis.properties"] = b"redis.port=2\n"
    harness.zk.set(node, same)  # identical payload
    wait_until(lambda: Redis.port == 2, message="reload after an identical setData")
    harness.server.files["redis.properties"] = b"redis.port=3\n"
    harness.zk.set(node, b'"a JSON string as the Java server sends"')
    wait_until(lambda: Redis.port == 3, message="reload after a JSON-string setData")


def test_server_mode_refuses_to_start_without_server(harness: Harness) -> None:
    Redis = redis_class()
    harness.server.down = True
    client = harness.client([Redis], mode=LoadMode.SERVER)
    with pytest.raises(ConfigUnavailableError, match="cannot load file 'redis.properties'"):
        client.start()
    harness.server.down = False
    client = harness.client([Redis], mode=LoadMode.SERVER)  # a 404 for the file itself
    with pytest.raises(ConfigUnavailableError, match="redis.properties"):
        client.start()


def test_auto_mode_starts_from_snapshot_and_catches_up(harness: Harness) -> None:
    Redis = redis_class()
    harness.publish_file("redis.properties", "host=from-server\n", notify=False)
    first = harness.client([Redis])
    first.start()
    first.close()

    harness.server.down = True
    harness.publish_file("redis.properties", "host=newer\n", notify=False)
    events: list[ChangeEvent[Any]] = []
    second = harness.client([Redis], on_change=events.append)
    second.start()
    assert Redis.host == "from-server"  # from the local snapshot
    assert second.stats.fetch_errors >= 1
    harness.server.down = False
    wait_until(lambda: events, message="catch-up once the server is back")
    assert events[0].source == "server" and Redis.host == "newer"
    # ZooKeeper discovery was retried too: a notification now arrives
    wait_until(lambda: second.zk_connected, message="ZooKeeper watching after late discovery")
    harness.publish_file("redis.properties", "host=notified\n")
    wait_until(lambda: Redis.host == "notified", message="notification after late discovery")


def test_auto_mode_without_snapshot(harness: Harness) -> None:
    harness.server.down = True
    Db = required_class()
    with pytest.raises(ConfigUnavailableError, match="no usable local snapshot"):
        harness.client([Db]).start()
    Redis = redis_class()  # every field has a default: starts from the defaults
    client = harness.client([Redis])
    client.start()
    assert (Redis.host, Redis.port) == ("localhost", 6379)


def test_corrupted_snapshot_is_not_used(harness: Harness) -> None:
    Db = required_class()
    harness.publish_file("db.properties", "url=mysql://a\npool=9\n", notify=False)
    first = harness.client([Db])
    first.start()
    first.close()
    (harness.download_dir / "db.properties").write_bytes(b"url=mysql://a\npo")  # truncated
    harness.server.down = True
    second = harness.client([Db])
    with pytest.raises(ConfigUnavailableError, match="no usable local snapshot"):
        second.start()
    assert second.stats.snapshot_errors == 1


def test_bad_publish_keeps_old_values_and_reports(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    Redis = redis_class()
    events: list[ChangeEvent[Any]] = []
    errors: list[BindingError] = []
    on_change(Redis)(events.append)
    harness.publish_file("redis.properties", "host=a\nredis.port=1\n")
    client = harness.client([Redis], on_error=errors.append)
    client.start()
    caplog.set_level(logging.ERROR, logger="disconf_client")
    harness.publish_file("redis.properties", "host=b\nredis.port=eighty\ntimeout=soon\n")
    wait_until(lambda: errors, message="the error hook")
    assert {p.key for p in errors[0].problems} == {"redis.port", "timeout"}
    assert (Redis.host, Redis.port) == ("a", 1) and snapshot(Redis).host == "a"
    assert client.stats.rejected == 1 and events == []
    assert "'redis.port' = 'eighty'" in caplog.text
    assert (harness.download_dir / "redis.properties").read_bytes() == b"host=a\nredis.port=1\n"
    assert json.loads(harness.instances(ConfigType.FILE, "redis.properties")[0][1])["host"] == "a"
    harness.publish_file("redis.properties", "host=c\nredis.port=3\n")
    wait_until(lambda: Redis.port == 3, message="a good publish after a bad one")


def test_bad_first_revision_falls_back_to_snapshot(harness: Harness) -> None:
    Db = required_class()
    harness.publish_file("db.properties", "url=u1\n", notify=False)
    first = harness.client([Db])
    first.start()
    first.close()
    harness.publish_file("db.properties", "pool=x\n", notify=False)
    second = harness.client([Db])
    second.start()
    assert Db.url == "u1" and second.stats.rejected == 1


def test_integrity_failure_is_retried_never_applied(harness: Harness) -> None:
    Redis = redis_class()
    harness.publish_file("redis.properties", "host=a\n")
    client = harness.client([Redis])
    client.start()
    harness.server.corrupt_etag = 1  # one bad answer, then a good one: retried
    harness.publish_file("redis.properties", "host=b\n")
    wait_until(lambda: Redis.host == "b", message="the retried download")
    harness.server.corrupt_etag = 1000
    harness.publish_file("redis.properties", "host=never\n")
    wait_until(lambda: client.stats.integrity_errors >= 1, message="the integrity error")
    assert Redis.host == "b"


def test_raising_callback_does_not_stop_the_others(harness: Harness) -> None:
    Redis = redis_class()
    seen: list[int] = []

    @on_change(Redis)
    def broken(event: ChangeEvent[Any]) -> None:
        raise RuntimeError("user bug")

    on_change(Redis)(lambda event: seen.append(event.new.port))
    harness.publish_file("redis.properties", "redis.port=1\n")
    client = harness.client([Redis])
    client.start()
    for port in (2, 3):
        harness.publish_file("redis.properties", f"redis.port={port}\n")
        wait_until(lambda port=port: seen and seen[-1] == port, message=f"port {port}")
    assert client.stats.callback_errors == 2


def test_session_expiry_recreates_instance_nodes_and_watches(
    harness: Harness, zk_hosts: str
) -> None:
    Redis = redis_class()

    @disconf_item("discountRate")
    class Rate:
        rate: float = 0.0

    @disconf_item("label")
    class Label:
        label: str = ""

    # Items bound as str accept every value: alone they write no item-schema node.
    assert items_schema_data([config_spec(Label)]) is None
    harness.publish_file("redis.properties", "redis.port=1\n")
    harness.publish_item("discountRate", "0.5")
    harness.publish_item("label", "x")
    client = harness.client([Redis, Rate, Label])
    client.start()
    assert client._watcher is not None
    old_session = client._watcher.zk.client_id
    ((old_instance, _),) = harness.instances(ConfigType.FILE, "redis.properties")
    # The item's instance node is its raw value; its schema is in the client's schema node.
    assert harness.instances(ConfigType.ITEM, "discountRate") == [(old_instance, b"0.5")]
    schema_path = schema_node("/disconf", COORDS) + "/" + old_instance
    schema = json.loads(harness.zk.get(schema_path)[0])
    assert set(schema["items"]) == {"discountRate"}
    assert schema["items"]["discountRate"]["fields"] == [
        {"key": "discountRate", "type": {"type": "float"}, "required": False}
    ]
    # Expire the session: a second client joins it with the same id/password and closes it.
    intruder = KazooClient(hosts=zk_hosts, client_id=old_session, timeout=10)
    intruder.start(timeout=20)
    intruder.stop()
    intruder.close()
    watcher = client._watcher

    def new_session() -> bool:
        current = watcher.zk.client_id
        return current is not None and current[0] != old_session[0] and watcher.connected

    wait_until(new_session, timeout=30, message="a new ZooKeeper session")
    wait_until(
        lambda: (
            [n for n, _ in harness.instances(ConfigType.FILE, "redis.properties")] == [old_instance]
        ),
        timeout=20,
        message="the instance node re-created",
    )
    wait_until(
        lambda: harness.zk.exists(schema_path) is not None,
        timeout=20,
        message="the item-schema node re-created",
    )
    harness.publish_file("redis.properties", "redis.port=2\n")
    wait_until(lambda: Redis.port == 2, timeout=10, message="an update after the session loss")


def test_change_while_session_lost_is_refetched(harness: Harness, zk_hosts: str) -> None:
    Redis = redis_class()
    harness.publish_file("redis.properties", "redis.port=1\n")
    client = harness.client([Redis])
    client.start()
    assert client._watcher is not None
    fetches = len(harness.server.requests_seen)
    harness.publish_file("redis.properties", "redis.port=5\n", notify=False)  # missed
    intruder = KazooClient(hosts=zk_hosts, client_id=client._watcher.zk.client_id, timeout=10)
    intruder.start(timeout=20)
    intruder.stop()
    intruder.close()
    wait_until(lambda: Redis.port == 5, timeout=30, message="re-fetch after session loss")
    assert len(harness.server.requests_seen) > fetches


def test_server_down_after_start_keeps_values_and_catches_up(harness: Harness) -> None:
    Redis = redis_class()
    harness.publish_file("redis.properties", "redis.port=1\n")
    client = harness.client([Redis])
    client.start()
    harness.server.down = True
    harness.publish_file("redis.properties", "redis.port=2\n")
    wait_until(lambda: client.stats.fetch_errors >= 1, message="a failed fetch")
    assert Redis.port == 1
    harness.server.down = False
    wait_until(lambda: Redis.port == 2, message="background retry")


def test_safety_net_check_corrects_a_missed_notification(harness: Harness) -> None:
    Redis = redis_class()
    harness.publish_file("redis.properties", "redis.port=1\n")
    client = harness.client([Redis], recheck_interval=0.3)
    client.start()
    harness.publish_file("redis.properties", "redis.port=2\n", notify=False)
    wait_until(lambda: Redis.port == 2, message="the periodic MD5 check")


def test_override_directory_wins_until_removed(harness: Harness) -> None:
    Redis = redis_class()
    override = harness.tmp_path / "override"
    harness.publish_file("redis.properties", "host=server\n")
    events: list[ChangeEvent[Any]] = []
    client = harness.client([Redis], override_dir=override, on_change=events.append)
    client.start()
    assert Redis.host == "server"
    (override / "redis.properties").write_text("host=override\n")
    wait_until(lambda: Redis.host == "override", message="the override picked up")
    # Callbacks run on the config's lane after the value is swapped in: wait for the event.
    wait_until(lambda: events and events[-1].source == "override", message="its callback")
    assert events[-1].source == "override"
    harness.publish_file("redis.properties", "host=server2\n")
    wait_until(lambda: client.stats.notifications >= 1, message="the notification")
    client.reload(Redis)
    assert Redis.host == "override"  # still wins
    (override / "redis.properties").unlink()
    wait_until(lambda: Redis.host == "server2", message="back to the server's value")


def test_override_present_at_start(harness: Harness) -> None:
    Redis = redis_class()
    override = harness.tmp_path / "override"
    override.mkdir()
    (override / "redis.properties").write_text("host=dr\n")
    harness.server.down = True
    client = harness.client([Redis], override_dir=override, mode=LoadMode.SERVER, zk_hosts="x:1")
    client.start()  # SERVER mode, server down: the override still lets it start
    assert Redis.host == "dr"


def test_local_mode_never_contacts_a_server_and_watches_edits(harness: Harness) -> None:
    Redis = redis_class()

    @disconf_item("rate")
    class Rate:
        value: float = 0.0

    local = harness.tmp_path / "local"
    (local / "items").mkdir(parents=True)
    (local / "redis.properties").write_text("redis.port=11\n")
    (local / "items" / "rate").write_text("0.5")
    events: list[ChangeEvent[Any]] = []
    client = harness.client([Redis, Rate], mode=LoadMode.LOCAL, local_dir=local)
    on_change(Redis)(events.append)
    client.start()
    assert (Redis.port, Rate.value) == (11, 0.5)
    (local / "redis.properties").write_text("redis.port=12\n")
    wait_until(lambda: Redis.port == 12, message="a local edit picked up by watchdog")
    wait_until(lambda: events, message="its callback (run on the config's lane after the swap)")
    assert events and events[-1].changed == {"redis.port"}
    tmp = local / "rate.tmp"
    tmp.write_text("0.75")
    tmp.replace(local / "items" / "rate")  # editor-style atomic save
    wait_until(lambda: Rate.value == 0.75, message="a renamed-in item")
    assert harness.server.requests_seen == []


def test_ignored_configs_stay_local(harness: Harness) -> None:
    Redis = redis_class()
    Db = required_class()
    harness.download_dir.mkdir(parents=True)
    (harness.download_dir / "db.properties").write_text("url=local\n")
    harness.publish_file("redis.properties", "redis.port=1\n", notify=False)
    harness.publish_file("db.properties", "url=server\n", notify=False)
    client = harness.client([Redis, Db], ignore=frozenset({"db.properties"}))
    client.start()
    assert (Redis.port, Db.url) == (1, "local")
    assert not any("db.properties" in url for url in harness.server.requests_seen)


def test_hosted_file_is_written_to_its_target(harness: Harness) -> None:
    target = harness.tmp_path / "conf" / "logback.xml"

    @disconf_file("logback.xml", target=target)
    class Logback:
        content: bytes = b""

    harness.publish_file("logback.xml", "<configuration/>")
    client = harness.client([Logback])
    client.start()
    assert Logback.content == b"<configuration/>" and target.read_bytes() == b"<configuration/>"
    harness.publish_file("logback.xml", "<configuration debug='true'/>")
    wait_until(lambda: target.read_bytes() == b"<configuration debug='true'/>", message="target")
    assert content_md5(Logback.content) == content_md5(target.read_bytes())


def test_use_after_fork(harness: Harness) -> None:
    Redis = redis_class()
    harness.publish_file("redis.properties", "redis.port=1\n")
    client = harness.client([Redis])
    client.start()

    def child() -> int:
        assert Redis.port == 1 and snapshot(Redis).port == 1
        code = 1
        try:
            client.reload()
        except ForkedProcessError as exc:
            code = 0 if "create a new client in the child" in str(exc) else 2
        client.close()  # must not touch the parent's session
        return code

    assert in_forked_child(child) == 0
    harness.publish_file("redis.properties", "redis.port=2\n")
    wait_until(lambda: Redis.port == 2, message="the parent still receives updates")
    assert harness.instances(ConfigType.FILE, "redis.properties")


def test_a_class_cannot_be_bound_by_two_running_clients(harness: Harness) -> None:
    Redis = redis_class()
    harness.publish_file("redis.properties", "redis.port=1\n")
    harness.client([Redis]).start()
    with pytest.raises(Exception, match="already bound by another running client"):
        harness.client([Redis]).start()
