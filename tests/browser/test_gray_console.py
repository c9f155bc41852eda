"""The gray release page in a real browser against the real server (gunicorn, ZooKeeper,
SQLite): open it from the editor, tick one running instance as the target, start, see which
instance runs gray and that it applied it, then promote. Saves ``docs/screenshots/gray.png``
when ``DISCONF_SCREENSHOTS=1`` (otherwise to a temporary folder)."""

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
MAIN = "host=10.0.0.5\nport=6379\n"
GRAY = "host=10.0.0.6\nport=6379\n"


def test_gray_release_from_the_console(
    page: Any, live_server: LiveServer, zk: KazooClient, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shots = SHOTS if os.environ.get("DISCONF_SCREENSHOTS") == "1" else tmp_path
    base = live_server.url
    page.on("dialog", lambda dialog: dialog.accept())
    live_server.publish_file("shop", "prod", "1_0_0", "redis.properties", MAIN)
    coords = Coordinates(app="shop", version="1_0_0", env="prod")
    node = config_node("/disconf", coords, ConfigType.FILE, "redis.properties")
    for name in ("web-1_4242_0a1b2c", "web-2_4343_3d4e5f"):
        zk.create(
            f"{node}/{name}", file_instance_data("redis.properties", MAIN),
            ephemeral=True, makepath=True,
        )  # fmt: skip

    page.goto(base + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin-password")
    page.click("button[type=submit]")
    page.goto(base + "/apps/shop/envs/prod/versions/1_0_0/files/redis.properties")
    page.click("a.button:has-text('Gray release')")
    expect(page).to_have_url(re.compile(r"/files/redis.properties/gray$"))
    expect(page.locator("table.instances")).to_contain_text("web-2_4343_3d4e5f")

    page.check("input[name=instance][value='web-1_4242_0a1b2c']")
    page.fill("textarea[name=content]", GRAY)
    page.fill("#gray-start input[name=comment]", "new redis primary on web-1 first")
    page.click("button:has-text('Start gray release')")
    expect(page.locator(".flash-ok")).to_contain_text("Gray release #1 started")
    expect(page.locator("h2")).to_contain_text(["Gray release #1 is running"])

    # web-1 applies the gray content and reports it, as our client does.
    zk.set(f"{node}/web-1_4242_0a1b2c", file_instance_data("redis.properties", GRAY))

    def applied() -> bool:
        page.reload()
        rows = page.locator("table.instances tbody tr")
        return rows.count() == 2 and "gray" in rows.nth(0).inner_text()

    wait_until(applied, timeout=30, interval=0.5, message="web-1 reported as running gray")
    first = page.locator("table.instances tbody tr").nth(0)
    expect(first).to_contain_text("yes")
    expect(page.locator("table.instances tbody tr").nth(1)).to_contain_text("main")
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "gray.png"), full_page=True)

    page.fill("form:has(button:has-text('Promote')) input[name=comment]", "looks good")
    page.click("button:has-text('Promote to everyone')")
    expect(page.locator(".flash-ok")).to_contain_text("promoted")
    expect(page.locator("text=Start a gray release")).to_be_visible()
    expect(page.locator("table").last).to_contain_text("promoted")
