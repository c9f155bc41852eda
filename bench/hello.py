"""The read-throughput ceiling: a bare WSGI "hello" served by ``disconf_web.cli.run_gunicorn``,
i.e. the very gunicorn settings of ``disconf-web serve`` (gthread, same threads, keep-alive,
default workers). ``python -m bench.hello --port P [--workers W]``."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import Any

from disconf_web.cli import default_workers, run_gunicorn

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
    run_gunicorn(
        lambda: hello_app,  # type: ignore[arg-type,return-value]
        host="127.0.0.1",
        port=args.port,
        workers=args.workers or default_workers(),
        loglevel="warning",
    )


if __name__ == "__main__":
    main()
