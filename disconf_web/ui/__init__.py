"""The web console: server-rendered pages for people (``/login``, ``/apps``, ...).

:func:`init_app` (called by :func:`disconf_web.create_app`) registers the ``console`` blueprint,
configures the signed-cookie sessions with Flask-Login's ``LoginManager`` and Flask-WTF's
``CSRFProtect`` (both through their ``init_app``) and installs two hooks that run, in this order,
for every request of the app (console and admin API alike): drop sessions whose user no longer
loads (disabled, session version moved on, logged out), then the CSRF check (every console
form; on the admin API only calls that ride on the session cookie). Templates live in
``disconf_web/templates/console``, assets in ``disconf_web/static`` (served by the package
itself: no CDN).
"""

from __future__ import annotations

from flask import Flask

# Importing the page modules registers their routes on the ``console`` blueprint.
# pages_notifications: undelivered notifications (admins).
from . import (  # noqa: F401
    pages_admin,
    pages_apps,
    pages_auth,
    pages_bundles,
    pages_configs,
    pages_gray,
    pages_history,
    pages_notifications,
)
from .blueprint import bp
from .security import check_csrf, configure_sessions, drop_stale_session

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    """Register the console on ``app``."""
    configure_sessions(app)
    app.before_request(drop_stale_session)
    app.before_request(check_csrf)
    app.register_blueprint(bp)
