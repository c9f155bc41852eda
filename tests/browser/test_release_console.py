"""Release management in a real browser against the real server (gunicorn, ZooKeeper, SQLite):
the publish guard refusing a file that does not parse in the editor's diff preview (line and
column, nothing stored) and an item value a running instance's schema rejects (naming it),
then exporting a version's bundle and importing it into another env with the preview (added,
changed with its diff) and the all-or-nothing apply. Saves ``docs/screenshots/guard-preview.png``,
``guard-fleet-preview.png`` and ``import-preview.png`` when ``DISCONF_SCREENSHOTS=1``
(otherwise to a temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from disconf_core import Coordinates
from disconf_core.schema import item_schemas_data, schema_node
from tests.plugins.web import LiveServer

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
V = "/apps/shop/envs/{env}/versions/1_0_0"


def test_guard_preview_and_bundle_export_import(
    page: Any, live_server: LiveServer, zk: KazooClient, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shots = SHOTS if os.environ.get("DISCONF_SCREENSHOTS") == "1" else tmp_path / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    live_server.publish_file("shop", "prod", "1_0_0", "shop.json", '{"port": 8080}\n')
    live_server.publish_file("shop", "prod", "1_0_0", "redis.properties", "host=10.0.0.5\n")
    live_server.publish_file("shop", "staging", "1_0_0", "redis.properties", "host=10.9.9.9\n")

    page.goto(base + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin-password")
    page.click("button[type=submit]")

    # The guard in the editor's diff preview: line and column, and nothing is stored.
    page.goto(base + V.format(env="prod") + "/files/shop.json")
    page.fill("textarea[name=content]", '{"port": 8080,\n "host" "a"}\n')
    page.click("button[value=preview]")
    expect(page.locator(".flash-error")).to_contain_text("line 2, column 9")
    page.screenshot(path=str(shots / "guard-preview.png"), full_page=True)
    stored = live_server.api("GET", V.format(env="prod") + "/files/shop.json")
    assert stored.text == '{"port": 8080}\n'

    # An item a running instance binds as a float: the preview names the instance's refusal.
    live_server.publish_item("shop", "prod", "1_0_0", "rate", "0.5")
    schema = {"v": 1, "format": "item", "fields": [
        {"key": "rate", "type": {"type": "float"}, "required": True}]}  # fmt: skip
    coords = Coordinates(app="shop", version="1_0_0", env="prod")
    zk.create(
        schema_node("/disconf", coords) + "/web-1_4242_0a1b2c",
        item_schemas_data({"rate": schema}), ephemeral=True, makepath=True,
    )  # fmt: skip
    page.goto(base + V.format(env="prod") + "/items/rate")
    page.fill("textarea[name=value]", "abc")
    page.click("button[value=preview]")
    expect(page.locator(".flash-error")).to_contain_text(
        "1 instance of shop would reject `rate=abc`: expected float"
    )
    page.screenshot(path=str(shots / "guard-fleet-preview.png"), full_page=True)

    # Export prod's bundle from the version page.
    page.goto(base + V.format(env="prod"))
    page.click("a.button:has-text('Export / import bundle')")
    with page.expect_download() as download:
        page.click('a:has-text("export this version\'s bundle")')
    bundle = tmp_path / "shop.bundle.json"
    download.value.save_as(str(bundle))
    assert '"disconf-bundle"' in bundle.read_text(encoding="utf-8")

    # Import it into staging: the preview first, then apply.
    page.goto(base + V.format(env="staging") + "/import")
    page.set_input_files("input[name=bundle_file]", str(bundle))
    page.click("button[value=preview]")
    expect(page.locator("section.preview")).to_contain_text("2 added")
    expect(page.locator("section.preview")).to_contain_text("1 changed")
    expect(page.locator("pre.diff")).to_contain_text("host=10.0.0.5")
    page.fill("section.preview input[name=comment]", "staging from prod's bundle")
    page.screenshot(path=str(shots / "import-preview.png"), full_page=True)
    page.click("button[value=apply]")
    expect(page.locator(".flash-ok")).to_contain_text("Imported the bundle")
    imported = live_server.api("GET", V.format(env="staging") + "/files/redis.properties")
    assert imported.text == "host=10.0.0.5\n"
    assert live_server.api("GET", V.format(env="staging") + "/files/shop.json").status_code == 200
