"""Names and coordinates: what may be an app, env, version, file name or item key.

These names become ZooKeeper path segments (``/disconf/<app>_<version>_<env>/file/<name>``) and
file names on clients' disks, so they are validated once here and refused with an error naming
the field, the bad value and the offending character. Both the server (before storing) and the
client (before fetching or writing a snapshot) call these functions.

Why the ZooKeeper rule is written in UTF-16 code units
------------------------------------------------------
ZooKeeper's server checks a path character by character as a Java ``char[]`` and refuses
U+0000-U+001F, U+007F-U+009F, U+D800-U+F8FF and U+FFF0-U+FFFF, plus ``.`` and ``..`` as whole
segments. Java strings are UTF-16: a character above U+FFFF (an emoji such as U+1F600) is a
surrogate pair (U+D83D U+DE00) that falls into U+D800-U+F8FF, so ZooKeeper refuses *every*
character outside the Basic Multilingual Plane although the code point itself is in none of
those ranges. A name ZooKeeper refuses can never be notified: the server must refuse it before
it stores anything (an accepted one would sit in the notification outbox forever).
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
    "zookeeper_refusal",
]

_SEGMENT_CHARS = re.compile(r"[A-Za-z0-9._-]")
_C0_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SEGMENT = 64
MAX_CONFIG_NAME = 255

# (first, last, what ZooKeeper refuses): the code-unit ranges of ZooKeeper's PathUtils.
_ZOOKEEPER_REFUSED = (
    (0x0000, 0x001F, "control characters (U+0000-U+001F)"),
    (0x007F, 0x009F, "control characters (U+007F-U+009F)"),
    (0xD800, 0xDFFF, "surrogates (U+D800-U+DFFF)"),
    (0xE000, 0xF8FF, "private use characters (U+E000-U+F8FF)"),
    (0xFFF0, 0xFFFF, "specials (U+FFF0-U+FFFF)"),
)
_ASTRAL = (
    "characters above U+FFFF (Java stores them as a UTF-16 surrogate pair, which ZooKeeper "
    "refuses as U+D800-U+F8FF)"
)


class ConfigType(enum.IntEnum):
    """The original's numeric config types (``type`` in ``/api/config/list`` rows)."""

    FILE = 0
    ITEM = 1

    @property
    def segment(self) -> str:
        """The ZooKeeper path segment for this type: ``file`` or ``item``."""
        return "file" if self is ConfigType.FILE else "item"


def _field(what: str) -> str:
    """``item`` -> ``item key``; anything else -> ``<what> name``."""
    return "item key" if what == "item" else f"{what} name"


def _character(value: str, index: int) -> str:
    char = value[index]
    return f"{char!r} (U+{ord(char):04X}) at position {index}"


def zookeeper_refusal(name: str) -> str | None:
    """Why ZooKeeper would refuse ``name`` as one path segment, or None if it stores it.

    The reason names the first offending character (``repr``, ``U+XXXX``, position) and the
    class ZooKeeper refuses it for; ``/`` (a path separator) and the whole segments ``.`` and
    ``..`` are refused too.
    """
    if name in (".", ".."):
        return f"{name!r} is a relative path segment, which ZooKeeper refuses"
    for index, char in enumerate(name):
        code = ord(char)
        if char == "/":
            return f"it contains {_character(name, index)}: '/' separates path segments"
        if code > 0xFFFF:
            return f"it contains {_character(name, index)}: ZooKeeper refuses {_ASTRAL}"
        for first, last, what in _ZOOKEEPER_REFUSED:
            if first <= code <= last:
                return f"it contains {_character(name, index)}: ZooKeeper refuses {what}"
    return None


def validate_segment(value: object, what: str) -> str:
    """Check an app, env or version name: 1-64 of ``[A-Za-z0-9._-]``, not ``.`` or ``..``.

    Stricter than ZooKeeper (these names are also parts of the node name ``<app>_<version>_<env>``
    and of directory names on clients): the error names the first character outside the set.
    """
    head = f"invalid {what} name {value!r}"
    rule = f"use 1-{MAX_SEGMENT} characters of A-Z a-z 0-9 . _ - (and not '.' or '..')"
    if not isinstance(value, str) or not value or len(value) > MAX_SEGMENT:
        raise InvalidNameError(f"{head}: {rule}")
    if value in (".", ".."):
        raise InvalidNameError(f"{head}: '.' and '..' are reserved; {rule}")
    for index, char in enumerate(value):
        if not _SEGMENT_CHARS.fullmatch(char):
            raise InvalidNameError(f"{head}: it contains {_character(value, index)}; {rule}")
    return value


def validate_config_name(value: object, what: str = "config", *, storable: bool = True) -> str:
    """Check a file name or item key: 1-255 characters, no ``/`` or ``\\``, nothing ZooKeeper
    refuses (see :func:`zookeeper_refusal`).

    ``storable=False`` is for *looking up* a name only (read, delete, history): it keeps the
    structural rules but not ZooKeeper's character classes, so a config stored before those
    were enforced can still be read and deleted, while nothing can publish it again.
    """
    field = _field(what)
    if not isinstance(value, str) or not value:
        raise InvalidNameError(f"invalid {field} {value!r}: it must not be empty")
    if len(value) > MAX_CONFIG_NAME:
        raise InvalidNameError(
            f"invalid {field} {value[:40]!r}...: longer than {MAX_CONFIG_NAME} characters"
        )
    if value in (".", ".."):
        raise InvalidNameError(f"invalid {field} {value!r}: '.' and '..' are reserved")
    for index, char in enumerate(value):
        if char in "/\\":
            reason = "it must not contain '/' or '\\'"
        elif _C0_CONTROL.match(char):
            reason = "control characters are refused"
        elif 0xD800 <= ord(char) <= 0xDFFF:
            reason = "a lone surrogate is not text (it has no UTF-8 encoding)"
        else:
            continue
        raise InvalidNameError(
            f"invalid {field} {value!r}: it contains {_character(value, index)}: {reason}"
        )
    if storable:
        refusal = zookeeper_refusal(value)
        if refusal is not None:
            raise InvalidNameError(f"invalid {field} {value!r}: {refusal}")
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
        """The ZooKeeper node name of the original: ``<app>_<version>_<env>`` (version first).

        ``_`` may appear inside each part, so two different coordinates can share a node name
        (app ``col`` version ``x_v1`` and app ``col_x`` version ``v1``); the server refuses the
        second one when it would come into existence.
        """
        return f"{self.app}_{self.version}_{self.env}"

    def __str__(self) -> str:
        return f"{self.app}/{self.env}/{self.version}"
