"""The publish guard's fleet read with the children kept by watches (``WatchedChildren``):

* a node's children are read once, then not again until its watch fires;
* an instance that starts afterwards is seen once its watch has fired;
* a state change of the connection (or a lost session) makes the next use read again, so a
  child created while the session was lost is seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

from disconf_core import ConfigType, Coordinates
from disconf_core.schema import SCHEMA_VERSION, item_schemas_data
from disconf_web import get_notifier
from disconf_web.publisher import get_publisher
from tests.helpers import expire_session, wait_until

from .conftest import make_tokens
from .test_delivery import BASE, NODE, AppFactory, _app_factory

COORDS = Coordinates(app="demo", version="1_0_0", env="dev")
SCHEMAS = f"{NODE}/schema"


@pytest.fixture
def make_app(migrated_url: str) -> Iterator[AppFactory]:
    yield from _app_factory(migrated_url)


def _app(make_app: AppFactory, zk_hosts: str) -> Flask:
    app = make_app(zk_hosts, NOTIFY_SWEEP_INTERVAL=3600.0)
    admin = make_tokens(app).headers("admin")
    wait_until(lambda: get_notifier(app).connected, timeout=20)
    created = app.test_client().put(f"{BASE}/items/port", json={"value": "80"}, headers=admin)
    assert created.status_code == 201
    return app


def _int_port() -> bytes:
    schema = {
        "v": SCHEMA_VERSION,
        "format": "item",
        "fields": [{"key": "port", "type": {"type": "int"}, "required": True}],
    }
    return item_schemas_data({"port": schema})


def _rejecting(app: Flask, value: str = "80a0") -> list[str]:
    """The instances the guard says would reject ``port=value`` (a dry run)."""
    report = get_publisher(app).guard.inspect(
        zk_prefix="/disconf", coords=COORDS, kind=ConfigType.ITEM, name="port", content=value
    )
    assert report.fleet == "checked"
    return [name for rejection in report.rejections for name in rejection.instances]


def _count_children_reads(app: Flask) -> list[str]:
    kazoo = get_notifier(app)._zk
    assert kazoo is not None
    real = kazoo.get_children_async
    reads: list[str] = []

    def spy(path: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(path)
        return real(path, *args, **kwargs)

    kazoo.get_children_async = spy  # type: ignore[method-assign]
    return reads


def _created_and_read(app: Flask, zk: KazooClient) -> list[str]:
    """Create the schema node (the publish that made the app read it left an ``exists`` watch)
    and wait until the guard has read its children; the children reads recorded."""
    reads = _count_children_reads(app)
    zk.ensure_path(SCHEMAS)
    wait_until(
        lambda: _rejecting(app) == [] and SCHEMAS in reads,
        message="the creation's watch to fire and the children to be read",
    )
    return reads


def test_children_are_read_once_and_a_new_instance_is_seen_after_its_watch(
    make_app: AppFactory, zk_hosts: str, zk: KazooClient
) -> None:
    app = _app(make_app, zk_hosts)
    reads = _created_and_read(app, zk)
    before = reads.count(SCHEMAS)
    assert _rejecting(app) == []
    assert _rejecting(app) == []
    assert reads.count(SCHEMAS) == before  # both checks used the watched children
    zk.create(f"{SCHEMAS}/web-1", _int_port(), ephemeral=True)
    wait_until(lambda: _rejecting(app) == ["web-1"], message="the new instance's schema seen")
    assert reads.count(SCHEMAS) == before + 1
    zk.delete(f"{SCHEMAS}/web-1")
    wait_until(lambda: _rejecting(app) == [], message="the instance's departure seen")


def test_a_missing_node_is_watched_for_its_creation(
    make_app: AppFactory, zk_hosts: str, zk: KazooClient
) -> None:
    app = _app(make_app, zk_hosts)
    assert zk.exists(SCHEMAS) is None
    reads = _count_children_reads(app)
    assert _rejecting(app) == []
    assert _rejecting(app) == []
    assert reads.count(SCHEMAS) == 0  # the publish above read it (an exists watch)
    zk.create(f"{SCHEMAS}/web-1", _int_port(), ephemeral=True, makepath=True)
    wait_until(lambda: _rejecting(app) == ["web-1"], message="the created node's child seen")


def test_a_state_change_makes_the_next_check_read_again(
    make_app: AppFactory, zk_hosts: str, zk: KazooClient
) -> None:
    app = _app(make_app, zk_hosts)
    reads = _created_and_read(app, zk)
    before = reads.count(SCHEMAS)
    assert _rejecting(app) == []
    assert reads.count(SCHEMAS) == before
    # A reconnection (no watch event): the entry belongs to an older generation.
    get_notifier(app).connection._on_state(KazooState.CONNECTED)
    assert _rejecting(app) == []
    assert reads.count(SCHEMAS) == before + 1


def test_a_lost_session_falls_back_to_a_direct_read(
    make_app: AppFactory, zk_hosts: str, zk: KazooClient
) -> None:
    app = _app(make_app, zk_hosts)
    zk.ensure_path(SCHEMAS)
    notifier = get_notifier(app)
    assert _rejecting(app) == []
    server_client = notifier._zk
    assert server_client is not None
    states = expire_session(server_client, zk_hosts)
    # Created while the server's session is gone: no watch of that session sees it.
    zk.create(f"{SCHEMAS}/web-2", _int_port(), ephemeral=True)
    wait_until(lambda: KazooState.LOST in states, timeout=30, message="session LOST")
    wait_until(lambda: notifier.connected, timeout=30)
    reads = _count_children_reads(app)
    assert _rejecting(app) == ["web-2"]
    assert reads.count(SCHEMAS) == 1
