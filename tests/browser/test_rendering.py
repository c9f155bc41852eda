"""What only a rendering engine shows: the focused field after a failed login, the size of a
file name in a heading, and that a unified diff's lines follow each other without blank lines
(headless Chromium against the real server)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.plugins.web import LiveServer

pytestmark = pytest.mark.browser

F = "/apps/shop/envs/prod/versions/1_0_0/files/redis.properties"


def _log_in(page: Any, base: str) -> None:
    from playwright.sync_api import expect

    page.goto(base + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator(".flash-error")).to_contain_text("Wrong user name or password")
    # The browser applies autofocus at its next rendering step, after the page is shown: wait.
    expect(page.locator("input[name=password]")).to_be_focused()
    page.fill("input[name=password]", "admin-password")
    page.click("button[type=submit]")
    expect(page).to_have_url(base + "/apps")


def _heading_ratio(page: Any) -> float:
    sizes = page.evaluate(
        """() => {
            const h1 = document.querySelector('h1');
            const name = h1.querySelector('.mono');
            return [parseFloat(getComputedStyle(h1).fontSize),
                    parseFloat(getComputedStyle(name).fontSize)];
        }"""
    )
    return float(sizes[1]) / float(sizes[0])


def _unified_gaps(page: Any) -> list[float]:
    """Vertical space between consecutive lines of the visible unified diff (px)."""
    gaps: list[float] = page.evaluate(
        """() => {
            const pre = [...document.querySelectorAll('pre.diff.unified')]
                .find(p => p.offsetParent !== null);
            const spans = [...pre.querySelectorAll(':scope > span')];
            const gaps = [];
            for (let i = 1; i < spans.length; i++) {
                gaps.push(spans[i].getBoundingClientRect().top
                          - spans[i - 1].getBoundingClientRect().bottom);
            }
            return gaps;
        }"""
    )
    return gaps


def test_focus_heading_size_and_unified_diff(page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    base = live_server.url
    live_server.publish_file("shop", "prod", "1_0_0", "redis.properties", "a=1\nb=1\nc=1\n")
    live_server.publish_file("shop", "prod", "1_0_0", "redis.properties", "a=2\nb=1\nc=2\n")
    _log_in(page, base)

    page.goto(base + F)
    expect(page.locator("h1")).to_contain_text("redis.properties")
    assert _heading_ratio(page) >= 0.9

    page.goto(base + F + "/history?a=1&b=2")
    expect(page.locator("h1")).to_contain_text("History of")
    assert _heading_ratio(page) >= 0.9
    page.click("button[data-tab=unified]")
    expect(page.locator("pre.diff.unified")).to_be_visible()
    gaps = _unified_gaps(page)
    assert len(gaps) >= 3 and all(abs(gap) < 1 for gap in gaps), gaps
    text = page.locator("pre.diff.unified").inner_text()
    assert not re.search(r"\n\s*\n", text.strip()), text
