"""Which classes a client binds: a list, ``scan=`` (a package or module), or by default every class
decorated so far in the process (logged); no class at all is a clear error at start."""

from __future__ import annotations

import gc
import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from disconf_client import (
    ClientSettings,
    ClientStateError,
    DisconfClient,
    LoadMode,
    decorators,
    disconf_file,
)
from disconf_client.scan import scan


def local_settings(tmp_path: Path) -> ClientSettings:
    return ClientSettings(app="demo", mode=LoadMode.LOCAL, download_dir=tmp_path / "local")


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    root = tmp_path / "src" / "scanned_app"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "redis_conf.py").write_text(
        textwrap.dedent(
            """
            from disconf_client import disconf_file

            @disconf_file("scanned-redis.properties")
            class Redis:
                host: str = "localhost"

            class NotAConfig:
                pass
            """
        )
    )
    (root / "sub" / "rates.py").write_text(
        textwrap.dedent(
            """
            from disconf_client import disconf_item
            from scanned_app.redis_conf import Redis  # imported here: bound once, from its home

            @disconf_item("scannedRate")
            class Rate:
                value: str = "0"
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield "scanned_app"
    for name in [m for m in sys.modules if m == "scanned_app" or m.startswith("scanned_app.")]:
        del sys.modules[name]


def test_scan_binds_every_decorated_class_of_a_package(package: str, tmp_path: Path) -> None:
    found = scan(package)
    assert [cls.__qualname__ for cls in found] == ["Redis", "Rate"]
    client = DisconfClient(scan=package, settings=local_settings(tmp_path))
    with client:
        for cls in found:
            assert client.source_of(cls) == "defaults"
    module_only = scan(f"{package}.sub.rates")
    assert [cls.__qualname__ for cls in module_only] == ["Rate"]


def test_scan_of_a_missing_package_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(ModuleNotFoundError, match="no_such_package_xyz"):
        DisconfClient(scan="no_such_package_xyz", settings=local_settings(tmp_path))


def test_without_a_list_every_class_decorated_so_far_is_bound_and_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(decorators, "_DECORATED", [])  # this process's earlier tests aside

    @disconf_file("default-bound.properties")
    class DefaultBound:
        host: str = "localhost"

    with caplog.at_level(logging.INFO, logger="disconf_client"):
        client = DisconfClient(settings=local_settings(tmp_path))
    with client:
        assert client.source_of(DefaultBound) == "defaults"
    assert any(
        "binding every class decorated so far" in r.getMessage()
        and "DefaultBound" in r.getMessage()
        for r in caplog.records
    )


def test_no_class_at_all_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decorators, "_DECORATED", [])
    for client in (
        DisconfClient(settings=local_settings(tmp_path)),
        DisconfClient([], settings=local_settings(tmp_path)),
    ):
        with pytest.raises(ClientStateError, match="no config class to bind.*scan="):
            client.start()


def test_a_class_that_is_gone_is_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decorators, "_DECORATED", [])

    def make() -> None:
        @disconf_file("gone.properties")
        class Gone:
            host: str = ""

        assert decorators.decorated_classes() == [Gone]

    make()
    gc.collect()
    kept: list[Any] = decorators.decorated_classes()
    assert kept == []
