"""Headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright; nothing downloaded.

In CI (``CI=true``) a missing chromium or Playwright is a failure, elsewhere a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import service_missing

CHROMIUM = os.environ.get("DISCONF_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module: Playwright's sync API marks an asyncio loop as running in
    the main thread while it is open, so it must not outlive the browser tests (a later test
    that runs an event loop would fail with "another loop is running")."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        service_missing(f"playwright is not installed: {exc}")
    if not os.path.exists(CHROMIUM):
        service_missing(f"chromium not found at {CHROMIUM} (scripts/bootstrap.sh --test)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 860}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
