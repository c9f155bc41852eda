"""How ``disconf-web serve`` and ``disconf-web quickstart`` serve the app (one path for both).

:func:`serve_app` prepares the Prometheus multiprocess directory (so ``/metrics`` sums every
worker, and a dead worker's gauges are dropped), then runs gunicorn: a master process that
supervises ``workers`` worker processes (restarts one that dies, stops them all gracefully on
SIGTERM), each worker running :class:`disconf_web.front.BufferedWorker` (requests read in full
by an asyncio front, then run by ``THREADS`` threads; see :mod:`disconf_web.front` for the
header and body timeouts).

Error Handling
--------------
A worker that exits or is killed is replaced by the master; its metrics files stay in the
directory (counters keep counting) and its live gauges are marked dead. SIGTERM or SIGINT to
the master stops every worker (graceful for SIGTERM, bounded by ``graceful_timeout``) and
removes the metrics directory it created. Database and ZooKeeper loss are the app's business.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .buffered_connection import FrontLimits, WSGIApp
from .front import BufferedWorker
from .protocol import shared_gate

__all__ = [
    "THREADS",
    "FrontLimits",
    "default_workers",
    "prepare_metrics_dir",
    "serve_app",
]

THREADS = 4
"""Application threads per worker process (requests run there once complete)."""


def default_workers() -> int:
    """2 x cores + 1, at most 8."""
    return min(2 * (os.cpu_count() or 1) + 1, 8)


def prepare_metrics_dir() -> None:
    """/metrics sums all workers: give prometheus_client a fresh multiprocess directory (unless
    ``PROMETHEUS_MULTIPROC_DIR`` is set), removed at exit. Must run before any metric exists."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    import atexit
    import shutil
    import tempfile

    directory = tempfile.mkdtemp(prefix="disconf-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(remove)


def _metrics_child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def serve_app(
    factory: Callable[[], WSGIApp],
    *,
    host: str,
    port: int,
    workers: int,
    limits: FrontLimits | None = None,
    metrics: bool = True,
    **extra: Any,
) -> None:
    """Serve ``factory()`` (built in each worker after the fork) until SIGTERM/SIGINT.

    ``metrics``: set up the Prometheus multiprocess directory first (``/metrics`` then sums
    every worker). ``extra``: more gunicorn settings (e.g. ``loglevel``).
    """
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    if metrics:
        prepare_metrics_dir()
    # Before the fork: the workers inherit it and share their read cache's freshness proofs.
    shared_gate.prepare_for_workers()
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": BufferedWorker,
        "threads": THREADS,
        "timeout": 60,
        "graceful_timeout": 10,
        "errorlog": "-",
        "loglevel": "info",
        "preload_app": False,
        # gunicorn's control socket is one fixed path per user: two servers on a host collide
        "control_socket_disable": True,
        **({"child_exit": _metrics_child_exit} if metrics else {}),
        **extra,
    }
    chosen = limits or FrontLimits.from_env()

    class Server(BaseApplication):  # type: ignore[misc]
        front_limits = chosen

        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> WSGIApp:
            return factory()

    Server().run()
