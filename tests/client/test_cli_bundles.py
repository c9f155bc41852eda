"""``disconf export`` / ``disconf import`` against the real server (admin API, token)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from disconf_client import cli_bundles
from disconf_client.cli import main
from disconf_core import content_md5
from tests.plugins.web import LiveServer

APP, VERSION = "shop", "1_0_0"


def test_export_then_import_into_another_env(
    live_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live_server.publish_file(APP, "prod", VERSION, "redis.properties", "host=a\n")
    live_server.publish_item(APP, "prod", VERSION, "discountRate", "0.1")
    live_server.ensure_app_env(APP, "staging")
    auth = ["--server", live_server.url, "--token", live_server.admin_token]
    bundle = tmp_path / "shop.json"
    assert main(["export", APP, "prod", VERSION, "-o", str(bundle), *auth]) == 0
    document = json.loads(bundle.read_text())
    assert {m["name"] for m in document["manifest"]} == {"redis.properties", "discountRate"}

    assert main(["import", APP, "staging", VERSION, str(bundle), "--preview", *auth]) == 0
    out = capsys.readouterr().out
    assert "added     file redis.properties" in out and "# applied" not in out
    staging = f"/apps/{APP}/envs/staging/versions/{VERSION}"
    assert live_server.api("GET", staging + "/files/redis.properties").status_code == 404

    assert (
        main(["import", APP, "staging", VERSION, str(bundle), "--comment", "promote", *auth]) == 0
    )
    assert "# applied" in capsys.readouterr().out
    assert live_server.api("GET", staging + "/files/redis.properties").content == b"host=a\n"
    assert live_server.api("GET", staging + "/items/discountRate").json()["value"] == "0.1"


def test_a_refused_import_exits_1_with_the_servers_message(
    live_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live_server.ensure_app_env(APP, "prod")
    text = '{"a": 1,\n "b" 2}'
    bundle = tmp_path / "bad.json"
    bundle.write_text(
        json.dumps(
            {
                "format": "disconf-bundle",
                "format_version": 1,
                "manifest": [{"kind": "file", "name": "x.json", "md5": content_md5(text)}],
                "files": {"x.json": text},
            }
        )
    )
    auth = ["--server", live_server.url, "--token", live_server.admin_token]
    assert main(["import", APP, "prod", VERSION, str(bundle), *auth]) == 1
    err = capsys.readouterr().err
    assert "HTTP 422" in err and "line 2, column 6" in err
    assert main(["export", APP, "prod", VERSION, "--server", live_server.url, "--token", "x"]) == 1


def test_a_server_that_never_answers_fails_within_the_http_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every request of export/import is bounded by cli_bundles.HTTP_TIMEOUT (made short here)."""
    monkeypatch.setattr(cli_bundles, "HTTP_TIMEOUT", 0.3)
    mute = socket.create_server(("127.0.0.1", 0), backlog=16)  # never accepts: a black hole
    try:
        auth = ["--server", f"127.0.0.1:{mute.getsockname()[1]}", "--token", "t"]
        assert main(["export", APP, "prod", VERSION, *auth]) == 1
        bundle = tmp_path / "b.json"
        bundle.write_text('{"format": "disconf-bundle"}')
        assert main(["import", APP, "prod", VERSION, str(bundle), *auth]) == 1
        assert "timed out" in capsys.readouterr().err
    finally:
        mute.close()
