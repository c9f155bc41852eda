from __future__ import annotations

from pathlib import Path

import pytest

from disconf_client import LoadMode, SettingsError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "disconf.properties"
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_kwargs_over_env_over_file(tmp_path: Path) -> None:
    props = write(
        tmp_path,
        "disconf.app=from_file\nenv=file_env\ndisconf.version=1_0\n"
        "disconf.conf_server_host=10.0.0.1:8080,https://b.example\n"
        "disconf.conf_server_url_retry_times=5\nconf_server_url_retry_sleep_seconds=0.5\n"
        "disconf.user_define_download_dir=/tmp/dl\ndisconf.ignore=a.properties, b\n",
    )
    environ = {"DISCONF_ENV": "env_env", "DISCONF_APP": "env_app"}
    settings = load_settings(properties_file=props, environ=environ, app="kw_app")
    assert settings.app == "kw_app"
    assert settings.env == "env_env"
    assert settings.version == "1_0"
    assert settings.servers == ("http://10.0.0.1:8080", "https://b.example")
    assert settings.retry_times == 5 and settings.retry_sleep == 0.5
    assert settings.download_dir == Path("/tmp/dl")
    assert settings.ignore == {"a.properties", "b"}
    assert settings.mode is LoadMode.AUTO


def test_defaults() -> None:
    settings = load_settings(environ={}, app="a", servers="h:1", properties_file=None)
    assert (settings.env, settings.version) == ("DEFAULT_ENV", "DEFAULT_VERSION")
    assert settings.recheck_interval == 300.0
    assert settings.retry_times == 3 and settings.retry_sleep == 2.0
    assert settings.download_dir == Path("disconf/download")


def test_missing_app_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match="'app'.*DISCONF_APP"):
        load_settings(environ={}, servers="h:1")


def test_missing_servers_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match="'servers'.*DISCONF_SERVERS"):
        load_settings(environ={"DISCONF_APP": "a"})


def test_local_mode_needs_no_servers_and_enable_remote_conf(tmp_path: Path) -> None:
    props = write(tmp_path, "disconf.app=a\ndisconf.enable.remote.conf=false\n")
    assert load_settings(properties_file=props, environ={}).mode is LoadMode.LOCAL


def test_env_properties_file_and_mode(tmp_path: Path) -> None:
    props = write(tmp_path, "app=a\nconf_server_host=h:1\n")
    environ = {"DISCONF_PROPERTIES": str(props), "DISCONF_MODE": "SERVER"}
    assert load_settings(environ=environ).mode is LoadMode.SERVER


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sometimes"}, "unknown mode 'sometimes'"),
        ({"retry_times": "0"}, "retry_times"),
        ({"recheck_interval": "soon"}, "recheck_interval.*'soon'"),
        ({"servers": "ftp://x"}, "'ftp://x'"),
        ({"app": "bad/app"}, "'bad/app'"),
        ({"colour": "blue"}, "'colour'"),
    ],
)
def test_bad_values_are_named(kwargs: dict[str, str], message: str) -> None:
    base = {"app": "a", "servers": "h:1"}
    with pytest.raises(SettingsError, match=message):
        load_settings(environ={}, **{**base, **kwargs})


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(properties_file=tmp_path / "nope.properties", environ={}, app="a")


def test_bounds_callbacks_and_read_token_from_every_source(tmp_path: Path) -> None:
    defaults = load_settings(environ={}, app="a", servers="h:1", properties_file=None)
    assert (defaults.transfer_timeout, defaults.max_config_bytes) == (30.0, 1024 * 1024)
    assert (defaults.callback_warn_after, defaults.callback_threads) == (10.0, 8)
    assert defaults.read_token is None
    props = write(
        tmp_path,
        "disconf.app=a\ndisconf.conf_server_host=h:1\ndisconf.transfer_timeout=12.5\n"
        "disconf.max_config_bytes=2048\ncallback_threads=3\ndisconf.read_token=file-token\n",
    )
    environ = {"DISCONF_CALLBACK_WARN_AFTER": "0.5", "DISCONF_READ_TOKEN": "env-token"}
    settings = load_settings(properties_file=props, environ=environ)
    assert (settings.transfer_timeout, settings.max_config_bytes) == (12.5, 2048)
    assert (settings.callback_warn_after, settings.callback_threads) == (0.5, 3)
    assert settings.read_token == "env-token" and "env-token" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_config_bytes", "0"),
        ("callback_threads", "0"),
        ("transfer_timeout", "0"),
        ("callback_warn_after", "-1"),
    ],
)
def test_bad_bounds_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"invalid setting '{name}'"):
        load_settings(environ={}, app="a", servers="h:1", properties_file=None, **{name: value})
