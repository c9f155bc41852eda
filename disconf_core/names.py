"""Names and coordinates: what may be an app, env, version, file name or item key.

These names become ZooKeeper path segments (``/disconf/<app>_<version>_<env>/file/<name>``) and
file names on clients' disks, so they are validated once here and refused with an error naming
the bad value. Both the server (before storing) and the client (before fetching or writing a
snapshot) call these functions.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .exceptions import InvalidNameError

__all__ = [
    "ConfigType",
    "Coordinates",
    "validate_config_name",
    "validate_segment",
]

_SEGMENT = re.compile(r"[A-Za-z0-9._-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_CONFIG_NAME = 255


class ConfigType(enum.IntEnum):
    """The original's numeric config types (``type`` in ``/api/config/list`` rows)."""

    FILE = 0
    ITEM = 1

    @property
    def segment(self) -> str:
        """The ZooKeeper path segment for this type: ``file`` or ``item``."""
        return "file" if self is ConfigType.FILE else "item"


def validate_segment(value: object, what: str) -> str:
    """Check an app, env or version name: 1-64 of ``[A-Za-z0-9._-]``, not ``.`` or ``..``."""
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value) or value in (".", ".."):
        raise InvalidNameError(
            f"invalid {what} name {value!r}: use 1-64 characters of A-Z a-z 0-9 . _ - "
            "(and not '.' or '..')"
        )
    return value


def validate_config_name(value: object, what: str = "config") -> str:
    """Check a file name or item key: 1-255 characters, no ``/``, no control characters."""
    if not isinstance(value, str) or not value:
        raise InvalidNameError(f"invalid {what} name {value!r}: it must not be empty")
    if len(value) > MAX_CONFIG_NAME:
        raise InvalidNameError(
            f"invalid {what} name {value[:40]!r}...: longer than {MAX_CONFIG_NAME} characters"
        )
    if "/" in value or "\\" in value:
        raise InvalidNameError(f"invalid {what} name {value!r}: it must not contain '/' or '\\'")
    if _CONTROL.search(value):
        raise InvalidNameError(f"invalid {what} name {value!r}: it contains control characters")
    if value in (".", ".."):
        raise InvalidNameError(f"invalid {what} name {value!r}: '.' and '..' are reserved")
    return value


@dataclass(frozen=True, order=True)
class Coordinates:
    """Where a config lives: app x version x env (validated on construction)."""

    app: str
    version: str
    env: str

    def __post_init__(self) -> None:
        validate_segment(self.app, "app")
        validate_segment(self.version, "version")
        validate_segment(self.env, "env")

    @property
    def node_name(self) -> str:
        """The ZooKeeper node name of the original: ``<app>_<version>_<env>`` (version first)."""
        return f"{self.app}_{self.version}_{self.env}"

    def __str__(self) -> str:
        return f"{self.app}/{self.env}/{self.version}"
