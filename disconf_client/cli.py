"""The ``disconf`` command line.

::

    disconf get   APP ENV VERSION NAME [--item] [--server HOST:PORT]
    disconf watch APP ENV VERSION NAME [--item] [--count N] [--duration SECONDS]
    disconf push  APP ENV VERSION NAME [FILE | -] [--item VALUE] [--token TOKEN]

``--server`` defaults to ``$DISCONF_SERVERS`` and ``--token`` to ``$DISCONF_TOKEN``. ``get``
writes the raw bytes to stdout; ``watch`` prints every new revision as it arrives (a header line
``# revision N md5 M`` then the content) until ``--count`` revisions were printed, ``--duration``
elapsed or Ctrl-C; ``push`` publishes through the admin API. Exit status: 0 ok, 1 failure (the
message goes to stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from disconf_core import Coordinates, DisconfError, content_md5, validate_config_name

from .binding import ChangeEvent, snapshot
from .client import DisconfClient
from .decorators import disconf_file, disconf_item
from .fetcher import ConfigFetcher
from .settings import ClientSettings, LoadMode, resolve_servers, resolve_token

__all__ = ["main"]


def _coordinates(args: argparse.Namespace) -> Coordinates:
    coords = Coordinates(args.app, args.version, args.env)
    validate_config_name(args.name, "item" if args.item is not False else "file")
    return coords


def _get(args: argparse.Namespace) -> int:
    coords = _coordinates(args)
    fetcher = ConfigFetcher(
        resolve_servers(args.server), retry_times=args.retries, retry_sleep=0.5, timeout=10
    )
    try:
        if args.item:
            sys.stdout.write(fetcher.fetch_item(coords, args.name) + "\n")
        else:
            sys.stdout.buffer.write(fetcher.fetch_file(coords, args.name))
    finally:
        fetcher.close()  # its keep-alive connections
    sys.stdout.flush()
    return 0


def _watched_class(args: argparse.Namespace) -> type:
    if args.item:
        item_cls: type = type("WatchedItem", (), {"__annotations__": {"value": str}, "value": ""})
        disconf_item(item_cls, key=args.name)
        return item_cls
    file_cls: type = type("WatchedFile", (), {})
    disconf_file(file_cls, filename=args.name, format="hosted")
    return file_cls


def _content_of(cls: type) -> bytes:
    current: Any = snapshot(cls)
    value: Any = getattr(current, "content", None)
    if value is None:
        value = str(getattr(current, "value", "")).encode("utf-8")
    return bytes(value)


def _watch(args: argparse.Namespace) -> int:
    coords = _coordinates(args)
    cls = _watched_class(args)
    done = threading.Event()
    printed = [0]
    lock = threading.Lock()

    def show(content: bytes) -> None:
        with lock:
            printed[0] += 1
            sys.stdout.write(f"# revision {printed[0]} md5 {content_md5(content)}\n")
            sys.stdout.flush()
            sys.stdout.buffer.write(content if content.endswith(b"\n") else content + b"\n")
            sys.stdout.flush()
            if args.count and printed[0] >= args.count:
                done.set()

    def changed(event: ChangeEvent[Any]) -> None:
        show(_content_of(cls))

    with tempfile.TemporaryDirectory(prefix="disconf-watch-") as download_dir:
        settings = ClientSettings(
            app=coords.app,
            env=coords.env,
            version=coords.version,
            servers=resolve_servers(args.server),
            mode=LoadMode.SERVER,
            download_dir=Path(download_dir),
            retry_times=args.retries,
            retry_sleep=0.5,
            zk_hosts=args.zk_hosts,
        )
        client = DisconfClient([cls], settings=settings, on_change=changed)
        client.start()
        try:
            show(_content_of(cls))
            done.wait(args.duration)
        except KeyboardInterrupt:
            pass
        finally:
            client.close()
    return 0


def _push(args: argparse.Namespace) -> int:
    coords = _coordinates(args)
    token = resolve_token(args.token)
    server = resolve_servers(args.server)[0]
    base = (
        f"{server}/api/v1/apps/{quote(coords.app)}/envs/{quote(coords.env)}"
        f"/versions/{quote(coords.version)}"
    )
    headers = {"Authorization": f"Bearer {token}"}
    if args.if_match:
        headers["If-Match"] = args.if_match
    if args.item is not False:
        url = f"{base}/items/{quote(args.name, safe='')}"
        response = requests.put(url, json={"value": args.item}, headers=headers, timeout=30)
    else:
        if args.file in (None, "-"):
            body = sys.stdin.buffer.read()
        else:
            body = Path(args.file).read_bytes()
        url = f"{base}/files/{quote(args.name, safe='')}"
        response = requests.put(url, data=body, headers=headers, timeout=30)
    if response.status_code >= 400:
        try:
            message = json.dumps(response.json())
        except ValueError:
            message = response.text[:500]
        sys.stderr.write(f"disconf push: HTTP {response.status_code}: {message}\n")
        return 1
    sys.stdout.write(response.text.strip() + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="disconf", description="Disconf command line client")
    commands = parser.add_subparsers(dest="command", required=True)

    def coordinates(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("app")
        sub.add_argument("env")
        sub.add_argument("version")
        sub.add_argument("name", help="file name or item key")
        sub.add_argument("--server", help="HOST:PORT[,HOST:PORT] (default: $DISCONF_SERVERS)")

    get = commands.add_parser("get", help="print a file's bytes or an item's value")
    coordinates(get)
    get.add_argument("--item", action="store_true", help="NAME is an item key")
    get.add_argument("--retries", type=int, default=3)
    get.set_defaults(handler=_get)

    watch = commands.add_parser("watch", help="print each new revision as it arrives")
    coordinates(watch)
    watch.add_argument("--item", action="store_true", help="NAME is an item key")
    watch.add_argument("--count", type=int, default=0, help="stop after N revisions")
    watch.add_argument("--duration", type=float, default=None, help="stop after SECONDS")
    watch.add_argument("--zk-hosts", default=None, help="skip /api/zoo discovery")
    watch.add_argument("--retries", type=int, default=3)
    watch.set_defaults(handler=_watch)

    push = commands.add_parser("push", help="publish a file (or an item) via the admin API")
    coordinates(push)
    push.add_argument("file", nargs="?", default=None, help="file to publish, '-' = stdin")
    push.add_argument("--item", default=False, metavar="VALUE", help="publish item NAME=VALUE")
    push.add_argument("--token", default=None, help="admin API token (default: $DISCONF_TOKEN)")
    push.add_argument("--if-match", default=None, help="only if the current ETag is this")
    push.set_defaults(handler=_push)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except (DisconfError, requests.RequestException, OSError) as exc:
        sys.stderr.write(f"disconf {args.command}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
