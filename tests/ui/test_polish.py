"""Console polish found in a browser walk-through, checked on the HTML: unified diffs without a
blank line after every line, error pages without stray separators, readable audit details, the
password field focused after a failed login, the real CLI command on the login page."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from disconf_web import get_db
from disconf_web.services import console as ops

from .conftest import PASSWORD, Console, publish

V = "/apps/demo/envs/dev/versions/1_0"
F = V + "/files/a.properties"


def _unified_blocks(html: str) -> list[str]:
    blocks = re.findall(r'<pre class="diff unified">(.*?)</pre>', html, flags=re.S)
    assert blocks, html
    return blocks


def _assert_one_line_per_row(html: str) -> None:
    """Rows are display:block spans: any text between them (a newline) is an extra line."""
    for block in _unified_blocks(html):
        between = re.findall(r"</span>(.*?)<span", block, flags=re.S)
        assert between and all(text == "" for text in between), block
        assert block.startswith("<span") and block.endswith("</span>"), block


def test_unified_diffs_have_no_blank_lines(app: Flask, as_role: Any) -> None:
    publish(app, "a.properties", "a=1\nb=1\nc=1\n")
    publish(app, "a.properties", "a=2\nb=1\nc=2\n")
    editor: Console = as_role("editor")
    _assert_one_line_per_row(editor.get(F + "/history?a=1&b=2").text)  # history
    page = editor.get(F).text
    md5 = re.search(r'name="base_md5" value="([0-9a-f]+)"', page)
    assert md5 is not None
    preview = editor.post(F, {"content": "a=3\nb=1\n", "base_md5": md5.group(1)})
    _assert_one_line_per_row(preview.text)  # edit preview
    conflict = editor.post(F, {"content": "a=4\n", "base_md5": "0" * 32, "action": "publish"})
    assert conflict.status_code == 409
    _assert_one_line_per_row(conflict.text)  # conflict
    publish(app, "a.properties", "a=0\n", version="2_0")
    copy = editor.get("/apps/demo/copy?from_env=dev&from_version=1_0&to_env=dev&to_version=2_0")
    _assert_one_line_per_row(copy.text)  # copy preview


def test_error_page_has_no_stray_separators(as_role: Any) -> None:
    editor: Console = as_role("editor")
    plain = editor.get("/users")
    assert plain.status_code == 403
    links = re.search(r'<p class="error-links">(.*?)</p>', plain.text, flags=re.S)
    assert links is not None
    text = re.sub(r"<[^>]+>", "", links.group(1)).strip()
    assert text == "Apps"
    referred = editor.get("/users", headers={"Referer": "http://localhost/apps"})
    links = re.search(r'<p class="error-links">(.*?)</p>', referred.text, flags=re.S)
    assert links is not None
    assert re.sub(r"<[^>]+>", "", links.group(1)).strip() == "← Go back · Apps"


def test_audit_details_are_key_value_pairs(app: Flask, as_role: Any) -> None:
    with get_db(app).new_session() as session:
        ops.audit(
            session, actor="admin", action="user.role", target="viewer", app="demo",
            old="viewer", new="editor", comment='say "hi"', count=3,
        )  # fmt: skip
        session.commit()
    page = as_role("admin").get("/audit").text
    row = next(r for r in re.findall(r"<tr>.*?</tr>", page, flags=re.S) if "user.role" in r)
    detail = re.search(r'<td class="small detail">(.*?)</td>', row, flags=re.S)
    assert detail is not None
    pairs = re.findall(
        r'<span class="k">(.*?)</span> <span class="v mono">(.*?)</span>', detail.group(1)
    )
    assert pairs == [
        ("old", "viewer"),
        ("new", "editor"),
        ("comment", "say &#34;hi&#34;"),
        ("count", "3"),
    ]
    assert "\\&#34;" not in detail.group(1) and "{" not in detail.group(1)


def test_failed_login_focuses_the_password(console: Console) -> None:
    first = console.get("/login").text
    assert re.search(r'<input name="username"[^>]*autofocus', first)
    assert not re.search(r'<input name="password"[^>]*autofocus', first)
    token = console.csrf()
    failed = console.client.post(
        "/login",
        data={"username": "editor", "password": "wrong", "csrf_token": token},
        environ_base=console.environ,
    )
    assert failed.status_code == 401
    assert re.search(r'<input name="password"[^>]*autofocus', failed.text)
    assert not re.search(r'<input name="username"[^>]*autofocus', failed.text)
    assert 'value="editor"' in failed.text
    assert console.login("editor", PASSWORD).status_code == 302


def test_login_page_names_the_real_command(console: Console) -> None:
    page = console.get("/login").text
    assert "disconf-web create-user" in page and "user create" not in page


def test_standby_panel_says_why_zookeeper_cannot_be_read(app: Flask, as_role: Any) -> None:
    publish(app, "a.properties", "a=1\n")
    page = as_role("viewer").get(V).text
    panel = page.split('id="standby"', 1)[1]
    assert "DISCONF_ZK_ENABLED=false" in panel and "not reachable" not in panel
