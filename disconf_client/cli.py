"""The ``disconf`` command line (click, like ``disconf-web``).

::

    disconf get   APP ENV VERSION NAME [--item] [--server HOST:PORT]
    disconf watch APP ENV VERSION NAME [--item] [--count N] [--duration SECONDS]
    disconf push  APP ENV VERSION NAME [FILE | -] [--item VALUE] [--token TOKEN]
    disconf export APP ENV VERSION [-o FILE] [--token TOKEN]
    disconf import APP ENV VERSION FILE|- [--preview] [--delete-missing] [--token TOKEN]

``export``/``import``: bundles through the admin API (:mod:`disconf_client.cli_bundles`).

``--server`` defaults to ``$DISCONF_SERVERS``, ``--token`` to ``$DISCONF_TOKEN`` and
``--read-token`` (the app's read credential, if the server requires one) to
``$DISCONF_READ_TOKEN``. ``get`` writes the raw bytes to stdout; ``watch`` prints every new
revision as it arrives (a header line ``# revision N md5 M`` then the content) until ``--count``
revisions were printed, ``--duration`` elapsed or Ctrl-C; ``push`` publishes through the admin
API. Exit status: 0 ok, 1 failure (the message goes to stderr), 2 usage error.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import click
import requests

from disconf_core import Coordinates, DisconfError, content_md5, validate_config_name

from . import cli_bundles
from .binding import ChangeEvent, snapshot
from .client import DisconfClient
from .decorators import disconf_file, disconf_item
from .fetcher import ConfigFetcher
from .settings import ClientSettings, LoadMode, resolve_servers, resolve_token

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])
_Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class _Args:
    """The parsed arguments of one command (what the command functions below read)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    app: str
    env: str
    version: str
    name: str
    server: str | None
    item: Any
    retries: int
    count: int
    duration: float | None
    zk_hosts: str | None
    read_token: str | None
    file: str | None
    token: str | None
    if_match: str | None


def _coordinates(args: _Args) -> Coordinates:
    coords = Coordinates(args.app, args.version, args.env)
    validate_config_name(args.name, "item" if args.item not in (False, None) else "file")
    return coords


def _get(args: _Args) -> int:
    coords = _coordinates(args)
    fetcher = ConfigFetcher(
        resolve_servers(args.server),
        retry_times=args.retries,
        retry_sleep=0.5,
        timeout=10,
        read_token=args.read_token,
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


def _watched_class(args: _Args) -> type:
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


def _watch(args: _Args) -> int:
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
            read_token=args.read_token,
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


def _push(args: _Args) -> int:
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
    if args.item is not None:
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


def _coordinate_arguments(function: F) -> F:
    for decorator in reversed(
        [
            click.argument("app"),
            click.argument("env"),
            click.argument("version"),
            click.argument("name"),
            click.option(
                "--server", default=None, help="HOST:PORT[,HOST:PORT] (default: $DISCONF_SERVERS)"
            ),
        ]
    ):
        function = decorator(function)
    return function


def _read_command(*own: _Decorator) -> _Decorator:
    """The options of a command that reads a config, in this order: the coordinates, ``--item``,
    the command's ``own`` options, ``--retries`` and the app's read credential."""
    options: list[_Decorator] = [
        _coordinate_arguments,
        click.option("--item", is_flag=True, help="NAME is an item key"),
        *own,
        click.option("--retries", type=int, default=3, show_default=True),
        click.option(
            "--read-token",
            envvar="DISCONF_READ_TOKEN",
            default=None,
            help="the app's read credential, if the server requires one ($DISCONF_READ_TOKEN)",
        ),
    ]

    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


_EXAMPLES = """\b
Examples (the quickstart's demo app):
$ disconf get demo dev 1_0_0 redis.properties --server 127.0.0.1:8080
$ disconf get demo dev 1_0_0 discountRate --item --server 127.0.0.1:8080
$ disconf watch demo dev 1_0_0 redis.properties --server 127.0.0.1:8080 --count 1
"""


@click.group(
    help="Disconf command line client",
    epilog=_EXAMPLES,
    context_settings={"max_content_width": 100},
)
def cli() -> None:
    pass


@cli.command("get", help="print a file's bytes or an item's value")
@_read_command()
def get_command(**values: Any) -> int:
    return _get(_Args(**values))


@cli.command("watch", help="print each new revision as it arrives")
@_read_command(
    click.option("--count", type=int, default=0, help="stop after N revisions"),
    click.option("--duration", type=float, default=None, help="stop after SECONDS"),
    click.option("--zk-hosts", default=None, help="skip /api/zoo discovery"),
)
def watch_command(**values: Any) -> int:
    return _watch(_Args(**values))


@cli.command("push", help="publish a file (or an item) via the admin API")
@_coordinate_arguments
@click.argument("file", required=False, default=None)
@click.option("--item", default=None, metavar="VALUE", help="publish item NAME=VALUE")
@click.option("--token", default=None, help="admin API token (default: $DISCONF_TOKEN)")
@click.option("--if-match", default=None, help="only if the current ETag is this")
def push_command(**values: Any) -> int:
    return _push(_Args(**values))


def _bundle_command(function: F) -> F:
    for decorator in reversed(
        [
            click.argument("app"),
            click.argument("env"),
            click.argument("version"),
            click.option("--server", default=None, help="HOST:PORT (default: $DISCONF_SERVERS)"),
            click.option("--token", default=None, help="admin API token (default: $DISCONF_TOKEN)"),
        ]
    ):
        function = decorator(function)
    return function


@cli.command("export", help="write an app x env x version as one bundle (JSON)")
@_bundle_command
@click.option("-o", "--output", default=None, help="file to write (default: stdout)")
def export_command(**values: Any) -> int:
    coords = Coordinates(values["app"], values["version"], values["env"])
    server = resolve_servers(values["server"])[0]
    token = resolve_token(values["token"])
    return cli_bundles.export_bundle(server, token, coords, values["output"])


@cli.command("import", help="import a bundle: preview, then apply all or nothing")
@_bundle_command
@click.argument("file")
@click.option("--preview", "preview_only", is_flag=True, help="only show what would change")
@click.option("--delete-missing", is_flag=True, help="delete configs the bundle does not hold")
@click.option("--comment", default="", help="change comment")
@click.option("--force-reason", default=None, help="admins: override the publish guard")
def import_command(**values: Any) -> int:
    coords = Coordinates(values["app"], values["version"], values["env"])
    return cli_bundles.import_bundle(
        resolve_servers(values["server"])[0],
        resolve_token(values["token"]),
        coords,
        values["file"],
        preview_only=values["preview_only"],
        delete_missing=values["delete_missing"],
        comment=values["comment"],
        force_reason=values["force_reason"],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args if not a.startswith("-")), "")
    try:
        result = cli.main(args=args, prog_name="disconf", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        return 130
    except (DisconfError, requests.RequestException, OSError) as exc:
        sys.stderr.write(f"disconf {command}: {exc}\n")
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
