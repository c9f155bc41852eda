"""Compatibility: an UNMODIFIED community Disconf client of another language against disconf-web.

``node-disconf-client`` 0.1.5 (from npm, pinned in ``tests/compat/node/package-lock.json``) is a
Node.js client written for the original Java server. Pointed at ``disconf-web serve`` it must get
its files and items over the client endpoints, register its EPHEMERAL_SEQUENTIAL instance nodes
so our self-check lists it, and receive a change published through our admin API.
``scripts/bootstrap.sh --test`` installs Node.js and runs ``npm ci`` here.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Budget, service_missing, wait_until
from tests.plugins.web import LiveServer

NODE_DIR = Path(__file__).resolve().parent / "node"
APP, ENV, VERSION = "compat", "dev", "1_0_0_0"
BASE = f"/apps/{APP}/envs/{ENV}/versions/{VERSION}"


class NodeClient:
    """The node process, its JSON-lines output read by a thread into a queue."""

    def __init__(self, server: LiveServer, workdir: Path) -> None:
        env = dict(
            os.environ,
            COMPAT_SERVER=f"127.0.0.1:{server.port}",
            COMPAT_APP=APP,
            COMPAT_ENV=ENV,
            COMPAT_VERSION=VERSION,
            COMPAT_FILES="redis.properties",
            COMPAT_ITEMS="discountRate",
            COMPAT_DIR=str(workdir),
            NODE_NO_WARNINGS="1",
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr_path = workdir / "node.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            ["node", str(NODE_DIR / "run_client.js")],
            cwd=NODE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                continue

    def next_event(self, kind: str, timeout: float = 20.0) -> dict[str, Any]:
        budget = Budget(timeout)
        while not budget.expired():
            try:
                event = self.events.get(timeout=min(0.5, max(0.01, budget.left())))
            except queue.Empty:
                continue
            if event["event"] == "error":
                raise AssertionError(f"node client error: {event['message']}")
            if event["event"] == kind:
                return event
        raise AssertionError(
            f"no {kind!r} event from the node client within {timeout}s; stderr: "
            + self.stderr_path.read_text(errors="replace")[-2000:]
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


@pytest.fixture
def node_client_ready() -> None:
    if shutil.which("node") is None:
        service_missing("node is not installed (scripts/bootstrap.sh --test installs nodejs)")
    if not (NODE_DIR / "node_modules" / "node-disconf-client").is_dir():
        service_missing(f"node-disconf-client is not installed: run 'npm ci' in {NODE_DIR}")


@pytest.fixture
def node_client(
    node_client_ready: None, live_server: LiveServer, tmp_path: Path
) -> Iterator[NodeClient]:
    live_server.publish_file(APP, ENV, VERSION, "redis.properties", REDIS)
    live_server.publish_item(APP, ENV, VERSION, "discountRate", "0.5")
    client = NodeClient(live_server, tmp_path)
    try:
        yield client
    finally:
        client.stop()


REDIS = "# redis\nhost=127.0.0.1\nport=6379\nname=缓存\n"


def _instances(server: LiveServer, kind: str, name: str) -> dict[str, Any]:
    response = server.api("GET", f"{BASE}/{kind}/{name}/instances")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_unmodified_node_client_gets_configs_registers_and_follows_changes(
    node_client: NodeClient, live_server: LiveServer, tmp_path: Path
) -> None:
    ready = node_client.next_event("ready")["data"]
    assert ready["host"] == "127.0.0.1"
    assert str(ready["port"]) == "6379"
    assert ready["name"] == "缓存"  # real UTF-8, not the original's \uXXXX escapes
    assert str(ready["discountRate"]) == "0.5"
    # The Node.js client saves its download with an asynchronous write it does not wait for
    # before "ready" (lib/ConfNode.js), so the file may still be empty at this point.
    saved = tmp_path / "download" / "redis.properties"
    wait_until(
        lambda: saved.exists() and saved.read_text() == REDIS,
        10,
        message="the downloaded redis.properties saved by the Node.js client",
    )

    # Its EPHEMERAL_SEQUENTIAL instance nodes show up in our self-check, matching.
    files = wait_until(
        lambda: (
            (body := _instances(live_server, "files", "redis.properties"))["counts"]["instances"]
            == 1
            and body
        ),
        timeout=20,
        message="the node client's file instance node",
    )
    assert files["counts"]["mismatched"] == 0, files
    items = _instances(live_server, "items", "discountRate")
    assert items["counts"] == {"instances": 1, "mismatched": 0}, items

    # A change published through the admin API reaches it through ZooKeeper.
    started = time.monotonic()
    live_server.publish_file(APP, ENV, VERSION, "redis.properties", REDIS.replace("6379", "6380"))
    change = node_client.next_event("change")
    elapsed = time.monotonic() - started
    print(f"\nnode-disconf-client received the publish after {elapsed * 1000:.0f} ms")
    assert change["key"] == "redis.properties"
    assert str(change["data"]["port"]) == "6380"

    # It reported the new value into its instance node: still no mismatch.
    after = wait_until(
        lambda: (
            (body := _instances(live_server, "files", "redis.properties"))["instances"][0][
                "value"
            ].find("6380")
            >= 0
            and body
        ),
        timeout=20,
        message="the node client's updated instance value",
    )
    assert after["counts"] == {"instances": 1, "mismatched": 0}, after

    live_server.publish_item(APP, ENV, VERSION, "discountRate", "0.75")
    change = node_client.next_event("change")
    assert change["key"] == "discountRate"
    assert str(change["data"]["discountRate"]) == "0.75"
