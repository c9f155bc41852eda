"""What the benchmarks run against: a ZooKeeper, ``disconf-web serve`` processes, a bare WSGI
"hello" on the same gunicorn settings, worker processes; all on 127.0.0.1, all stopped by PID.

Error Handling
--------------
Every wait is bounded (:class:`BenchError` names what did not happen in time). A server that
exits early raises with the tail of its log. ``stop()`` sends SIGTERM to the process group it
started, then SIGKILL after a bounded wait: nothing is left running.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from disconf_core import DisconfError
from disconf_web.embedded_zookeeper import free_port

__all__ = ["BenchError", "Process", "WebServer", "percentile", "stop_process"]


class BenchError(DisconfError):
    """A benchmark could not run (a server did not start, a wait ran out)."""


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


def stop_process(process: subprocess.Popen[Any] | None, timeout: float = 15.0) -> None:
    """SIGTERM the process group (started with ``start_new_session``), SIGKILL if stuck."""
    if process is None:
        return
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        pass


class Process:
    """A child process in its own session with its output in a log file."""

    def __init__(
        self, command: list[str], log_path: Path, env: dict[str, str] | None = None, **kw: Any
    ) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen: subprocess.Popen[bytes] = subprocess.Popen(
                command,
                env=env,
                stdout=kw.pop("stdout", log),
                stderr=log,
                stdin=kw.pop("stdin", subprocess.DEVNULL),
                start_new_session=True,
                **kw,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        stop_process(self.popen)


def python_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DISCONF_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class WebServer:
    """``disconf-web serve`` (default workers unless given) on a database and ZooKeeper."""

    def __init__(
        self,
        base_dir: Path,
        database_url: str,
        zk_hosts: str,
        *,
        workers: int | None = None,
        name: str = "web",
        module: str = "disconf_web",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.base_dir = base_dir
        base_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url
        self.zk_hosts = zk_hosts
        self.workers = workers
        self.name = name
        self.module = module  # "bench.gthread": the previous serving, for comparison
        self.extra_env = dict(extra_env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: Process | None = None
        self.http = requests.Session()
        self.admin_token = ""

    def bootstrap_admin(self) -> str:
        """Migrate and create an admin token (once per database)."""
        from disconf_web import services
        from disconf_web.extensions import Database
        from disconf_web.migrate import upgrade

        upgrade(self.database_url)
        database = Database(self.database_url)
        try:
            with database.new_session() as session:
                services.create_user(
                    session, name="bench", password=secrets.token_hex(8), role="admin", actor="b"
                )
                self.admin_token = services.create_token(session, user="bench", actor="b").secret
        finally:
            database.dispose()
        return self.admin_token

    def start(self, timeout: float = 90.0) -> WebServer:
        command = [sys.executable, "-m", self.module]
        command += ["serve"] if self.module == "disconf_web" else []
        command += ["--port", str(self.port)]
        if self.workers:
            command += ["--workers", str(self.workers)]
        env = python_env(
            DISCONF_DATABASE_URL=self.database_url,
            DISCONF_ZK_HOSTS=self.zk_hosts,
            DISCONF_SECRET_KEY=secrets.token_hex(16),
            DISCONF_NOTIFY_SWEEP_INTERVAL="0.5",
            **self.extra_env,
        )
        self.process = Process(command, self.base_dir / f"{self.name}.log", env)
        wait_http_ok(self.url + "/readyz", self.process, timeout)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        self.http.close()

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.admin_token}", **kwargs.pop("headers", {})}
        return self.http.request(
            method, self.url + "/api/v1" + path, headers=headers, timeout=30, **kwargs
        )

    def ensure_app_env(self, app: str, env: str) -> None:
        for path, name in (("/apps", app), ("/envs", env)):
            response = self.api("POST", path, json={"name": name})
            if response.status_code not in (201, 409):
                raise BenchError(f"POST {path} {name!r}: {response.status_code} {response.text}")

    def publish_item(self, app: str, env: str, version: str, key: str, value: str) -> str:
        """PUT an item; returns the notification state (``delivered``/``pending``)."""
        response = self.api(
            "PUT", f"/apps/{app}/envs/{env}/versions/{version}/items/{key}", json={"value": value}
        )
        if response.status_code not in (200, 201):
            raise BenchError(f"publish {key!r}: {response.status_code} {response.text[:300]}")
        return str(response.json().get("notification"))

    def publish_file(self, app: str, env: str, version: str, name: str, content: str) -> None:
        response = self.api(
            "PUT",
            f"/apps/{app}/envs/{env}/versions/{version}/files/{name}",
            data=content.encode("utf-8"),
        )
        if response.status_code not in (200, 201):
            raise BenchError(f"publish {name!r}: {response.status_code} {response.text[:300]}")


class HelloServer:
    """The ceiling: a bare WSGI "hello" behind the same gunicorn settings as ``serve``."""

    def __init__(self, base_dir: Path, workers: int | None = None) -> None:
        self.base_dir = base_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.process: Process | None = None

    def start(self, timeout: float = 60.0) -> HelloServer:
        command = [sys.executable, "-m", "bench.hello", "--port", str(self.port)]
        if self.workers:
            command += ["--workers", str(self.workers)]
        self.process = Process(command, self.base_dir / "hello.log", python_env())
        wait_http_ok(self.url + "/", self.process, timeout)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


def wait_http_ok(url: str, process: Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running():
            raise BenchError(f"{url}: the server exited: {process.log_tail()}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    process.stop()
    raise BenchError(f"{url} not ready after {timeout}s: {process.log_tail()}")
