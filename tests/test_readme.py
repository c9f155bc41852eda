"""The README stays true to the code: its commands exist and its Python snippet runs as shown
against a real server (only the server address is replaced)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.plugins.web import LiveServer

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_setup_commands() -> None:
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == [
        "scripts/bootstrap.sh && .venv/bin/disconf-web quickstart",
        "scripts/test.sh",
    ]
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    for script in ("scripts/bootstrap.sh", "scripts/test.sh", ".ci/run"):
        assert os.access(ROOT / script, os.X_OK), script


def test_readme_links_point_at_files_that_exist() -> None:
    for target in re.findall(r"\]\(((?:docs|examples)/[^)#]+)\)", README):
        assert (ROOT / target).exists(), target


def test_readme_python_snippet_runs(live_server: LiveServer, tmp_path: Path) -> None:
    snippet = README.split("```python\n", 1)[1].split("```", 1)[0]
    assert "127.0.0.1:8080" in snippet
    code = snippet.replace("127.0.0.1:8080", f"127.0.0.1:{live_server.port}")
    live_server.publish_file(
        "demo", "dev", "1_0_0", "redis.properties", "redis.host=10.0.0.7\nredis.port=6380\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCONF_")}
    env["DISCONF_DOWNLOAD_DIR"] = str(tmp_path / "download")
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "10.0.0.7 6380"
