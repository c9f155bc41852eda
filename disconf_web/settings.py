"""Server settings: defaults, ``DISCONF_*`` environment variables, and their validation.

``create_app`` loads, in increasing precedence: the defaults below, ``DISCONF_<KEY>`` variables
(``app.config.from_prefixed_env("DISCONF")``, values parsed as JSON when they look like it) and
the mapping given to ``create_app(test_config)``. :func:`check_settings` then coerces every value
to its type and reports **every** bad value at once.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from typing import Any

from disconf_core import DisconfError, normalize_prefix, to_bool

__all__ = ["DEFAULTS", "SettingsError", "check_settings"]


class SettingsError(DisconfError):
    """One or more settings are missing or malformed (the message lists all of them)."""


DEFAULTS: dict[str, Any] = {
    # SQLAlchemy URL; None = a SQLite file ``disconf.sqlite`` in the Flask instance folder.
    "DATABASE_URL": None,
    # What /api/zoo/hosts answers and what the notifier connects to.
    "ZK_HOSTS": "127.0.0.1:2181",
    "ZK_PREFIX": "/disconf",
    # False: no ZooKeeper connection at all (notifications stay pending; tests of storage only).
    "ZK_ENABLED": True,
    "ZK_TIMEOUT": 10.0,
    "SECRET_KEY": None,
    # Refuse to start without SECRET_KEY unless testing or quickstart.
    "REQUIRE_SECRET_KEY": True,
    "MAX_CONFIG_BYTES": 1024 * 1024,
    # Inline delivery right after a commit: at most this long, then the sweeper takes over.
    "NOTIFY_INLINE_TIMEOUT": 1.0,
    # The background sweeper: period, and exponential backoff while ZooKeeper fails.
    "NOTIFY_SWEEP_INTERVAL": 2.0,
    "NOTIFY_BACKOFF_INITIAL": 0.2,
    "NOTIFY_BACKOFF_MAX": 30.0,
    # Rows younger than this are left to the request that wrote them (fewer duplicates).
    "NOTIFY_GRACE": 1.0,
    # Start the notifier thread and ZooKeeper connection in create_app (False for CLI commands).
    "NOTIFIER_AUTOSTART": True,
    # Database bounds, seconds (see disconf_web.extensions): establishing a connection, each
    # socket read and write of a statement (a server that hangs fails the statement), the wait
    # for a pooled connection, and SQLite's wait for another writer's lock.
    "DB_CONNECT_TIMEOUT": 3.0,
    "DB_READ_TIMEOUT": 5.0,
    "DB_WRITE_TIMEOUT": 5.0,
    "DB_POOL_TIMEOUT": 5.0,
    "DB_BUSY_TIMEOUT": 10.0,
    # Last-served values (answered while the database is down): memory and disk bound, bytes.
    "LAST_SERVED_MAX_BYTES": 64 * 1024 * 1024,
    # Their disk copy: None = <instance folder>/last-served/<digest of DATABASE_URL>; "" = none.
    "LAST_SERVED_DIR": None,
    # Each worker's read cache of found configs (disconf_web.protocol.read_cache): bytes; 0 = off.
    "READ_CACHE_MAX_BYTES": 64 * 1024 * 1024,
}

_FLOATS = (
    "ZK_TIMEOUT",
    "NOTIFY_INLINE_TIMEOUT",
    "NOTIFY_SWEEP_INTERVAL",
    "NOTIFY_BACKOFF_INITIAL",
    "NOTIFY_BACKOFF_MAX",
    "NOTIFY_GRACE",
    "DB_CONNECT_TIMEOUT",
    "DB_READ_TIMEOUT",
    "DB_WRITE_TIMEOUT",
    "DB_POOL_TIMEOUT",
    "DB_BUSY_TIMEOUT",
)
_POSITIVE = ("DB_CONNECT_TIMEOUT", "DB_READ_TIMEOUT", "DB_WRITE_TIMEOUT", "DB_POOL_TIMEOUT")
_BOOLS = ("ZK_ENABLED", "REQUIRE_SECRET_KEY", "NOTIFIER_AUTOSTART")
_SIZES = ("MAX_CONFIG_BYTES", "LAST_SERVED_MAX_BYTES")  # positive integers (bytes)
_SIZES_OR_OFF = ("READ_CACHE_MAX_BYTES",)  # non-negative integers (bytes; 0 turns it off)


def check_settings(config: MutableMapping[str, Any]) -> None:
    """Coerce the settings in place; raise :class:`SettingsError` listing every problem."""
    problems: list[str] = []
    for key in _FLOATS:
        try:
            number = float(config[key])
            if number < 0 or (number == 0 and key in _POSITIVE) or not math.isfinite(number):
                raise ValueError
            config[key] = number
        except (TypeError, ValueError):
            wanted = "positive" if key in _POSITIVE else "non-negative"
            problems.append(f"DISCONF_{key}={config[key]!r} is not a {wanted} number")
    for key in _BOOLS:
        try:
            config[key] = to_bool(config[key])  # the one boolean parser of the project
        except ValueError:
            problems.append(f"DISCONF_{key}={config[key]!r} is not a boolean (true/false)")
    for key in _SIZES:
        try:
            size = int(config[key])
            if size <= 0:
                raise ValueError
            config[key] = size
        except (TypeError, ValueError):
            problems.append(f"DISCONF_{key}={config[key]!r} is not a positive integer")
    for key in _SIZES_OR_OFF:
        value = config[key]
        try:
            if isinstance(value, bool) or isinstance(value, float):
                raise ValueError
            size = int(value)
            if size < 0:
                raise ValueError
            config[key] = size
        except (TypeError, ValueError):
            problems.append(f"DISCONF_{key}={value!r} is not a size in bytes (0 turns it off)")
    if config.get("LAST_SERVED_DIR") is not None:
        config["LAST_SERVED_DIR"] = str(config["LAST_SERVED_DIR"])
    hosts = str(config["ZK_HOSTS"] or "").strip()
    if not hosts:
        problems.append("DISCONF_ZK_HOSTS is empty: give a ZooKeeper connect string")
    config["ZK_HOSTS"] = hosts
    try:
        config["ZK_PREFIX"] = normalize_prefix(str(config["ZK_PREFIX"]))
    except ValueError as exc:
        problems.append(f"DISCONF_ZK_PREFIX: {exc}")
    if config.get("SECRET_KEY") is not None:
        config["SECRET_KEY"] = str(config["SECRET_KEY"])
    needs_key = config["REQUIRE_SECRET_KEY"] is True and not config.get("TESTING")
    if needs_key and not config.get("SECRET_KEY"):
        problems.append(
            "DISCONF_SECRET_KEY is not set: set it to a long random string "
            "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    if config.get("DATABASE_URL") is not None:
        config["DATABASE_URL"] = str(config["DATABASE_URL"])
    if problems:
        raise SettingsError("bad server settings: " + "; ".join(problems))
