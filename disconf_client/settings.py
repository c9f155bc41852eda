"""Client settings: the only client module reading ``os.environ`` and ``disconf.properties``.

Sources, highest precedence first:

1. keyword arguments of :func:`load_settings` (and of ``DisconfClient(...)``);
2. environment variables ``DISCONF_<NAME>`` (``DISCONF_APP``, ``DISCONF_ENV``,
   ``DISCONF_VERSION``, ``DISCONF_SERVERS``, ``DISCONF_DOWNLOAD_DIR``, ``DISCONF_MODE``,
   ``DISCONF_IGNORE``, ``DISCONF_OVERRIDE_DIR``, ``DISCONF_LOCAL_DIR``,
   ``DISCONF_RETRY_TIMES``, ``DISCONF_RETRY_SLEEP``, ``DISCONF_RECHECK_INTERVAL``,
   ``DISCONF_ZK_HOSTS``, ``DISCONF_ZK_PREFIX``, ``DISCONF_HTTP_TIMEOUT``,
   ``DISCONF_TRANSFER_TIMEOUT``, ``DISCONF_MAX_CONFIG_BYTES``, ``DISCONF_CALLBACK_WARN_AFTER``,
   ``DISCONF_CALLBACK_THREADS``, ``DISCONF_READ_TOKEN``, ``DISCONF_BOOTSTRAP_BUNDLE``,
   ``DISCONF_START_JITTER``, ``DISCONF_RESYNC_JITTER``, ``DISCONF_LABELS``);
3. a ``disconf.properties`` file (``DISCONF_PROPERTIES`` or ``properties_file=`` names it, else
   ``./disconf.properties`` if it exists), with the original Java client's keys, each with or
   without the ``disconf.`` prefix: ``conf_server_host``, ``app``, ``version``, ``env``,
   ``enable.remote.conf``, ``ignore``, ``conf_server_url_retry_times``,
   ``conf_server_url_retry_sleep_seconds``, ``user_define_download_dir`` (plus our own names);
4. defaults (``DEFAULT_VERSION``, ``DEFAULT_ENV``, mode ``auto``, ``./disconf/download``, 3 tries,
   2 s between tries, a safety-net check every 300 s, 5 s per connect or read, 30 s per whole
   download, 1 MiB per config as the server's default ``MAX_CONFIG_BYTES``, a callback reported
   after 10 s, 8 callback threads, no read token, no start jitter, a re-sync spread over up to
   2 s: see :mod:`disconf_client.jitter`).

``labels`` (``labels={"zone": "a"}``, ``DISCONF_LABELS=zone=a,tier=web``): this instance's
labels, sent with every fetch; gray releases may target them. Keys and values are 1 to 64
characters of ``A-Z a-z 0-9 _ . : / -``.

The read token is a secret: it is left out of ``repr()`` and never logged.

A missing app, or a missing server list in a mode that needs one, raises
:class:`~disconf_client.errors.SettingsError` naming the setting and every place it can be set.
"""

from __future__ import annotations

import enum
import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disconf_core import (
    Coordinates,
    InvalidNameError,
    PropertiesError,
    normalize_prefix,
    parse_properties,
    to_bool,
    to_float,
    to_int,
    to_list,
    validate_config_name,
)

from .errors import SettingsError
from .jitter import MAX_JITTER

__all__ = [
    "ClientSettings",
    "LoadMode",
    "load_settings",
    "resolve_servers",
    "resolve_token",
]

DEFAULT_PROPERTIES_FILE = "disconf.properties"


class LoadMode(str, enum.Enum):
    """Where configs come from.

    * ``SERVER``: every config must be fetched at start, else ``start()`` raises;
    * ``AUTO``: fetch; if no server answers, start from the local snapshot and keep retrying;
    * ``LOCAL``: never contact a server; read the local directory (watched for edits).
    """

    SERVER = "server"
    AUTO = "auto"
    LOCAL = "local"


@dataclass(frozen=True)
class ClientSettings:
    """Everything a :class:`~disconf_client.client.DisconfClient` needs, validated."""

    app: str
    env: str = "DEFAULT_ENV"
    version: str = "DEFAULT_VERSION"
    servers: tuple[str, ...] = ()
    mode: LoadMode = LoadMode.AUTO
    download_dir: Path = Path("disconf/download")
    local_dir: Path | None = None
    override_dir: Path | None = None
    ignore: frozenset[str] = field(default_factory=frozenset)
    retry_times: int = 3
    retry_sleep: float = 2.0
    recheck_interval: float = 300.0
    http_timeout: float = 5.0
    zk_hosts: str | None = None
    zk_prefix: str | None = None
    transfer_timeout: float = 30.0
    max_config_bytes: int = 1024 * 1024
    callback_warn_after: float = 10.0
    callback_threads: int = 8
    read_token: str | None = field(default=None, repr=False)
    # A bundle exported by the server: the start source when no server answers and no
    # snapshot exists (see disconf_client.bundle).
    bootstrap_bundle: Path | None = None
    # Upper bounds of the random waits that spread a fleet's requests (disconf_client.jitter).
    start_jitter: float = 0.0
    resync_jitter: float = 2.0
    # Sent with every fetch as X-Disconf-Labels (gray releases may target them).
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)

    @functools.cached_property
    def coordinates(self) -> Coordinates:
        """Built (and validated) once: the client reads it on every notification it applies."""
        return Coordinates(self.app, self.version, self.env)

    @property
    def local_source_dir(self) -> Path:
        """Where LOCAL mode and ignored configs read files: ``local_dir`` or ``download_dir``."""
        return self.local_dir if self.local_dir is not None else self.download_dir


# setting name -> keys accepted in disconf.properties (without the optional "disconf." prefix)
_FILE_KEYS: dict[str, tuple[str, ...]] = {
    "app": ("app",),
    "env": ("env",),
    "version": ("version",),
    "servers": ("conf_server_host", "servers"),
    "mode": ("mode",),
    "enable_remote_conf": ("enable.remote.conf",),
    "download_dir": ("user_define_download_dir", "download_dir"),
    "local_dir": ("local_dir",),
    "override_dir": ("override_dir",),
    "ignore": ("ignore",),
    "retry_times": ("conf_server_url_retry_times", "retry_times"),
    "retry_sleep": ("conf_server_url_retry_sleep_seconds", "retry_sleep"),
    "recheck_interval": ("recheck_interval",),
    "http_timeout": ("http_timeout",),
    "zk_hosts": ("zk_hosts",),
    "zk_prefix": ("zk_prefix",),
    "transfer_timeout": ("transfer_timeout",),
    "max_config_bytes": ("max_config_bytes",),
    "callback_warn_after": ("callback_warn_after",),
    "callback_threads": ("callback_threads",),
    "read_token": ("read_token",),
    "bootstrap_bundle": ("bootstrap_bundle",),
    "start_jitter": ("start_jitter",),
    "resync_jitter": ("resync_jitter",),
    "labels": ("labels",),
}

_LABEL = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")
MAX_LABELS = 64


def _parse_labels(raw: Any) -> dict[str, str]:
    """``zone=a,tier=web`` or a mapping -> validated labels (ValueError naming the bad one)."""
    if isinstance(raw, Mapping):
        pairs = [(str(k), str(v)) for k, v in raw.items()]
    else:
        pairs = []
        for part in str(raw).split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"label {part.strip()!r} is not key=value")
            pairs.append((key.strip(), value.strip()))
    if len(pairs) > MAX_LABELS:
        raise ValueError(f"{len(pairs)} labels: at most {MAX_LABELS}")
    for key, value in pairs:
        if not _LABEL.fullmatch(key) or not _LABEL.fullmatch(value):
            raise ValueError(
                f"label {key!r}={value!r}: keys and values are 1 to 64 characters of "
                "A-Z a-z 0-9 _ . : / -"
            )
    return dict(pairs)


def _env_name(name: str) -> str:
    return "DISCONF_" + name.upper()


def _read_properties_file(path: Path, explicit: bool) -> dict[str, str]:
    if not path.exists():
        if explicit:
            raise SettingsError(f"settings file {str(path)!r} does not exist")
        return {}
    try:
        raw = parse_properties(path.read_bytes())
    except (OSError, PropertiesError) as exc:
        raise SettingsError(f"cannot read settings file {str(path)!r}: {exc}") from exc
    values: dict[str, str] = {}
    for setting, keys in _FILE_KEYS.items():
        for key in keys:
            for candidate in (f"disconf.{key}", key):  # the prefixed form wins
                if candidate in raw:
                    values.setdefault(setting, raw[candidate])
    return values


def _parse_servers(value: str | list[str] | tuple[str, ...], origin: str) -> tuple[str, ...]:
    items = to_list(value) if isinstance(value, str) else [str(v).strip() for v in value]
    servers: list[str] = []
    for item in items:
        if not item:
            continue
        url = item if "://" in item else f"http://{item}"
        scheme, _, rest = url.partition("://")
        if scheme not in ("http", "https") or not rest.strip("/"):
            raise SettingsError(f"invalid server {item!r} in {origin}: expected host:port or a URL")
        servers.append(url.rstrip("/"))
    return tuple(servers)


def _convert(name: str, raw: Any, origin: str) -> Any:
    try:
        if name in ("retry_times", "max_config_bytes", "callback_threads"):
            number = raw if isinstance(raw, int) else to_int(str(raw))
            if number < 1:
                raise ValueError(f"must be at least 1, got {raw!r}")
            return number
        if name in (
            "retry_sleep",
            "recheck_interval",
            "http_timeout",
            "transfer_timeout",
            "callback_warn_after",
            "start_jitter",
            "resync_jitter",
        ):
            seconds = float(raw) if isinstance(raw, (int, float)) else to_float(str(raw))
            may_be_zero = name in ("retry_sleep", "start_jitter", "resync_jitter")
            if seconds < 0 or (not may_be_zero and seconds == 0):
                raise ValueError(f"must be positive, got {raw!r}")
            if name.endswith("_jitter") and not seconds <= MAX_JITTER:  # NaN too
                raise ValueError(f"must be at most {MAX_JITTER:g} s, got {raw!r}")
            return seconds
        if name in ("download_dir", "local_dir", "override_dir", "bootstrap_bundle"):
            return Path(raw).expanduser() if raw not in (None, "") else None
        if name == "servers":
            return _parse_servers(raw, origin)
        if name == "ignore":
            names = to_list(raw) if isinstance(raw, str) else [str(v) for v in raw]
            return frozenset(validate_config_name(n, "ignored config") for n in names)
        if name == "mode":
            if isinstance(raw, LoadMode):
                return raw
            try:
                return LoadMode(str(raw).strip().lower())
            except ValueError:
                choices = ", ".join(mode.value for mode in LoadMode)
                raise ValueError(f"unknown mode {raw!r} (choose {choices})") from None
        if name == "enable_remote_conf":
            return raw if isinstance(raw, bool) else to_bool(str(raw))
        if name == "zk_prefix":
            return normalize_prefix(str(raw))
        if name == "read_token":
            token = str(raw).strip()
            return token or None
        if name == "labels":
            return _parse_labels(raw)
        return str(raw).strip() if isinstance(raw, str) else raw
    except SettingsError:
        raise
    except (ValueError, InvalidNameError) as exc:
        raise SettingsError(f"invalid setting {name!r} from {origin}: {exc}") from exc


def load_settings(
    *,
    properties_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> ClientSettings:
    """Layer kwargs > environment > ``disconf.properties`` > defaults into :class:`ClientSettings`.

    ``environ`` defaults to ``os.environ`` (tests pass a dict). Unknown keyword arguments are
    refused by name. ``None`` keyword values count as "not given".
    """
    env = os.environ if environ is None else environ
    known = set(_FILE_KEYS)
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise SettingsError(f"unknown client setting(s): {', '.join(map(repr, unknown))}")

    explicit_file = properties_file is not None or bool(env.get("DISCONF_PROPERTIES"))
    file_path = Path(properties_file or env.get("DISCONF_PROPERTIES") or DEFAULT_PROPERTIES_FILE)
    from_file = _read_properties_file(file_path, explicit_file)

    resolved: dict[str, Any] = {}
    for name in _FILE_KEYS:
        if kwargs.get(name) is not None:
            resolved[name] = _convert(name, kwargs[name], f"argument {name}=")
        elif env.get(_env_name(name), "").strip():
            resolved[name] = _convert(name, env[_env_name(name)], f"${_env_name(name)}")
        elif name in from_file:
            resolved[name] = _convert(name, from_file[name], f"{str(file_path)!r}")

    if not resolved.get("app"):
        raise SettingsError(
            "missing setting 'app': pass app=..., set $DISCONF_APP, "
            f"or put disconf.app in {str(file_path)!r}"
        )
    remote = resolved.pop("enable_remote_conf", True)
    if "mode" not in resolved and remote is False:
        resolved["mode"] = LoadMode.LOCAL
    mode = resolved.get("mode", LoadMode.AUTO)
    if mode is not LoadMode.LOCAL and not resolved.get("servers"):
        raise SettingsError(
            f"missing setting 'servers' (needed in mode {mode.value!r}): pass servers=..., "
            f"set $DISCONF_SERVERS, or put disconf.conf_server_host in {str(file_path)!r}"
        )
    if resolved.get("download_dir") is None:
        resolved.pop("download_dir", None)
    try:
        settings = ClientSettings(**resolved)
        settings.coordinates  # noqa: B018 - validates app, env and version
    except InvalidNameError as exc:
        raise SettingsError(str(exc)) from exc
    return settings


def resolve_servers(value: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """For the CLI: ``--server`` or ``$DISCONF_SERVERS``, normalised; error naming both."""
    env = os.environ if environ is None else environ
    raw = value or env.get("DISCONF_SERVERS", "")
    servers = _parse_servers(raw, "--server" if value else "$DISCONF_SERVERS")
    if not servers:
        raise SettingsError("no server given: pass --server HOST:PORT or set $DISCONF_SERVERS")
    return servers


def resolve_token(value: str | None, environ: Mapping[str, str] | None = None) -> str:
    """For the CLI: ``--token`` or ``$DISCONF_TOKEN``; error naming both when neither is set."""
    env = os.environ if environ is None else environ
    token = (value or env.get("DISCONF_TOKEN", "")).strip()
    if not token:
        raise SettingsError("no admin token given: pass --token TOKEN or set $DISCONF_TOKEN")
    return token
