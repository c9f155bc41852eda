"""Fixtures for the server tests: a migrated database, an app, tokens for each role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from disconf_web import create_app, get_db, services, shutdown_app
from disconf_web.migrate import upgrade


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """``database_url`` (SQLite and MySQL) with the migrations applied."""
    upgrade(database_url)
    return database_url


@pytest.fixture
def app(migrated_url: str) -> Iterator[Flask]:
    """The app on SQLite and on MySQL, without ZooKeeper (notifications stay pending)."""
    flask_app = create_app(
        {"TESTING": True, "DATABASE_URL": migrated_url, "ZK_ENABLED": False, "ZK_HOSTS": "zk:1"}
    )
    try:
        yield flask_app
    finally:
        shutdown_app(flask_app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class Tokens:
    admin: str
    editor: str
    viewer: str
    outsider: str  # an editor with no grant on "demo"

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, role)}"}


def make_tokens(app: Flask) -> Tokens:
    """Users admin/editor/viewer/outsider; app ``demo`` (editor + viewer granted), env ``dev``."""
    with get_db(app).new_session() as session:
        services.create_user(session, name="admin", password="password-1", role="admin", actor="t")
        services.create_app_record(session, name="demo", description="d", actor="admin")
        services.create_env(session, name="dev", actor="admin")
        for name, role, apps in (
            ("editor", "editor", ["demo"]),
            ("viewer", "viewer", ["demo"]),
            ("outsider", "editor", []),
        ):
            services.create_user(
                session, name=name, password="password-1", role=role, actor="t", apps=apps
            )
        return Tokens(
            *(
                services.create_token(session, user=name, actor="t").secret
                for name in ("admin", "editor", "viewer", "outsider")
            )
        )


@pytest.fixture
def tokens(app: Flask) -> Tokens:
    return make_tokens(app)
