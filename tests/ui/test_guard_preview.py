"""The console's diff preview runs the publish guard: a file that does not parse is shown with
its line and column (422) before anything is stored, and publishing it is refused."""

from __future__ import annotations

import re
from typing import Any

from disconf_web import get_db
from disconf_web.models import Config

from .conftest import publish

F = "/apps/demo/envs/dev/versions/1_0/files/shop.json"


def _md5(page: str) -> str:
    match = re.search(r'name="base_md5" value="([0-9a-f]+)"', page)
    assert match, page
    return match.group(1)


def test_preview_and_publish_show_the_syntax_error(app: Any, as_role: Any) -> None:
    publish(app, "shop.json", '{"port": 8080}\n')
    editor = as_role("editor")
    md5 = _md5(editor.get(F).text)
    bad = '{"port": 8080,\n "host" "a"}\n'
    preview = editor.post(F, {"content": bad, "base_md5": md5, "action": "preview"})
    assert preview.status_code == 422
    assert "line 2, column 9" in preview.text and "Expecting" in preview.text
    published = editor.post(F, {"content": bad, "base_md5": md5, "action": "publish"})
    assert published.status_code == 422 and "line 2, column 9" in published.text
    with get_db(app).new_session() as session:
        assert session.query(Config).one().value == '{"port": 8080}\n'
    fine = editor.post(F, {"content": '{"port": 1}\n', "base_md5": md5, "action": "preview"})
    assert fine.status_code == 200 and "flash-error" not in fine.text
