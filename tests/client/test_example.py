"""Runs examples/client_demo/demo.py as a real process against the real server (live_server)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import Budget
from tests.plugins.web import LiveServer

DEMO = Path(__file__).resolve().parents[2] / "examples" / "client_demo" / "demo.py"
APP, ENV, VERSION = "demo", "dev", "1_0_0"


class Demo:
    """The demo process; its stdout lines arrive on a queue read by a thread."""

    def __init__(self, live: LiveServer, download_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISCONF_")}
        env.update(
            DISCONF_SERVERS=live.url,
            DISCONF_APP=APP,
            DISCONF_ENV=ENV,
            DISCONF_VERSION=VERSION,
            DISCONF_DOWNLOAD_DIR=str(download_dir),
            DISCONF_RETRY_TIMES="1",
            DISCONF_RETRY_SLEEP="0.2",
            PYTHONPATH=str(DEMO.parents[2]),
            PYTHONUNBUFFERED="1",
        )
        self.process = subprocess.Popen(
            [sys.executable, str(DEMO), "--interval", "0.2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=download_dir.parent,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.put(raw.decode().rstrip("\n"))

    def expect(self, fragment: str, timeout: float = 20.0) -> float:
        """Wait for a line containing ``fragment``; returns the seconds it took."""
        start = time.monotonic()
        budget = Budget(timeout)
        while True:
            if budget.expired():
                raise AssertionError(f"demo never printed {fragment!r}")
            try:
                line = self.lines.get(timeout=min(0.5, budget.left()))
            except queue.Empty:
                continue
            if fragment in line:
                return time.monotonic() - start

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.mark.slow
def test_demo_follows_changes_survives_outages(live_server: LiveServer, tmp_path: Path) -> None:
    download = tmp_path / "download"
    live_server.publish_file(APP, ENV, VERSION, "redis.properties", "redis.host=h1\nredis.port=1\n")
    live_server.publish_item(APP, ENV, VERSION, "discountRate", "0.5")
    demo = Demo(live_server, download)
    try:
        demo.expect("CONFIG source=server host=h1 port=1 discount=0.5")
        live_server.publish_file(
            APP, ENV, VERSION, "redis.properties", "redis.host=h2\nredis.port=2\n"
        )
        took = demo.expect("CONFIG source=server host=h2 port=2", timeout=10)
        print(f"change picked up by the demo {took:.3f}s after the publish returned")
        live_server.stop()
        demo.expect("SERVING host=h2 port=2")  # keeps serving while the server is stopped
        demo.expect("SERVING host=h2 port=2")
    finally:
        demo.stop()
    assert demo.process.returncode == 0

    live_server.start()
    live_server.publish_file(APP, ENV, VERSION, "redis.properties", "redis.host=h3\nredis.port=3\n")
    live_server.stop()
    demo = Demo(live_server, download)  # the server is down: starts from its snapshot
    try:
        demo.expect("CONFIG source=snapshot host=h2 port=2 discount=0.5")
        live_server.start()
        demo.expect("CONFIG source=server host=h3 port=3", timeout=30)  # catches up
        live_server.publish_item(APP, ENV, VERSION, "discountRate", "0.75")
        demo.expect("discount=0.75", timeout=10)
    finally:
        demo.stop()
    assert demo.process.returncode == 0
