"""The ``live_server`` fixture runs the real server: publish, download, get notified, restart."""

from __future__ import annotations

import json

import requests
from kazoo.client import KazooClient

from tests.plugins.web import LiveServer

PARAMS = {"app": "demo", "env": "dev", "version": "1_0_0"}


def test_publish_and_download(live_server: LiveServer, zk: KazooClient) -> None:
    answer = live_server.publish_file("demo", "dev", "1_0_0", "redis.properties", "a=1\n")
    assert answer["notification"] == "delivered"
    response = requests.get(
        live_server.url + "/api/config/file", params={**PARAMS, "key": "redis.properties"}
    )
    assert response.status_code == 200
    assert response.content == b"a=1\n"
    data, _ = zk.get("/disconf/demo_1_0_0_dev/file/redis.properties")
    # The spec's payload is the JSON string literal of the content; the server may append
    # JSON whitespace after it (its delivery trailer), which every JSON reader ignores.
    assert data.startswith(b'"a=1\\n"')
    assert json.loads(data) == "a=1\n"
    live_server.publish_item("demo", "dev", "1_0_0", "rate", "0.5")
    hosts = requests.get(live_server.url + "/api/zoo/hosts").json()
    assert hosts == {"status": 1, "message": "", "value": live_server.zk_hosts}


def test_restart_keeps_data(live_server: LiveServer) -> None:
    live_server.publish_item("demo", "dev", "1_0_0", "rate", "0.5")
    live_server.stop()
    assert not live_server.is_running()
    live_server.start()
    answer = requests.get(live_server.url + "/api/config/item", params={**PARAMS, "key": "rate"})
    assert answer.json()["value"] == "0.5"
