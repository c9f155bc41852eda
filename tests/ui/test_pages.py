"""Every console list is paginated: a version with 3,000 items and 300 files and a file with
2,000 revisions render bounded pages; following the page links visits every row exactly once;
revision lists carry metadata and load values per compared revision. Also the smaller lists
(apps, envs, audit, users, tokens) page with ``?limit=``, and one view creates files and items."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import sqlalchemy as sa
from flask import Flask

from disconf_core import ConfigType
from disconf_web import get_db
from disconf_web.models import App, Config, ConfigRevision, Env, utcnow
from disconf_web.services import console as ops
from disconf_web.ui.scope import PAGE_SIZE

from .conftest import Console, publish

V = "/apps/demo/envs/dev/versions/1_0"
BIG = "/apps/demo/envs/dev/versions/big"
PAGE_BYTES = 300_000  # a page of 100 rows, far below the 2 MB the unpaginated pages weighed


def _seed_big_version(app: Flask, files: int, items: int) -> None:
    """One config of each kind through the services (claims the node), the rest in bulk."""
    publish(app, "file-0000.properties", "k=0\n", version="big")
    publish(app, "item-0000", "0", version="big", kind="item")
    with get_db(app).new_session() as session:
        app_id = session.scalar(sa.select(App.id).where(App.name == "demo"))
        env_id = session.scalar(sa.select(Env.id).where(Env.name == "dev"))
        now = utcnow()
        rows: list[dict[str, Any]] = []
        kinds = ((ConfigType.FILE, "file", files), (ConfigType.ITEM, "item", items))
        for kind, prefix, count in kinds:
            for number in range(1, count):
                value = f"k={number}\n" if kind is ConfigType.FILE else str(number)
                rows.append(
                    dict(
                        app_id=app_id,
                        env_id=env_id,
                        version="big",
                        type=int(kind),
                        name=f"{prefix}-{number:04d}" + (".properties" if prefix == "file" else ""),
                        value=value,
                        md5=hashlib.md5(value.encode()).hexdigest(),
                        revision=1,
                        status=1,
                        created_at=now,
                        created_by="t",
                        updated_at=now,
                        updated_by="t",
                    )  # fmt: skip
                )
        session.execute(sa.insert(Config), rows)
        session.commit()


def _walk(console: Console, url: str, row: str) -> tuple[list[str], list[int]]:
    """Follow the "Next page" links from ``url``; (rows found by regex ``row``, page sizes)."""
    seen: list[str] = []
    sizes: list[int] = []
    for _ in range(100):  # bounded: never more pages than this in these tests
        response = console.get(url)
        assert response.status_code == 200, response.text[:500]
        sizes.append(len(response.data))
        found = re.findall(row, response.text)
        seen += found
        following = re.search(r'<a href="([^"]+)" rel="next">', response.text)
        if following is None:
            return seen, sizes
        url = following.group(1).replace("&amp;", "&")
    raise AssertionError("more than 100 pages")


def test_a_version_with_3300_configs_renders_bounded_pages(app: Flask, as_role: Any) -> None:
    _seed_big_version(app, files=300, items=3000)
    viewer: Console = as_role("viewer")
    first = viewer.get(BIG)
    assert first.status_code == 200
    assert first.text.count('<span class="badge kind-') == PAGE_SIZE
    assert len(first.data) < PAGE_BYTES
    names, sizes = _walk(viewer, BIG, r'class="strong mono" href="[^"]+/(?:files|items)/([^"]+)"')
    assert len(sizes) == 33 and max(sizes) < PAGE_BYTES
    assert len(names) == 3300 and len(set(names)) == 3300  # every config exactly once
    assert names[:300] == sorted(names[:300]) and all(n.startswith("file-") for n in names[:300])
    last = viewer.get(BIG + "?limit=500")
    assert last.text.count('<span class="badge kind-') == 500
    assert viewer.get(BIG + "?limit=501").status_code == 400
    assert viewer.get(BIG + "?cursor=not-a-cursor").status_code == 400


def _seed_revisions(app: Flask, count: int) -> str:
    """A 2 KB file with ``count`` revisions; each value says which revision it is."""

    def value(number: int) -> str:
        return f"rev={number}\n" + "x" * 2000 + "\n"

    publish(app, "big.properties", value(1))
    with get_db(app).new_session() as session:
        config = session.scalar(sa.select(Config).where(Config.name == "big.properties"))
        assert config is not None
        now = utcnow()
        session.execute(
            sa.insert(ConfigRevision),
            [
                dict(
                    config_id=config.id,
                    number=number,
                    action="update",
                    old_value=value(number - 1),
                    new_value=value(number),
                    new_md5=hashlib.md5(value(number).encode()).hexdigest(),
                    author="t",
                    comment=f"change {number}",
                    at=now,
                )  # fmt: skip
                for number in range(2, count + 1)
            ],
        )
        config.revision = count
        config.value = value(count)
        config.md5 = hashlib.md5(value(count).encode()).hexdigest()
        session.commit()
    return V + "/files/big.properties/history"


def test_a_file_with_2000_revisions_renders_bounded_history_pages(app: Flask, as_role: Any) -> None:
    url = _seed_revisions(app, 2000)
    editor: Console = as_role("editor")
    first = editor.get(url)
    assert first.status_code == 200 and len(first.data) < PAGE_BYTES
    # metadata only: the values of revisions not compared are not on the page
    assert "rev=2000" in first.text and "rev=1999" in first.text
    assert "rev=1998" not in first.text and "rev=1500" not in first.text
    numbers, sizes = _walk(editor, url, r'<td class="num strong">(\d+)</td>')
    assert len(sizes) == 20 and max(sizes) < PAGE_BYTES
    assert [int(n) for n in numbers] == list(range(2000, 0, -1))
    # comparing from the second page stays on the second page
    second = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert second is not None
    page_two = editor.get(second.group(1).replace("&amp;", "&")).text
    diff_link = re.search(r'<a href="([^"]+)">Diff with 1849</a>', page_two)
    assert diff_link is not None and "cursor=" in diff_link.group(1)
    compared = editor.get(diff_link.group(1).replace("&amp;", "&")).text
    assert '<td class="num strong">1850</td>' in compared and "rev=1849" in compared
    # any two revisions compare, each loaded on its own
    far = editor.get(url + "?a=1&b=1500")
    assert far.status_code == 200 and re.search(r"rev=1(?!\d)", far.text) and "rev=1500" in far.text
    assert editor.get(url + "?a=1&b=2001").status_code == 404


def test_small_lists_page_with_limit(app: Flask, as_role: Any) -> None:
    admin: Console = as_role("admin")
    for name in ("t1", "t2", "t3"):
        admin.post("/tokens", {"name": name})
    tokens, _ = _walk(admin, "/tokens?limit=2", r'<td class="mono">([^<]+)…</td>')
    assert len(tokens) == 3 and len(set(tokens)) == 3
    users, pages = _walk(admin, "/users?limit=3", r'href="/users/([^"]+)"')
    assert sorted(users) == ["admin", "editor", "outsider", "viewer"] and len(pages) == 2
    apps, pages = _walk(admin, "/apps?limit=1", r'href="/apps/([^"/]+)" class="strong"')
    assert apps == ["demo", "other"] and len(pages) == 2
    envs, pages = _walk(admin, "/envs?limit=1", r'<td class="strong">([^<]+)</td>')
    assert envs == ["dev", "prod"] and len(pages) == 2
    with get_db(app).new_session() as session:
        for number in range(7):
            ops.audit(session, actor="pager", action="test.event", target=f"e{number}")
        session.commit()
    events, pages = _walk(admin, "/audit?user=pager&limit=3", r"<td[^>]*>(e\d)</td>")
    assert events == [f"e{n}" for n in range(6, -1, -1)] and len(pages) == 3
    first = admin.get("/audit?user=pager&limit=3").text
    assert "Next page" in first and "First page" not in first
    second = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert second is not None
    assert "First page" in admin.get(second.group(1).replace("&amp;", "&")).text


def test_one_view_creates_files_and_items(app: Flask, as_role: Any) -> None:
    editor: Console = as_role("editor")
    assert "Create and publish" in editor.get(V + "/files/new").text
    assert "An item is a single key" in editor.get(V + "/items/new").text
    made = editor.post(V + "/files/new", {"name": "n.properties", "content": "a=1\r\nb=2\r\n"})
    assert made.status_code == 302
    assert editor.get(V + "/files/n.properties/raw").data == b"a=1\nb=2\n"
    item = editor.post(V + "/items/new", {"name": "timeout", "value": "30"})
    assert (
        item.status_code == 302
        and "Published item &#39;timeout&#39;" in editor.get(item.location).text
    )
    again = editor.post(V + "/items/new", {"name": "timeout", "value": "31"})
    assert again.status_code == 409 and "already exists" in again.text
    assert 'value="31"' not in again.text and ">31</textarea>" in again.text
    assert as_role("viewer").post(V + "/items/new", {"name": "x", "value": "1"}).status_code == 403
