"""The serving the buffering front replaced, for comparison in the same run: the app under
gunicorn's ``gthread`` worker (4 threads, 5 s keep-alive), as ``disconf-web serve`` ran it
before. ``python -m bench.gthread --port P [--workers W]`` (settings from ``DISCONF_*``)."""

from __future__ import annotations

import argparse

from disconf_web import create_app
from disconf_web.serving import THREADS, default_workers, serve_app

__all__ = ["main"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    serve_app(
        create_app,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers or default_workers(),
        worker_class="gthread",
        threads=THREADS,
        keepalive=5,
    )


if __name__ == "__main__":
    main()
