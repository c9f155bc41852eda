"""Every admin API list is paginated and each answer is bounded, also for a version of 3,000
items + 300 files and a file of 2,000 revisions (issue 14, "Data at scale")."""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from disconf_core import ConfigType
from disconf_web import get_db, services
from disconf_web.models import App, Config, ConfigRevision, Env, utcnow
from disconf_web.services import listing

from .conftest import Tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"
FILE_VALUE = "".join(f"key{n:04d}=value-{n:04d}-{'x' * 20}\n" for n in range(60))  # ~2.2 KB


def _seed_large_version(app: Flask) -> None:
    """3,000 items, 300 files and 2,000 revisions of one file, inserted in bulk (test set-up:
    the publish path itself is covered by the other tests)."""
    now = utcnow()
    with get_db(app).new_session() as session:
        app_id = session.scalar(sa.select(App.id).where(App.name == "demo"))
        env_id = session.scalar(sa.select(Env.id).where(Env.name == "dev"))
        rows: list[dict[str, Any]] = []
        for kind, count, prefix in ((ConfigType.ITEM, 3000, "item"), (ConfigType.FILE, 300, "f")):
            for n in range(count):
                value = f"v{n}" if kind is ConfigType.ITEM else FILE_VALUE
                name = f"{prefix}{n:04d}" + (".properties" if kind is ConfigType.FILE else "")
                rows.append(
                    dict(
                        app_id=app_id, env_id=env_id, version="1_0_0", type=int(kind),
                        name=name, value=value,
                        md5=hashlib.md5(value.encode()).hexdigest(),
                        revision=1, status=1, created_at=now, created_by="t",
                        updated_at=now, updated_by="t",
                    )
                )  # fmt: skip
        session.execute(sa.insert(Config), rows)
        history = session.scalar(sa.select(Config.id).where(Config.name == "f0000.properties"))
        revisions = [
            dict(
                config_id=history, number=n, action="update", old_value=FILE_VALUE,
                new_value=FILE_VALUE, new_md5="0" * 32, author="t", comment=f"change {n}", at=now,
            )
            for n in range(1, 2001)
        ]  # fmt: skip
        session.execute(sa.insert(ConfigRevision), revisions)
        session.execute(sa.update(Config).where(Config.id == history).values(revision=2000))
        session.commit()


def _walk(client: FlaskClient, url: str, key: str, headers: dict[str, str]) -> list[Any]:
    """Follow ``next`` to the end; every page bounded in items and bytes."""
    items: list[Any] = []
    pages = 0
    while url and pages < 100:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.get_json()
        assert len(body[key]) <= listing.DEFAULT_PAGE_SIZE
        assert len(response.data) < 400_000, (url, len(response.data))
        if body["next"]:
            assert response.headers["Link"] == f'<{body["next"]}>; rel="next"'
        items.extend(body[key])
        url = body["next"]
        pages += 1
    assert not url, "more pages than expected"
    return items


def test_large_version_and_long_history_are_bounded(client: FlaskClient, tokens: Tokens) -> None:
    _seed_large_version(client.application)
    admin = tokens.headers("admin")

    configs = _walk(client, f"{BASE}/configs", "configs", admin)
    assert len(configs) == 3300
    assert len({(c["type"], c["name"]) for c in configs}) == 3300
    assert [c["type"] for c in configs[:300]] == ["file"] * 300  # files first, then by name
    assert configs[300]["name"] == "item0000"
    assert all("value" not in c for c in configs)

    url = f"{BASE}/files/f0000.properties/revisions"
    first = client.get(url, headers=admin)
    assert len(first.data) < 60_000  # metadata only: 100 revisions of a 2 KB file
    revisions = _walk(client, url, "revisions", admin)
    assert [r["revision"] for r in revisions] == list(range(2000, 0, -1))
    assert all(r["values_inline"] is False and "new_value" not in r for r in revisions)
    one = client.get(revisions[5]["href"], headers=admin)
    assert one.status_code == 200
    assert one.get_json()["revision"] == 1995 and one.get_json()["new_value"] == FILE_VALUE

    small = client.get(f"{BASE}/configs?limit=7", headers=admin).get_json()
    assert len(small["configs"]) == 7 and "limit=7" in small["next"]


def test_small_lists_keep_their_shape_and_end(client: FlaskClient, tokens: Tokens) -> None:
    admin = tokens.headers("admin")
    for url, key in (
        ("/api/v1/apps", "apps"),
        ("/api/v1/envs", "envs"),
        ("/api/v1/users", "users"),
        ("/api/v1/tokens", "tokens"),
        ("/api/v1/audit", "events"),
        ("/api/v1/apps/demo/envs/dev/versions", "versions"),
        (f"{BASE}/configs", "configs"),
    ):
        response = client.get(url, headers=admin)
        assert response.status_code == 200, (url, response.text)
        assert isinstance(response.get_json()[key], list) and response.get_json()["next"] is None
        assert "Link" not in response.headers


def test_every_list_pages_without_repeats(client: FlaskClient, tokens: Tokens) -> None:
    app = client.application
    with get_db(app).new_session() as session:
        for n in range(5):
            services.create_app_record(session, name=f"app{n}", description="", actor="t")
            services.create_env(session, name=f"env{n}", actor="t")
            services.create_user(
                session, name=f"user{n}", password="password-1", role="viewer", actor="t"
            )
            services.create_token(session, user="admin", actor="t", name=f"t{n}")
            for kind, name in ((ConfigType.ITEM, f"k{n}"), (ConfigType.FILE, f"f{n}.txt")):
                services.publish_config(
                    session,
                    coords=services.coordinates("demo", "dev", f"v{n}"),
                    kind=kind, name=name, content="x", actor="t",
                )  # fmt: skip
    admin = tokens.headers("admin")
    for url, key, total in (
        ("/api/v1/apps?limit=2", "apps", 6),
        ("/api/v1/envs?limit=2", "envs", 6),
        ("/api/v1/users?limit=2", "users", 9),
        ("/api/v1/tokens?limit=2", "tokens", 6),
        ("/api/v1/apps/demo/envs/dev/versions?limit=2", "versions", 5),
        ("/api/v1/apps/demo/envs/dev/versions/v1/configs?limit=1", "configs", 2),
    ):
        items = _walk(client, url, key, admin)
        assert len(items) == total, (url, items)
        keys = [str(item) for item in items]
        assert len(set(keys)) == total, url
