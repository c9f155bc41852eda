"""Offline start from a bundle: the last source before the fields' defaults.

A bundle is the JSON document the server exports for one app x env x version
(``GET /api/v1/apps/<app>/envs/<env>/versions/<version>/bundle``, or ``disconf export``; the
format is described in ``docs/release.md``). Given one (setting ``bootstrap_bundle=``, a path;
``DISCONF_BOOTSTRAP_BUNDLE``), a client that finds no server answering and no local snapshot
starts from the bundle's contents: ``source_of(cls)`` says ``"bundle"`` and
``stats.bundle_starts`` counts the configs taken from it. It is a start source only: the
config stays stale and is retried in the background, so the server's content replaces it as
soon as a server answers (and the snapshot written from it is used from then on); a snapshot
that exists always wins over the bundle. The bundle's content is never written to the snapshot.

The bundle is read once, on first use, and checked: its format and version, that it was made
for this client's app, env and version, and that every content matches its manifest MD5. A
bundle that fails a check is not used at all (logged once with the reason); the client then
starts as it would without one (defaults, or ``ConfigUnavailableError`` for required fields).

Error Handling
--------------
An unreadable, truncated or tampered file is logged and ignored; nothing here raises into the
client. No network, no ZooKeeper: this module only reads one local file.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from disconf_core import ConfigType, Coordinates, content_md5

__all__ = ["BUNDLE_FORMAT", "BUNDLE_VERSION", "BootstrapBundle", "read_bundle_file"]

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "disconf-bundle"
BUNDLE_VERSION = 1
_SECTIONS = {ConfigType.FILE: "files", ConfigType.ITEM: "items"}
# A bundle file larger than this is refused (a bundle is configs, not data).
MAX_BUNDLE_BYTES = 256 * 1024 * 1024


class BundleInvalid(ValueError):
    """The bundle cannot be used (the message says why)."""


def read_bundle_file(
    path: Path, coords: Coordinates | None = None
) -> dict[tuple[ConfigType, str], bytes]:
    """The checked contents of a bundle file; :class:`BundleInvalid` naming the problem."""
    try:
        if path.stat().st_size > MAX_BUNDLE_BYTES:
            raise BundleInvalid(f"larger than {MAX_BUNDLE_BYTES} bytes")
        document: Any = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BundleInvalid(f"cannot read it: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != BUNDLE_FORMAT:
        raise BundleInvalid(f'not a bundle ("format" is not "{BUNDLE_FORMAT}")')
    if document.get("format_version") != BUNDLE_VERSION:
        raise BundleInvalid(
            f"format_version {document.get('format_version')!r} is not {BUNDLE_VERSION}"
        )
    if coords is not None:
        made_for = (document.get("app"), document.get("env"), document.get("version"))
        if made_for != (coords.app, coords.env, coords.version):
            raise BundleInvalid(
                f"it was exported for app {made_for[0]!r} env {made_for[1]!r} version "
                f"{made_for[2]!r}, not for {coords}"
            )
    manifest = document.get("manifest")
    if not isinstance(manifest, list):
        raise BundleInvalid('"manifest" is not a list')
    contents: dict[tuple[ConfigType, str], bytes] = {}
    for row in manifest:
        kind = {"file": ConfigType.FILE, "item": ConfigType.ITEM}.get(
            str(row.get("kind")) if isinstance(row, dict) else ""
        )
        if kind is None or not isinstance(row.get("name"), str):
            raise BundleInvalid(f"a manifest entry is not a file or item with a name: {row!r:.200}")
        section = document.get(_SECTIONS[kind])
        value = section.get(row["name"]) if isinstance(section, dict) else None
        if not isinstance(value, str):
            raise BundleInvalid(f"{kind.segment} {row['name']!r} has no content")
        if content_md5(value) != str(row.get("md5", "")).lower():
            raise BundleInvalid(f"{kind.segment} {row['name']!r} does not match its manifest MD5")
        contents[(kind, row["name"])] = value.encode("utf-8")
    return contents


class BootstrapBundle:
    """The bundle of ``bootstrap_bundle``, read and checked once, on first use."""

    def __init__(self, path: Path, coords: Coordinates) -> None:
        self.path = path
        self.coords = coords
        self._lock = threading.Lock()
        self._contents: dict[tuple[ConfigType, str], bytes] | None = None

    def read(self, kind: ConfigType, name: str) -> bytes | None:
        """The bundle's content of one config, or None (not in it, or the bundle is unusable)."""
        with self._lock:
            if self._contents is None:
                try:
                    self._contents = read_bundle_file(self.path, self.coords)
                    log.info("bootstrap bundle %s: %d configs", self.path, len(self._contents))
                except BundleInvalid as exc:
                    log.error("not using the bootstrap bundle %s: %s", self.path, exc)
                    self._contents = {}
            return self._contents.get((kind, name))
