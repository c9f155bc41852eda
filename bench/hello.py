"""The read-throughput ceiling: a bare WSGI "hello" served by ``disconf_web.serving.serve_app``,
i.e. the very serving path of ``disconf-web serve`` (gunicorn, the buffering front, same
threads, keep-alive, default workers; no metrics directory).

``python -m bench.hello --port P [--workers W]``."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any

from disconf_web.serving import default_workers, serve_app

__all__ = ["hello_app", "main"]

_BODY = b'{"status":1,"message":"","value":"hello"}'


def hello_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response(
        "200 OK",
        [("Content-Type", "application/json;charset=UTF-8"), ("Content-Length", str(len(_BODY)))],
    )
    return [_BODY]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    serve_app(
        lambda: hello_app,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers or default_workers(),
        metrics=False,
        loglevel="warning",
    )


if __name__ == "__main__":
    main()
