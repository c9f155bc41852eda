"""Watch local directories (LOCAL mode, ignored configs, the override directory) with watchdog.

:class:`LocalFileWatcher` reports every created, modified, moved-in or deleted file under its
directories to a callback, on watchdog's observer thread; the callback must only enqueue work.
Missing directories are created so that a file placed there later is seen. Editors that save
through a temporary file and a rename are covered (the rename's destination is reported).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

__all__ = ["LocalFileWatcher"]

log = logging.getLogger(__name__)


class _Handler(FileSystemEventHandler):
    def __init__(self, callback: Callable[[Path], None]) -> None:
        self._callback = callback

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if not raw:
                continue
            path = Path(raw.decode() if isinstance(raw, bytes) else raw)
            try:
                self._callback(path.absolute())
            except Exception:  # noqa: BLE001 - never kill the observer thread
                log.exception("local file callback failed for %s", path)


class LocalFileWatcher:
    """Recursive watchdog observers on a few directories, reporting changed file paths."""

    def __init__(self, directories: Iterable[Path], callback: Callable[[Path], None]) -> None:
        self.directories = sorted({Path(d).absolute() for d in directories})
        self._callback = callback
        self._observer: Any = None

    def start(self) -> None:
        observer: Any = Observer()
        handler = _Handler(self._relay)
        for directory in self.directories:
            directory.mkdir(parents=True, exist_ok=True)
            observer.schedule(handler, str(directory), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def _relay(self, path: Path) -> None:
        self._callback(path)

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
            self._observer = None
