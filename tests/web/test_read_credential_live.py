"""The read credential end to end: the real server (gunicorn) and our client, which sends
``X-Disconf-Read-Token`` (client setting ``read_token``) on the Disconf client endpoints; and the
conditional read (``If-None-Match`` -> 304) through the real server."""

from __future__ import annotations

from pathlib import Path

import requests

from disconf_client import DisconfClient, disconf_item
from tests.helpers import wait_until
from tests.plugins.web import LiveServer

APP, ENV, VERSION = "locked", "dev", "1_0_0"
ITEM = {"app": APP, "env": ENV, "version": VERSION, "key": "rate"}


def test_our_client_reads_an_app_that_requires_a_read_credential(
    live_server: LiveServer, tmp_path: Path
) -> None:
    live_server.publish_item(APP, ENV, VERSION, "rate", "1")
    created = live_server.api("PUT", f"/apps/{APP}/read-credential")
    assert created.status_code == 201
    token = created.json()["token"]
    url = live_server.url + "/api/config/item"
    assert requests.get(url, params=ITEM, timeout=10).status_code == 403

    @disconf_item("rate")
    class Rate:
        value: str = ""

    client = DisconfClient(
        [Rate], app=APP, env=ENV, version=VERSION, servers=[live_server.url], mode="server",
        download_dir=tmp_path / "client", retry_times=1, retry_sleep=0.1, read_token=token,
    )  # fmt: skip
    try:
        client.start()
        assert Rate.value == "1"
        live_server.publish_item(APP, ENV, VERSION, "rate", "2")
        wait_until(lambda: Rate.value == "2", timeout=30, message="the change, read with the token")
    finally:
        client.close()


def test_conditional_read_through_the_real_server(live_server: LiveServer) -> None:
    live_server.publish_item(APP, ENV, VERSION, "rate", "1")
    url = live_server.url + "/api/config/item"
    first = requests.get(url, params=ITEM, timeout=10)
    assert first.status_code == 200
    again = requests.get(
        url, params=ITEM, headers={"If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304 and again.content == b""
    live_server.publish_item(APP, ENV, VERSION, "rate", "2")
    changed = requests.get(
        url, params=ITEM, headers={"If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert changed.status_code == 200 and changed.json()["value"] == "2"
