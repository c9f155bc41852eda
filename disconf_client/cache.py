"""The local snapshot: the last applied revision of every config, on disk.

Layout under the download directory (``./disconf/download`` by default, as the original)::

    <dir>/<file name>                 a file's content (usable directly by other tools)
    <dir>/items/<item key>            an item's value
    <dir>/.md5/file/<file name>       MD5 of the content beside it
    <dir>/.md5/item/<item key>

Every write is atomic: a temporary file in the same directory, ``fsync``, ``os.replace``, then
the directory is fsynced; the MD5 is written (atomically too) after the content. A reader
checks the content against its MD5: a truncated or corrupted snapshot, or one whose MD5 is
missing, raises :class:`~disconf_client.errors.SnapshotCorruptError` and is not used.

The same layout is read without MD5 (:meth:`LocalSnapshot.read_plain`) for the LOCAL mode
directory and the disaster-recovery override directory, where people edit files by hand.
Names are validated with :func:`disconf_core.validate_config_name` before they become paths.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from disconf_core import ConfigType, content_md5, validate_config_name

from .errors import SnapshotCorruptError

__all__ = ["LocalSnapshot", "atomic_write", "config_path"]

log = logging.getLogger(__name__)


def config_path(directory: Path, kind: ConfigType, name: str) -> Path:
    """Where a config lives in a snapshot/local/override directory."""
    validate_config_name(name, kind.segment)
    if kind is ConfigType.FILE:
        return directory / name
    return directory / "items" / name


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename, fsync directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)  # mkstemp's 0600 would hide configs from tools
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
    try:
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(directory)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(directory)


class LocalSnapshot:
    """Atomic, MD5-checked storage of applied revisions in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, kind: ConfigType, name: str) -> Path:
        return config_path(self.directory, kind, name)

    def _md5_path(self, kind: ConfigType, name: str) -> Path:
        validate_config_name(name, kind.segment)
        return self.directory / ".md5" / kind.segment / name

    def write(self, kind: ConfigType, name: str, content: bytes) -> None:
        """Store a revision; content first, then its MD5 (a crash in between = detected)."""
        atomic_write(self.path(kind, name), content)
        atomic_write(self._md5_path(kind, name), content_md5(content).encode("ascii") + b"\n")

    def read(self, kind: ConfigType, name: str) -> bytes | None:
        """The stored revision, ``None`` if there is none; ``SnapshotCorruptError`` if damaged."""
        path = self.path(kind, name)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SnapshotCorruptError(f"cannot read snapshot {str(path)!r}: {exc}") from exc
        try:
            expected = self._md5_path(kind, name).read_text("ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SnapshotCorruptError(
                f"snapshot {str(path)!r} has no readable MD5 beside it: {exc}"
            ) from exc
        actual = content_md5(content)
        if actual != expected:
            raise SnapshotCorruptError(
                f"snapshot {str(path)!r} is corrupted or truncated: MD5 {actual} "
                f"instead of {expected} ({len(content)} bytes)"
            )
        return content

    @staticmethod
    def read_plain(directory: Path, kind: ConfigType, name: str) -> bytes | None:
        """A hand-edited file in a LOCAL or override directory (no MD5), or ``None``."""
        path = config_path(directory, kind, name)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None
