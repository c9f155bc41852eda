"""The ``live_server`` fixture: the REAL server (``disconf-web serve``, gunicorn) in a subprocess.

::

    def test_something(live_server):
        live_server.publish_file("demo", "dev", "1_0_0", "redis.properties", "a=1\\n")
        requests.get(live_server.url + "/api/config/file", params={...})
        live_server.stop(); live_server.start()   # same port, same database

Attributes: ``url`` (``http://127.0.0.1:<port>``), ``port``, ``zk_hosts`` (the test's chroot),
``database_url`` (SQLite in ``tmp_path``), ``admin_token``, ``pid``, ``log_path``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from disconf_web.embedded_zookeeper import free_port
from tests.helpers import Budget

__all__ = ["LiveServer", "live_server"]


class LiveServer:
    """One ``disconf-web serve`` process tree (gunicorn arbiter + workers), stopped by PID."""

    def __init__(
        self,
        base_dir: Path,
        zk_hosts: str,
        *,
        port: int | None = None,
        workers: int = 2,
        extra_env: dict[str, str] | None = None,
        database_url: str | None = None,
    ) -> None:
        self.base_dir = base_dir
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.zk_hosts = zk_hosts
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # An empty database to migrate (e.g. a fresh MariaDB one); default SQLite in base_dir.
        self.database_url = database_url or f"sqlite:///{base_dir / 'disconf.sqlite'}"
        self.workers = workers
        self.log_path = base_dir / "server.log"
        self.extra_env = dict(extra_env or {})
        self.secret_key = secrets.token_hex(16)
        self._process: subprocess.Popen[bytes] | None = None
        self.http = requests.Session()
        self.admin_token = self._bootstrap()

    def _bootstrap(self) -> str:
        from disconf_web import services
        from disconf_web.extensions import Database
        from disconf_web.migrate import upgrade

        upgrade(self.database_url)
        database = Database(self.database_url)
        try:
            with database.new_session() as session:
                services.create_user(
                    session, name="admin", password="admin-password", role="admin", actor="test"
                )
                return services.create_token(session, user="admin", actor="test").secret
        finally:
            database.dispose()

    @property
    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("DISCONF_")}
        env.update(
            DISCONF_DATABASE_URL=self.database_url,
            DISCONF_ZK_HOSTS=self.zk_hosts,
            DISCONF_SECRET_KEY=self.secret_key,
            DISCONF_NOTIFY_SWEEP_INTERVAL="0.5",
            DISCONF_NOTIFY_BACKOFF_MAX="2",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 60.0) -> LiveServer:
        """Start (or restart) on the same port and database; waits until ``/readyz`` is 200."""
        if self.is_running():
            return self
        command = [
            sys.executable, "-m", "disconf_web", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
        ]  # fmt: skip
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self._process = subprocess.Popen(
                command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        budget = Budget(timeout)
        while not budget.expired():
            if not self.is_running():
                raise RuntimeError(f"disconf-web serve exited: {self.log_tail()}")
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"disconf-web serve not ready after {timeout}s: {self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the gunicorn arbiter (it stops its workers); SIGKILL the group if stuck."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        # Workers of a killed arbiter are in its process group (start_new_session).
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return "(no log)"

    # -- conveniences over the admin API ----------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.admin_token}", **kwargs.pop("headers", {})}
        return self.http.request(
            method, self.url + "/api/v1" + path, headers=headers, timeout=30, **kwargs
        )

    def ensure_app_env(self, app: str, env: str) -> None:
        for path, name in (("/apps", app), ("/envs", env)):
            response = self.api("POST", path, json={"name": name})
            if response.status_code not in (201, 409):
                raise RuntimeError(f"POST {path} {name!r}: {response.status_code} {response.text}")

    def publish_file(
        self, app: str, env: str, version: str, name: str, content: str | bytes
    ) -> dict[str, Any]:
        """PUT a file through the admin API (creating app/env if missing); the JSON answer."""
        self.ensure_app_env(app, env)
        data = content.encode("utf-8") if isinstance(content, str) else content
        response = self.api(
            "PUT", f"/apps/{app}/envs/{env}/versions/{version}/files/{name}", data=data
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(f"publish {name!r}: {response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result

    def publish_item(
        self, app: str, env: str, version: str, key: str, value: str
    ) -> dict[str, Any]:
        """PUT an item through the admin API (creating app/env if missing); the JSON answer."""
        self.ensure_app_env(app, env)
        response = self.api(
            "PUT", f"/apps/{app}/envs/{env}/versions/{version}/items/{key}", json={"value": value}
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(f"publish {key!r}: {response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result

    def close(self) -> None:
        self.stop()
        self.http.close()


@pytest.fixture
def live_server(tmp_path: Path, zk_hosts: str) -> Iterator[LiveServer]:
    """The real server (2 gunicorn workers, SQLite in tmp_path, ZooKeeper = ``zk_hosts``)."""
    server = LiveServer(tmp_path / "live_server", zk_hosts)
    try:
        server.start()
        yield server
    finally:
        server.close()
