"""The console in a real browser against the real server (gunicorn, ZooKeeper, SQLite):
log in, create an env and an app, upload a file, see a running client in the self-check
column, edit and publish with the diff, view the history, roll back. Saves the screenshots of
``docs/console.md`` to ``docs/screenshots/`` when ``DISCONF_SCREENSHOTS=1`` (otherwise to a
temporary folder, so test runs leave the tree clean)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from disconf_core import ConfigType, Coordinates, config_node, file_instance_data
from tests.helpers import wait_until
from tests.plugins.web import LiveServer

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _shot(page: Any, name: str) -> None:
    folder = SHOTS if os.environ.get("DISCONF_SCREENSHOTS") == "1" else _TMP[0]
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


_TMP: list[Path] = [Path("screenshots")]


def test_console_end_to_end(
    page: Any, live_server: LiveServer, zk: KazooClient, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    _TMP[0] = tmp_path / "screenshots"

    base = live_server.url
    page.on("dialog", lambda dialog: dialog.accept())

    # log in (a wrong password first)
    page.goto(base + "/apps")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator(".flash-error")).to_contain_text("Wrong user name or password")
    page.fill("input[name=password]", "")
    _shot(page, "login")
    page.fill("input[name=password]", "admin-password")
    page.click("button[type=submit]")
    expect(page).to_have_url(base + "/apps")

    # an env, then an app
    page.click("text=Envs")
    page.fill("input[name=name]", "prod")
    page.click("text=Create env")
    expect(page.locator(".flash-ok")).to_contain_text("Env 'prod' created")
    page.click("nav >> text=Apps")
    page.fill("input[name=name]", "shop")
    page.fill("input[name=description]", "Web shop backend (team checkout)")
    page.click("text=Create app")
    expect(page.locator("h1")).to_contain_text("shop")
    live_server.ensure_app_env("billing", "prod")  # a second app for the list
    page.goto(base + "/apps")
    _shot(page, "apps")

    # open env x version and upload a file
    page.goto(base + "/apps/shop")
    page.select_option("select[name=env]", "prod")
    page.fill("input[name=version]", "1_0_0")
    page.click("button:has-text('Open')")
    expect(page).to_have_url(base + "/apps/shop/envs/prod/versions/1_0_0")
    content = "host=10.0.0.5\nport=6379\ntimeout.ms=2000\n"
    page.click("text=Upload a file")
    page.set_input_files(
        "details.upload input[type=file]",
        {"name": "redis.properties", "mimeType": "text/plain", "buffer": content.encode()},
    )
    page.fill("details.upload input[name=comment]", "first version")
    page.click("details.upload button[type=submit]")
    expect(page.locator(".flash-ok")).to_contain_text("Published file 'redis.properties'")
    live_server.publish_item("shop", "prod", "1_0_0", "feature.checkout.v2", "true")

    # a running client: an EPHEMERAL instance node holding what it loaded, like a real client
    coords = Coordinates(app="shop", version="1_0_0", env="prod")
    node = config_node("/disconf", coords, ConfigType.FILE, "redis.properties")
    zk.create(
        node + "/web-1_4242_0a1b2c", file_instance_data("redis.properties", content),
        ephemeral=True, makepath=True,
    )  # fmt: skip

    def client_visible() -> bool:
        page.reload()
        return page.locator("text=1 instance, 0 mismatched").count() == 1

    wait_until(client_visible, timeout=30, interval=0.5, message="the client in the self-check")
    page.click("text=1 instance, 0 mismatched")
    expect(page.locator("table.instances")).to_contain_text("web-1_4242_0a1b2c")
    expect(page.locator("table.instances")).to_contain_text("in sync")
    _shot(page, "configs")

    # edit and publish with the diff
    page.click("a.strong:has-text('redis.properties')")
    page.fill("textarea[name=content]", "host=10.0.0.6\nport=6379\ntimeout.ms=1500\n")
    page.fill("input[name=comment]", "move to the new redis primary")
    page.click("button[value=preview]")
    expect(page.locator("table.diff")).to_contain_text("host=10.0.0.6")
    expect(page.locator("table.diff tr.replace").first).to_be_visible()
    _shot(page, "edit-diff")
    page.click("button[value=publish]")
    expect(page.locator(".flash-ok")).to_contain_text("as revision 2")
    # the client still holds revision 1: the self-check says so
    page.click("text=1 instance, 1 mismatched")
    expect(page.locator("table.instances")).to_contain_text("host")

    # history, diff, rollback
    page.click("tr:has-text('redis.properties') >> text=History")
    expect(page.locator("table.revisions")).to_contain_text("move to the new redis primary")
    expect(page.locator("table.revisions")).to_contain_text("first version")
    _shot(page, "history")
    page.click("text=Roll back to 1")
    expect(page.locator(".flash-ok")).to_contain_text("rolled back to revision 1")
    expect(page.locator("table.revisions tr").nth(1)).to_contain_text("rollback")
    response = live_server.api("GET", "/apps/shop/envs/prod/versions/1_0_0/files/redis.properties")
    assert response.content == content.encode()

    # the audit log has it all
    page.click("text=Audit log")
    expect(page.locator("table.audit")).to_contain_text("config.rollback")
    expect(page.locator("table.audit")).to_contain_text("login.failure")
    _shot(page, "audit")

    # log out
    page.click("text=Log out")
    expect(page.locator(".flash-info")).to_contain_text("You are logged out")
