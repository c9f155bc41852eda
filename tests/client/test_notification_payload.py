"""Notifications that carry the content (issue 13), against the real server and ZooKeeper.

A publish reaches the client through the node data alone (no HTTP request); a file cut to the
notification limit, node data without a trailer, with a wrong digest, cut short, or marked
"fetch" (the gray-release hook) is downloaded over HTTP as before. Requests are counted in the
client's transport.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient

from disconf_client import DisconfClient, disconf_file, disconf_item, field
from disconf_client.transport import HTTPTransport, Request, Response
from disconf_core import ConfigType, Coordinates, config_node, file_notification_data
from disconf_core.notification import fetch_marked, file_node_data, read_trailer
from disconf_web.services.configs import MAX_NOTIFICATION_BYTES
from tests.helpers import wait_until
from tests.plugins.web import LiveServer

APP, ENV, VERSION = "carry", "prod", "1_0_0"
COORDS = Coordinates(APP, VERSION, ENV)


class CountingTransport(HTTPTransport):
    """The client's real transport, counting the config downloads it makes."""

    def __init__(self) -> None:
        super().__init__()
        self.downloads: list[str] = []
        self._count_lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/api/config/"):
            with self._count_lock:
                self.downloads.append(request.url)
        return super().handle(request)


def classes() -> tuple[type[Any], type[Any]]:
    @disconf_file("app.properties")
    class AppFile:
        name: str = "none"
        blob: str = field(default="")

    @disconf_item("rate")
    class Rate:
        value: str = "0"

    return AppFile, Rate


def start_client(live: LiveServer, tmp_path: Path, configs: list[type]) -> tuple[Any, Any]:
    transport = CountingTransport()
    client = DisconfClient(
        configs,
        app=APP,
        env=ENV,
        version=VERSION,
        servers=live.url,
        download_dir=str(tmp_path / "download"),
        retry_times=2,
        retry_sleep=0.1,
        properties_file=None,
        transport=transport,
    )
    client.start()
    return client, transport


def test_publish_is_applied_from_the_node_data_without_a_download(
    live_server: LiveServer, tmp_path: Path
) -> None:
    AppFile, Rate = classes()
    live_server.publish_file(APP, ENV, VERSION, "app.properties", "name=first\n")
    live_server.publish_item(APP, ENV, VERSION, "rate", "0.1")
    client, transport = start_client(live_server, tmp_path, [AppFile, Rate])
    try:
        assert (AppFile.name, Rate.value) == ("first", "0.1")
        at_start = len(transport.downloads)
        live_server.publish_file(APP, ENV, VERSION, "app.properties", "name=second\n中=文\n")
        wait_until(lambda: AppFile.name == "second", timeout=10, message="the file change")
        live_server.publish_item(APP, ENV, VERSION, "rate", "0.35")
        wait_until(lambda: Rate.value == "0.35", timeout=10, message="the item change")
        assert len(transport.downloads) == at_start  # no HTTP request for either
        assert client.stats.from_notification == 2
        # the next safety-net check asks with the ETag of what the node carried: 304
        client._enqueue("recheck")
        wait_until(lambda: client.stats.not_modified == 2, timeout=10, message="two 304s")
    finally:
        client.close()


def test_a_file_over_the_notification_limit_is_downloaded(
    live_server: LiveServer, tmp_path: Path
) -> None:
    AppFile, _ = classes()
    live_server.publish_file(APP, ENV, VERSION, "app.properties", "name=small\n")
    client, transport = start_client(live_server, tmp_path, [AppFile])
    try:
        at_start = len(transport.downloads)
        big = "name=big\nblob=" + "x" * (MAX_NOTIFICATION_BYTES + 10) + "\n"
        live_server.publish_file(APP, ENV, VERSION, "app.properties", big)
        wait_until(lambda: AppFile.name == "big", timeout=20, message="the big file")
        assert len(AppFile.blob) == MAX_NOTIFICATION_BYTES + 10
        assert len(transport.downloads) == at_start + 1
        assert client.stats.from_notification == 0
    finally:
        client.close()


def test_node_data_that_is_not_whole_and_current_is_downloaded(
    live_server: LiveServer, tmp_path: Path, zk: KazooClient
) -> None:
    """Node data written by hand (the server holds the truth): each bad form costs a download
    and the server's value is applied, never the node's."""
    AppFile, _ = classes()
    live_server.publish_file(APP, ENV, VERSION, "app.properties", "name=server\n")
    client, transport = start_client(live_server, tmp_path, [AppFile])
    path = config_node("/disconf", COORDS, ConfigType.FILE, "app.properties")
    good = zk.get(path)[0]
    assert read_trailer(good)[1] == b"dcD"
    payload = file_notification_data("name=node\n")
    wrong_digest = payload + good[len(read_trailer(good)[0]) :]
    forms = {
        "no trailer (original server)": payload,
        "digest mismatch": wrong_digest,
        "truncated": file_node_data(payload, complete=True)[:-5],
        "fetch mark (gray release hook)": fetch_marked(file_node_data(payload, complete=True)),
    }
    try:
        for label, data in forms.items():
            before = len(transport.downloads)
            zk.set(path, data)
            wait_until(lambda b=before: len(transport.downloads) > b, timeout=10, message=label)
            assert AppFile.name == "server", label
        assert client.stats.from_notification == 0
        zk.set(path, good)  # and the genuine data is applied without one
        before = len(transport.downloads)
        wait_until(lambda: client.stats.from_notification == 1, timeout=10)
        assert len(transport.downloads) == before and AppFile.name == "server"
    finally:
        client.close()
