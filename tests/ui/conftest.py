"""Fixtures for the console tests: an app on SQLite (no ZooKeeper), users of every role, and a
test client that logs in through the login form and posts forms with the session's CSRF token.

Users (password ``password-1``): ``admin``; ``editor`` and ``viewer`` granted app ``demo``;
``outsider`` (an editor without grants). Env ``dev`` exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from disconf_web import create_app, get_db, services, shutdown_app
from disconf_web.migrate import upgrade

PASSWORD = "password-1"
ROLES = ("admin", "editor", "viewer", "outsider")


class Console:
    """A browser-like client: cookies, the login form, CSRF tokens in every POST."""

    def __init__(self, app: Flask, remote_addr: str = "127.0.0.1") -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.environ = {"REMOTE_ADDR": remote_addr}

    def csrf(self) -> str:
        """The CSRF token a page of this session carries in its ``csrf-token`` meta tag (the
        login page, or where it sends a signed-in user)."""
        page = self.client.get("/login", environ_base=self.environ, follow_redirects=True)
        match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert match, page.text
        return match.group(1)

    def login(self, name: str, password: str = PASSWORD) -> TestResponse:
        token = self.csrf()
        return self.client.post(
            "/login",
            data={"username": name, "password": password, "csrf_token": token},
            environ_base=self.environ,
        )

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.client.get(url, environ_base=self.environ, **kwargs)

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        body = dict(data or {})
        body.setdefault("csrf_token", self.token())
        return self.client.post(url, data=body, environ_base=self.environ, **kwargs)

    def token(self) -> str:
        return self.csrf()


def make_app(database_url: str, **overrides: Any) -> Flask:
    upgrade(database_url)
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "ZK_ENABLED": False,
        "ZK_HOSTS": "zk:1",
        "SECRET_KEY": "test-secret",
    }
    config.update(overrides)
    return create_app(config)


def seed(app: Flask) -> None:
    with get_db(app).new_session() as session:
        services.create_user(session, name="admin", password=PASSWORD, role="admin", actor="t")
        services.create_app_record(session, name="demo", description="the demo", actor="admin")
        services.create_app_record(session, name="other", description="", actor="admin")
        services.create_env(session, name="dev", actor="admin")
        services.create_env(session, name="prod", actor="admin")
        for name, role, apps in (
            ("editor", "editor", ["demo"]),
            ("viewer", "viewer", ["demo"]),
            ("outsider", "editor", []),
        ):
            services.create_user(
                session, name=name, password=PASSWORD, role=role, actor="t", apps=apps
            )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    flask_app = make_app(f"sqlite:///{tmp_path / 'console.sqlite'}")
    seed(flask_app)
    try:
        yield flask_app
    finally:
        shutdown_app(flask_app)


@pytest.fixture
def console(app: Flask) -> Console:
    """Anonymous."""
    return Console(app)


@pytest.fixture
def as_role(app: Flask) -> Any:
    """``as_role("editor")``: a logged-in Console."""

    def make(name: str) -> Console:
        client = Console(app)
        response = client.login(name)
        assert response.status_code == 302, response.text
        return client

    return make


def publish(app: Flask, name: str, value: str, *, version: str = "1_0", kind: str = "file") -> None:
    """Store a config directly through the services (test setup)."""
    from disconf_core import ConfigType

    with get_db(app).new_session() as session:
        services.publish_config(
            session,
            coords=services.coordinates("demo", "dev", version),
            kind=ConfigType.FILE if kind == "file" else ConfigType.ITEM,
            name=name,
            content=value,
            actor="admin",
            comment="setup",
        )
