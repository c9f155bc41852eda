"""The ``disconf-web`` command: database migrations, users, tokens, serving, quickstart.

Settings come from ``DISCONF_*`` environment variables (``DISCONF_DATABASE_URL``,
``DISCONF_ZK_HOSTS``, ``DISCONF_SECRET_KEY``...), the same as the server's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from flask import Flask

from . import create_app, services
from .buffered_connection import DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, FrontLimits
from .extensions import Database, get_db
from .migrate import database_outage, upgrade
from .quickstart import run_quickstart
from .serving import default_workers, serve_app
from .settings import SettingsError

__all__ = ["main"]


def _offline_app(**overrides: Any) -> Flask:
    """The app's settings without starting anything (for commands that only use the DB)."""
    try:
        return create_app({"REQUIRE_SECRET_KEY": False, "NOTIFIER_AUTOSTART": False, **overrides})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _database_url() -> str:
    url: str = _offline_app().config["DATABASE_URL"]
    return url


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """disconf-web: the Disconf-compatible configuration center server.

    Settings are read from DISCONF_* environment variables: DISCONF_DATABASE_URL (default: a
    SQLite file in the instance folder), DISCONF_ZK_HOSTS (default 127.0.0.1:2181),
    DISCONF_ZK_PREFIX (default /disconf), DISCONF_SECRET_KEY (required by 'serve').
    """


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to the newest migration."""
    url = _database_url()
    try:
        upgrade(url)
    except Exception as exc:
        raise click.ClickException(f"migration of {_safe(url)} failed: {exc}") from exc
    click.echo(f"database {_safe(url)} is at the newest schema")


def _safe(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).render_as_string(hide_password=True)


def _read_password() -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on standard input")
        return password
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@main.command("create-user")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "editor", "viewer"]),
    required=True,
    help="admin: everything; editor: changes granted apps; viewer: reads granted apps.",
)
@click.option("--app", "apps", multiple=True, help="Grant this app (repeatable).")
def create_user(name: str, role: str, apps: tuple[str, ...]) -> None:
    """Create user NAME; the password is read from standard input when piped, else prompted."""
    password = _read_password()
    database = Database(_database_url())
    try:
        with database.new_session() as session:
            services.create_user(
                session, name=name, password=password, role=role, actor="cli", apps=apps
            )
    except services.ServiceError as exc:
        raise _fail(exc) from exc
    finally:
        database.dispose()
    click.echo(f"created {role} user {name!r}")


@main.command("create-token")
@click.argument("name")
@click.option("--name", "label", default="cli", show_default=True, help="A label for the token.")
def create_token(name: str, label: str) -> None:
    """Create an API token for user NAME and print it (it is shown only this once)."""
    database = Database(_database_url())
    try:
        with database.new_session() as session:
            new = services.create_token(session, user=name, name=label, actor="cli")
    except services.ServiceError as exc:
        raise _fail(exc) from exc
    finally:
        database.dispose()
    click.echo(new.secret)


def _seconds_option(
    flag: str, envvar: str, default: float, text: str
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A positive number of seconds, also read from the environment variable ``envvar``."""
    return click.option(
        flag,
        type=click.FloatRange(min=0, min_open=True),
        default=default,
        show_default=True,
        envvar=envvar,
        help=f"{text} Env: {envvar}.",
    )


def _front_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--header-timeout`` and ``--body-timeout`` (shared by serve and quickstart)."""
    command = _seconds_option(
        "--body-timeout",
        "DISCONF_HTTP_BODY_TIMEOUT",
        DEFAULT_BODY_TIMEOUT,
        "Seconds for a request body to arrive after its headers (408 and close after), "
        "and for a client to take an answer.",
    )(command)
    command = _seconds_option(
        "--header-timeout",
        "DISCONF_HTTP_HEADER_TIMEOUT",
        DEFAULT_HEADER_TIMEOUT,
        "Seconds for a request line and headers to arrive, from the connection or from "
        "the first byte after a keep-alive wait (408 and close after).",
    )(command)
    return command


def _limits(header_timeout: float, body_timeout: float) -> FrontLimits:
    try:
        base = FrontLimits.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    return FrontLimits(
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        keepalive=base.keepalive,
        max_body_bytes=base.max_body_bytes,
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes (default: 2 x cores + 1, at most 8).",
)
@_front_options
def serve(
    host: str, port: int, workers: int | None, header_timeout: float, body_timeout: float
) -> None:
    """Run the server: gunicorn worker processes, each reading requests in full before its
    threads run them. Runs 'db upgrade' first, then serves."""
    try:
        checked = create_app({"NOTIFIER_AUTOSTART": False})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    url = checked.config["DATABASE_URL"]
    try:
        outage = database_outage(url, get_db(checked).timeouts)
        if outage is None:
            upgrade(url)
    except Exception as exc:
        raise click.ClickException(f"migration of {_safe(url)} failed: {exc}") from exc
    if outage is not None:  # a restart during a database outage: serve the last-served values
        click.echo(
            f"warning: database {_safe(url)} does not answer ({outage}); serving, client reads "
            "answer last-served values, writes 503; migrations run at the next start",
            err=True,
        )
    serve_app(
        create_app,
        host=host,
        port=port,
        workers=workers or default_workers(),
        limits=_limits(header_timeout, body_timeout),
    )


@main.command()
@click.option("--port", default=8080, show_default=True, type=int, help="HTTP port.")
@click.option(
    "--data-dir",
    default=".quickstart",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the SQLite database, ZooKeeper data and secret key live.",
)
@click.option(
    "--zk-port", default=0, type=int, help="ZooKeeper client port (default: a free port)."
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16))
@_front_options
def quickstart(
    port: int,
    data_dir: str,
    zk_port: int,
    workers: int,
    header_timeout: float,
    body_timeout: float,
) -> None:
    """A complete single-machine config center: SQLite, its own ZooKeeper, the web server on
    http://127.0.0.1:PORT, an admin user and a demo app. Ctrl-C stops everything."""
    run_quickstart(
        port=port,
        data_dir=data_dir,
        zk_port=zk_port or None,
        workers=workers,
        limits=_limits(header_timeout, body_timeout),
    )
