"""A benchmark worker process: ``count`` sessions watching one config, reporting each value
they apply as ``V <value> <time.monotonic()>`` lines on stdout (CLOCK_MONOTONIC is system-wide
on Linux, so the parent compares it with its own clock).

``python -m bench.workers disconf --count K --server URL --app A --env E --version V --key K``
runs K :class:`disconf_client.DisconfClient` (each its own ZooKeeper session, HTTP session and
snapshot dir) bound to an item; the time is taken in the ``on_change`` callback, i.e. when the
client holds the new value. ``python -m bench.workers kazoo --count K --zk HOSTS --path P`` runs
K bare ``KazooClient`` sessions with a ``DataWatch``: the raw floor.

``READY`` is printed when every session is started; a line ``quit`` on stdin (or EOF) closes
them all and exits.

Error Handling
--------------
A session that fails to start is reported as ``ERROR <message>`` and the worker exits 1; the
parent gives up on a bounded wait. ZooKeeper session loss is handled by the clients themselves
(kazoo reconnects; ``DisconfClient`` re-arms its watches and re-fetches).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["main"]

_out_lock = threading.Lock()


def emit(line: str) -> None:
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _start_disconf(args: argparse.Namespace, index: int, base: str) -> Any:
    from disconf_client import DisconfClient, disconf_item

    holder = type(f"BenchItem{index}", (), {"__annotations__": {"value": str}, "value": ""})
    cls = disconf_item(args.key)(holder)

    def changed(event: Any) -> None:
        emit(f"V {event.new.value} {time.monotonic():.6f}")

    client = DisconfClient(
        [cls],
        app=args.app,
        env=args.env,
        version=args.version,
        servers=[args.server],
        mode="server",
        download_dir=f"{base}/{index}",
        recheck_interval=3600,
        retry_times=5,
        retry_sleep=0.2,
        http_timeout=30,
        on_change=changed,
    )
    client.start()
    return client


def _start_kazoo(args: argparse.Namespace, index: int, base: str) -> Any:
    from kazoo.client import KazooClient

    client = KazooClient(hosts=args.zk, timeout=30)
    client.start(timeout=30)

    def changed(data: bytes | None, _stat: Any) -> None:
        if data is not None:
            emit(f"V {data.decode('utf-8', 'replace')} {time.monotonic():.6f}")

    client.DataWatch(args.path, changed)
    return client


def _close(client: Any) -> None:
    try:
        if hasattr(client, "close") and not hasattr(client, "DataWatch"):
            client.close()
        else:
            client.stop()
            client.close()
    except Exception:  # noqa: BLE001 - closing at exit
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="benchmark watcher sessions")
    parser.add_argument("kind", choices=["disconf", "kazoo"])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--server", default="")
    parser.add_argument("--app", default="bench")
    parser.add_argument("--env", default="bench")
    parser.add_argument("--version", default="1_0_0")
    parser.add_argument("--key", default="push")
    parser.add_argument("--zk", default="")
    parser.add_argument("--path", default="")
    args = parser.parse_args(argv)
    start = _start_disconf if args.kind == "disconf" else _start_kazoo
    clients: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="disconf-bench-") as base:
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                futures = [pool.submit(start, args, index, base) for index in range(args.count)]
                for future in futures:
                    clients.append(future.result())
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            emit(f"ERROR {type(exc).__name__}: {exc}")
            for client in clients:
                _close(client)
            return 1
        emit("READY")
        for line in sys.stdin:
            if line.strip() == "quit":
                break
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(_close, clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())
