"""The upload commands people type work against the real server (issue 10): curl's
``--data-binary`` (sent as application/x-www-form-urlencoded) and ``-F file=@...`` (multipart)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from tests.plugins.web import LiveServer

CONTENT = b"redis.host=127.0.0.1\nredis.port=6379\n# a+b=c&d\n"


def _curl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is not installed: the printed commands cannot be checked")
    return subprocess.run(
        [curl, "-sS", "-w", "\n%{http_code}", *args],
        cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_printed_curl_commands_upload_the_file(live_server: LiveServer, tmp_path: Path) -> None:
    live_server.ensure_app_env("demo", "dev")
    (tmp_path / "redis.properties").write_bytes(CONTENT)
    auth = f"Authorization: Bearer {live_server.admin_token}"
    base = f"{live_server.url}/api/v1/apps/demo/envs/dev/versions/1_0_0/files"

    # as the quickstart banner and the README print it
    raw = _curl("-X", "PUT", "-H", auth, "--data-binary", "@redis.properties",
                f"{base}/redis.properties", cwd=tmp_path)  # fmt: skip
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout.endswith("\n201"), raw.stdout

    # the other thing people type
    multipart = _curl("-X", "PUT", "-H", auth, "-F", "file=@redis.properties",
                      f"{base}/multi.properties", cwd=tmp_path)  # fmt: skip
    assert multipart.returncode == 0, multipart.stderr
    assert multipart.stdout.endswith("\n201"), multipart.stdout

    for name in ("redis.properties", "multi.properties"):
        stored = requests.get(
            f"{live_server.url}/api/config/file",
            params={"app": "demo", "env": "dev", "version": "1_0_0", "key": name},
            timeout=10,
        )
        assert stored.status_code == 200 and stored.content == CONTENT, name
