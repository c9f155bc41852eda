"""The last value each config was served with, per app, in memory and on disk.

:class:`LastServed` keeps, for one Flask app (it lives in ``app.extensions``, never in a module
global), the last ``(value, md5, read-credential hash)`` that app served per config. It is
consulted **only** when the database does not answer, so clients keep reading already-published
configs through a database outage; while the database answers it is never read, so it cannot
serve a stale value then.

* Memory: a :class:`cachetools.LRUCache` bounded by ``max_bytes`` (``getsizeof`` = the value's
  UTF-8 size plus a fixed per-entry overhead); the least recently served config is dropped first.
* Disk (optional, ``directory``): one JSON file per config, written only when the served value
  changes (a steady read load writes nothing), atomically (a temporary file in the same
  directory, then :func:`os.replace`), and loaded when the app starts, newest first, up to
  ``max_bytes``; older files beyond the bound are deleted. A web node restarted during a database
  outage so still answers what it served before. Files whose MD5 does not match their value
  (truncated, edited) are ignored and removed. Several worker processes may share the directory:
  each write replaces a whole file, so a reader sees either the old or the new copy.

Error Handling
--------------
* Disk errors (full disk, read-only directory) are logged and never fail a client read: the memory
  copy keeps working.
* This module never talks to the database or ZooKeeper.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cachetools import LRUCache

from disconf_core.hashing import content_md5

__all__ = ["ENTRY_OVERHEAD", "LastServed", "Served", "ServedKey"]

log = logging.getLogger(__name__)

#: Bytes counted per entry on top of its value (key, tuple, bookkeeping), so that many tiny
#: values are bounded too.
ENTRY_OVERHEAD = 256

ServedKey = tuple[str, str, str, int, str]  # app, env, version, type, name


@dataclass(frozen=True)
class Served:
    """What was served for one config: its value, the value's MD5, and the app's read-credential
    hash at that time (None: the app needed none)."""

    value: str
    md5: str
    credential: str | None = None


def _size(entry: Served) -> int:
    return len(entry.value.encode("utf-8")) + ENTRY_OVERHEAD


class LastServed:
    """Memory LRU plus an optional disk copy (see the module docstring)."""

    def __init__(self, max_bytes: int, directory: str | os.PathLike[str] | None = None) -> None:
        self.max_bytes = max_bytes
        self._cache: LRUCache[ServedKey, Served] = LRUCache(maxsize=max_bytes, getsizeof=_size)
        self._lock = threading.Lock()
        self.directory = Path(directory) if directory else None
        self._disk_bytes = 0
        if self.directory is not None:
            self._load()

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    def get(self, key: ServedKey) -> Served | None:
        with self._lock:
            return self._cache.get(key)

    def put(self, key: ServedKey, entry: Served) -> None:
        """Remember ``entry``; writes the disk copy only when it differs from the last one."""
        with self._lock:
            known = self._cache.get(key)  # also marks it recently used
            if known is not None and (known.md5, known.credential) == (entry.md5, entry.credential):
                return  # the steady state: the same value (same MD5) served again
            fits = _size(entry) <= self.max_bytes
            if fits:
                self._cache[key] = entry
            else:
                self._cache.pop(key, None)
        if self.directory is None:
            return
        if fits:
            self._write(key, entry)
        else:  # too large to keep
            self._unlink(key)

    def discard(self, key: ServedKey) -> None:
        """Forget ``key`` (the database says it no longer exists)."""
        with self._lock:
            known = self._cache.pop(key, None) is not None
        if self.directory is not None and known:
            self._unlink(key)

    # -- disk ------------------------------------------------------------------------------------

    def _unlink(self, key: ServedKey) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("last-served copy of %r not removed: %s", key, exc)

    def _path(self, key: ServedKey) -> Path:
        assert self.directory is not None
        digest = hashlib.sha256(json.dumps(list(key)).encode("utf-8")).hexdigest()[:40]
        return self.directory / f"{digest}.json"

    def _write(self, key: ServedKey, entry: Served) -> None:
        assert self.directory is not None
        record = {
            "key": list(key),
            "value": entry.value,
            "md5": entry.md5,
            "credential": entry.credential,
        }
        data = json.dumps(record, ensure_ascii=False).encode("utf-8")
        target = self._path(key)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(data)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning("last-served copy of %r not written to %s: %s", key, self.directory, exc)
            return
        with self._lock:
            self._disk_bytes += len(data)
            over = self._disk_bytes > self.max_bytes
        if over:
            self._prune()

    def _files(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every copy, newest first."""
        assert self.directory is not None
        found: list[tuple[float, int, Path]] = []
        try:
            paths = list(self.directory.glob("*.json"))
        except OSError:
            return found
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((stat.st_mtime, stat.st_size, path))
        found.sort(key=lambda item: item[0], reverse=True)
        return found

    def _prune(self) -> None:
        """Delete the oldest copies until the directory holds at most ``max_bytes``."""
        kept = 0
        for _mtime, size, path in self._files():
            if kept + size <= self.max_bytes:
                kept += size
                continue
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("last-served copy %s not removed: %s", path, exc)
        with self._lock:
            self._disk_bytes = kept

    def _load(self) -> None:
        """Read the copies, newest first, up to ``max_bytes``; drop bad and surplus files."""
        assert self.directory is not None
        loaded: list[tuple[ServedKey, Served]] = []
        kept = 0
        for _mtime, size, path in self._files():
            entry = _read(path)
            if entry is None or kept + size > self.max_bytes:
                try:
                    path.unlink(missing_ok=True)
                except OSError:
                    pass
                continue
            kept += size
            loaded.append(entry)
        with self._lock:
            for key, served in reversed(loaded):  # oldest first: the newest end most recent
                if _size(served) <= self.max_bytes:
                    self._cache[key] = served
            self._disk_bytes = kept
        if loaded:
            log.info("loaded %d last-served configs from %s", len(loaded), self.directory)


def _read(path: Path) -> tuple[ServedKey, Served] | None:
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
        app, env, version, kind, name = record["key"]
        key: ServedKey = (str(app), str(env), str(version), int(kind), str(name))
        credential = record.get("credential")
        served = Served(
            str(record["value"]),
            str(record["md5"]),
            None if credential is None else str(credential),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("last-served copy %s ignored: %s", path, exc)
        return None
    if content_md5(served.value) != served.md5:
        log.warning("last-served copy %s ignored: its MD5 does not match its value", path)
        return None
    return key, served
