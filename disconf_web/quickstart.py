"""``disconf-web quickstart``: SQLite + a ZooKeeper it starts itself + the web server.

Error Handling
--------------
ZooKeeper's jars or java missing: a message says how to install them and the command exits 1.
ZooKeeper not ready in time: its log tail is shown, exit 1. SIGINT/SIGTERM: gunicorn stops its
workers, then ZooKeeper is stopped by PID; nothing is left running.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from disconf_core import ConfigType, Coordinates

from . import create_app, services
from .embedded_zookeeper import EmbeddedZooKeeper, ZooKeeperNotInstalled, ZooKeeperStartError
from .extensions import Database
from .migrate import upgrade
from .models import App, Env, User
from .serving import FrontLimits, serve_app

__all__ = ["run_quickstart"]

DEMO = Coordinates(app="demo", version="1_0_0", env="dev")
DEMO_FILE = "redis.properties"
DEMO_FILE_CONTENT = "# the demo app's Redis settings\nredis.host=127.0.0.1\nredis.port=6379\n"
DEMO_ITEM = "discountRate"


def _secret_key(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _seed(database_url: str) -> tuple[str | None, str]:
    """Admin user (password returned only when created now), a token, the demo app."""
    database = Database(database_url)
    try:
        with database.new_session() as session:
            password = None
            if session.scalar(sa.select(User).where(User.name == "admin")) is None:
                password = secrets.token_urlsafe(12)
                services.create_user(
                    session, name="admin", password=password, role="admin", actor="quickstart"
                )
            token = services.create_token(
                session, user="admin", name="quickstart", actor="quickstart"
            ).secret
            if session.scalar(sa.select(App).where(App.name == DEMO.app)) is None:
                services.create_app_record(
                    session, name=DEMO.app, description="quickstart demo", actor="quickstart"
                )
            if session.scalar(sa.select(Env).where(Env.name == DEMO.env)) is None:
                services.create_env(session, name=DEMO.env, actor="quickstart")
            demo: list[tuple[ConfigType, str, str]] = [
                (ConfigType.FILE, DEMO_FILE, DEMO_FILE_CONTENT),
                (ConfigType.ITEM, DEMO_ITEM, "0.5"),
            ]
            for kind, name, value in demo:
                if services.find_config(session, DEMO, kind, name) is None:
                    services.publish_config(
                        session, coords=DEMO, kind=kind, name=name, content=value,
                        actor="quickstart", comment="quickstart demo",
                    )  # fmt: skip
            return password, token
    finally:
        database.dispose()


def run_quickstart(
    *,
    port: int,
    data_dir: str,
    zk_port: int | None,
    workers: int,
    limits: FrontLimits | None = None,
) -> None:
    """Start ZooKeeper, migrate and seed, print the banner, then serve exactly as
    ``disconf-web serve`` does (:func:`disconf_web.serving.serve_app`: same front, same metrics
    set-up) until SIGINT/SIGTERM; ZooKeeper is stopped last, by the process that started it."""
    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    zookeeper = EmbeddedZooKeeper(root / "zookeeper", port=zk_port)
    click.echo(f"starting ZooKeeper on {zookeeper.hosts} ...")
    try:
        zookeeper.start(timeout=60)
    except ZooKeeperNotInstalled as exc:
        raise click.ClickException(str(exc)) from exc
    except ZooKeeperStartError as exc:
        raise click.ClickException(f"ZooKeeper did not start: {exc}") from exc

    def _terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _terminate)
    # gunicorn forks its workers from inside serve_app(): a worker that exits unwinds this
    # same stack, so only the process that started ZooKeeper may stop it.
    owner = os.getpid()
    try:
        database_url = f"sqlite:///{root / 'disconf.sqlite'}"
        upgrade(database_url)
        password, token = _seed(database_url)
        settings = {
            "DATABASE_URL": database_url,
            "ZK_HOSTS": zookeeper.hosts,
            "SECRET_KEY": _secret_key(root),
        }
        url = f"http://127.0.0.1:{port}"
        lines = [
            "",
            f"disconf quickstart: {url}  (data in {root})",
            "  admin user:  admin  password: "
            + (password or "(unchanged: it was printed when first created)"),
            f"  API token:   {token}",
            f"  demo app:    app={DEMO.app} env={DEMO.env} version={DEMO.version}: "
            f"file {DEMO_FILE}, item {DEMO_ITEM}",
            "",
            "Point a client at it:",
            f"  DISCONF_SERVERS=127.0.0.1:{port} DISCONF_APP={DEMO.app} DISCONF_ENV={DEMO.env} "
            f"DISCONF_VERSION={DEMO.version}",
            "Publish a change:",
            f"  curl -X PUT -H 'Authorization: Bearer {token}' --data-binary "
            f"$'redis.host=127.0.0.1\\nredis.port=6380\\n' "
            f"{url}/api/v1/apps/{DEMO.app}/envs/{DEMO.env}/versions/{DEMO.version}"
            f"/files/{DEMO_FILE}",
            f"  curl '{url}/api/config/file?app={DEMO.app}&env={DEMO.env}"
            f"&version={DEMO.version}&key={DEMO_FILE}'",
            "Press Ctrl-C to stop.",
            "",
        ]
        click.echo("\n".join(lines))
        sys.stdout.flush()
        # gunicorn installs its own SIGINT/SIGTERM handlers and exits with SystemExit.
        signal.signal(signal.SIGTERM, previous)
        serve_app(
            lambda: create_app(settings),
            host="127.0.0.1",
            port=port,
            workers=workers,
            limits=limits,
            loglevel="warning",
        )
    except KeyboardInterrupt:
        pass
    finally:
        if os.getpid() == owner:
            click.echo("stopping ZooKeeper ...")
            zookeeper.stop()
            click.echo("quickstart stopped")
