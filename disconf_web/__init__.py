"""disconf_web: the configuration center's server (Flask app, storage, ZooKeeper notifier).

``create_app(test_config=None)`` builds the WSGI app; settings come from the defaults in
:mod:`disconf_web.settings`, then ``DISCONF_*`` environment variables, then ``test_config``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .extensions import Database, DatabaseTimeouts, get_db
from .notifier import Notifier
from .publisher import Publisher, get_notifier, get_publisher
from .settings import DEFAULTS, SettingsError, check_settings

__all__ = [
    "Database",
    "Notifier",
    "Publisher",
    "SettingsError",
    "create_app",
    "get_db",
    "get_notifier",
    "get_publisher",
    "shutdown_app",
]

log = logging.getLogger(__name__)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the server app. Raises :class:`SettingsError` listing every bad setting."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("DISCONF")
    if test_config is not None:
        app.config.from_mapping(test_config)
    check_settings(app.config)
    if not app.config["DATABASE_URL"]:
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "disconf.sqlite")
        app.config["DATABASE_URL"] = f"sqlite:///{path}"
    # Bodies are checked against MAX_CONFIG_BYTES by the services; this only stops absurd
    # uploads early (an item's JSON escaping may be up to 6 times its size).
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_CONFIG_BYTES"] * 6 + 65536

    timeouts = DatabaseTimeouts(
        connect=app.config["DB_CONNECT_TIMEOUT"],
        read=app.config["DB_READ_TIMEOUT"],
        write=app.config["DB_WRITE_TIMEOUT"],
        pool=app.config["DB_POOL_TIMEOUT"],
        busy=app.config["DB_BUSY_TIMEOUT"],
    )
    db = Database(app.config["DATABASE_URL"], timeouts=timeouts)
    db.init_app(app)
    publisher = Publisher()
    publisher.init_app(app)  # publish path: ZooKeeper session, outbox deliverer, instance reads

    from .api import admin_bp, client_bp, health_bp

    app.register_blueprint(client_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(health_bp)
    from .api.read_credentials import bp as read_credentials_bp

    app.register_blueprint(read_credentials_bp)

    from .ui import init_app as init_console

    init_console(app)  # the web console (pages, sessions, CSRF)

    from .metrics import init_metrics

    init_metrics(app)

    from .protocol import init_app as init_client_protocol

    init_client_protocol(app)  # the Disconf client endpoints' answers and last-served values
    from .metrics import watch_read_cache

    watch_read_cache(app)  # the read cache's hits and the freshness gate's reads in /metrics

    from .fastpath import install_fast_path

    install_fast_path(app)  # the Disconf client endpoints, answered before Flask

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if not request.path.startswith("/api/v1"):
            return exc
        message = exc.description or exc.name
        if exc.code == 413:
            message = (
                f"request body too large: the limit is {app.config['MAX_CONFIG_BYTES']} bytes "
                "(DISCONF_MAX_CONFIG_BYTES)"
            )
        elif exc.code == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif exc.code == 405:
            message = f"method {request.method} is not allowed on {request.path}"
        response = Response(_json_error(message), exc.code or 500, mimetype="application/json")
        return response

    @app.errorhandler(sa.exc.OperationalError)
    @app.errorhandler(sa.exc.InterfaceError)
    @app.errorhandler(sa.exc.TimeoutError)  # no pooled connection within DB_POOL_TIMEOUT
    def _database_down(exc: sa.exc.SQLAlchemyError) -> Response:
        # The database is unreachable: the transaction was rolled back, nothing was written.
        log.warning("database unavailable during %s %s: %s", request.method, request.path, exc)
        detail = str(getattr(exc, "orig", None) or exc)[:200]
        message = f"database unavailable, nothing was changed: {detail}"
        return Response(_json_error(message), 503, mimetype="application/json")

    if app.config["NOTIFIER_AUTOSTART"]:
        publisher.start()

        @app.before_request
        def _after_fork() -> None:
            publisher.start()  # a no-op unless this process forked after create_app

    return app


def _json_error(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)


def shutdown_app(app: Flask) -> None:
    """Stop the notifier and dispose of the database engine (tests, quickstart)."""
    get_publisher(app).stop()
    get_db(app).dispose()
