"""The console's gray release page: start (target picked in a form), see it running, promote
and abort, errors shown on the page, the editor's link, who may do what."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from disconf_web import get_db
from disconf_web.models import Config, GrayRelease

from .conftest import publish

PAGE = "/apps/demo/envs/dev/versions/1_0/files/shop.properties/gray"
FILE = "/api/config/file?app=demo&env=dev&version=1_0&key=shop.properties"


def _fetch(app: Flask, address: str) -> bytes:
    return app.test_client().get(FILE, environ_base={"REMOTE_ADDR": address}).data


def test_start_then_abort_then_promote_from_the_console(app: Flask, as_role: Any) -> None:
    publish(app, "shop.properties", "port=8080\n")
    editor = as_role("editor")
    edit = editor.get("/apps/demo/envs/dev/versions/1_0/files/shop.properties")
    assert f'href="{PAGE}"' in edit.text
    page = editor.get(PAGE)
    assert page.status_code == 200 and "Start a gray release" in page.text
    assert "Self-check unavailable" in page.text  # no ZooKeeper in this app

    bad = editor.post(PAGE, {"content": "port=9090\n", "target_kind": "percent", "target": "150"})
    assert bad.status_code == 400 and "percent" in bad.text and "Start a gray release" in bad.text
    started = editor.post(
        PAGE,
        {
            "content": "port=9090\n",
            "target_kind": "hosts",
            "target": "10.0.0.7\n10.0.0.9",
            "comment": "canary",
        },
    )
    assert started.status_code == 302, started.text
    running = editor.get(PAGE)
    assert "Gray release #1 is running" in running.text and "10.0.0.7, 10.0.0.9" in running.text
    assert _fetch(app, "10.0.0.7") == b"port=9090\n"
    assert _fetch(app, "10.0.0.8") == b"port=8080\n"
    # One gray release per config at a time: a second start is refused, shown on the page.
    again = editor.post(PAGE, {"content": "port=1\n", "target_kind": "percent", "target": "5"})
    assert again.status_code == 409 and "gray release #1" in again.text

    viewer = as_role("viewer")
    assert viewer.get(PAGE).status_code == 200
    assert viewer.post(PAGE + "/abort", {"comment": "no"}).status_code == 403

    assert editor.post(PAGE + "/abort", {"comment": "not yet"}).status_code == 302
    assert _fetch(app, "10.0.0.7") == b"port=8080\n"
    assert "Start a gray release" in editor.get(PAGE).text

    assert (
        editor.post(
            PAGE, {"content": "port=9191\n", "target_kind": "labels", "target": "zone=a"}
        ).status_code
        == 302
    )
    assert editor.post(PAGE + "/promote", {"comment": "ship it"}).status_code == 302
    assert _fetch(app, "10.0.0.8") == b"port=9191\n"
    history = editor.get(PAGE).text
    assert "promoted" in history and "aborted" in history and "ship it" in history
    with get_db(app).new_session() as session:
        config = session.scalar(sa.select(Config).where(Config.name == "shop.properties"))
        assert config is not None and (config.value, config.revision) == ("port=9191\n", 2)
        statuses = session.scalars(sa.select(GrayRelease.status).order_by(GrayRelease.id)).all()
        assert statuses == ["aborted", "promoted"]
    assert editor.post(PAGE + "/abort", {}).status_code == 404
