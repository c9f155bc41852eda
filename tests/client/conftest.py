"""Fixtures of the client tests: a fake HTTP server + a real ZooKeeper, and a client factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from disconf_client import ClientSettings, DisconfClient, LoadMode
from disconf_core import (
    ConfigType,
    Coordinates,
    config_node,
    file_notification_data,
    item_notification_data,
)
from tests.client.fakes import FakeDisconfServer

COORDS = Coordinates("demo", "1_0_0_0", "test")


class Harness:
    """A fake Disconf server whose notifications go through the real (chrooted) ZooKeeper."""

    def __init__(self, zk: KazooClient, zk_hosts: str, tmp_path: Path) -> None:
        self.zk = zk
        self.server = FakeDisconfServer(zk_hosts=zk_hosts, prefix="/disconf")
        self.tmp_path = tmp_path
        self.download_dir = tmp_path / "download"
        self.clients: list[DisconfClient] = []

    def node(self, kind: ConfigType, name: str) -> str:
        return config_node("/disconf", COORDS, kind, name)

    def publish_file(self, name: str, content: str | bytes, *, notify: bool = True) -> None:
        data = content.encode() if isinstance(content, str) else content
        self.server.files[name] = data
        if notify:
            path = self.node(ConfigType.FILE, name)
            self.zk.ensure_path(path)
            self.zk.set(path, file_notification_data(data.decode("utf-8", "replace")))

    def publish_item(self, key: str, value: str, *, notify: bool = True) -> None:
        self.server.items[key] = value
        if notify:
            path = self.node(ConfigType.ITEM, key)
            self.zk.ensure_path(path)
            self.zk.set(path, item_notification_data(value))

    def settings(self, **overrides: Any) -> ClientSettings:
        values: dict[str, Any] = {
            "app": COORDS.app,
            "env": COORDS.env,
            "version": COORDS.version,
            "servers": ("http://fake",),
            "mode": LoadMode.AUTO,
            "download_dir": self.download_dir,
            "retry_times": 2,
            "retry_sleep": 0.05,
            "http_timeout": 2.0,
        }
        values.update(overrides)
        return ClientSettings(**values)

    def client(self, configs: list[type], **kwargs: Any) -> DisconfClient:
        client_kwargs = {k: kwargs.pop(k) for k in ("on_change", "on_error") if k in kwargs}
        client = DisconfClient(
            configs,
            settings=self.settings(**kwargs),
            transport=self.server.transport(),
            **client_kwargs,
        )
        self.clients.append(client)
        return client

    def instances(self, kind: ConfigType, name: str) -> list[tuple[str, bytes]]:
        path = self.node(kind, name)
        if not self.zk.exists(path):
            return []
        return [(child, self.zk.get(f"{path}/{child}")[0]) for child in self.zk.get_children(path)]


@pytest.fixture
def harness(zk: KazooClient, zk_hosts: str, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(zk, zk_hosts, tmp_path)
    try:
        yield h
    finally:
        for client in h.clients:
            client.close()


Recorder = Callable[..., None]
