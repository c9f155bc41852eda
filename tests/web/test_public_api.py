"""The packages' public names are listed explicitly and exist."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module", ["disconf_web", "disconf_web.services", "disconf_web.api"])
def test_all_is_sorted_and_importable(module: str) -> None:
    mod = importlib.import_module(module)
    names = list(mod.__all__)
    assert names == sorted(names, key=lambda name: (not name.isupper(), name))  # isort style
    for name in names:
        assert hasattr(mod, name), name


def test_wsgi_module_builds_the_app(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("DISCONF_SECRET_KEY", "k" * 32)
    monkeypatch.setenv("DISCONF_DATABASE_URL", "sqlite://")
    monkeypatch.setenv("DISCONF_NOTIFIER_AUTOSTART", "false")
    import sys

    sys.modules.pop("disconf_web.wsgi", None)
    wsgi = importlib.import_module("disconf_web.wsgi")
    try:
        assert wsgi.app.config["SECRET_KEY"] == "k" * 32
        assert wsgi.app.config["NOTIFIER_AUTOSTART"] is False
    finally:
        from disconf_web import shutdown_app

        shutdown_app(wsgi.app)
        sys.modules.pop("disconf_web.wsgi", None)
