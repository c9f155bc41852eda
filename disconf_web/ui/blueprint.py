"""The console's blueprint (``console``: server-rendered Jinja, autoescaped) and what every page
shares: security headers, template globals and filters (page links, readable audit
details), the error pages, and the URL patterns of a version and a config (from
:mod:`disconf_web.urls`, shared with the admin API).

The pages themselves register their routes on :data:`bp` from the ``pages_*`` modules
(:mod:`disconf_web.ui` imports them all), grouped by what a person is doing: signing in
(:mod:`~disconf_web.ui.pages_auth`), browsing apps and envs (:mod:`~disconf_web.ui.pages_apps`),
editing configs (:mod:`~disconf_web.ui.pages_configs`), looking back and copying
(:mod:`~disconf_web.ui.pages_history`) and administering (:mod:`~disconf_web.ui.pages_admin`).
Their views are wrapped by :mod:`~disconf_web.ui.scope`'s decorators (log-in, URL values, grant)
and show long lists a page at a time.

Every change goes through :mod:`disconf_web.services` (configs, catalog, accounts, console), so
each is a revision, a ZooKeeper notification and an audit event exactly as through the admin API.
Permissions come from :mod:`disconf_web.auth` (``require_app``/``require_admin``): refused
actions answer 403 whether or not the page showed a button for them.

Error Handling
--------------
Service refusals (:class:`~disconf_web.services.ServiceError`) render the error page with their
status and message. Nothing here waits on ZooKeeper beyond the notifier's bounded inline
delivery (``NOTIFY_INLINE_TIMEOUT``); when ZooKeeper is down a publish still succeeds, the page
says the notification is pending (the notifier's sweeper retries), and the self-check column
says "self-check unavailable" (see :mod:`disconf_web.ui.selfcheck`).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from disconf_core import ConfigType

from .. import services
from ..auth import current_user, is_admin
from ..models import ConfigStatus
from ..urls import CONFIG_URL, KINDS, SEGMENTS, VERSION_URL
from .security import add_security_headers, csrf_failed, csrf_token

__all__ = ["CONFIG_URL", "KINDS", "SEGMENTS", "VERSION_URL", "Page", "bp", "page_url"]


bp = Blueprint("console", __name__)

Page = str | WerkzeugResponse | tuple[str, int]


# -- plumbing ----------------------------------------------------------------------------------

bp.register_error_handler(CSRFError, csrf_failed)  # a refused form: the console's error page


@bp.after_request
def _headers(response: WerkzeugResponse) -> WerkzeugResponse:
    return add_security_headers(response)


def page_url(cursor: str | None) -> str:
    """This page's URL with ``cursor`` (None: the first page), the other arguments kept."""
    values: dict[str, Any] = dict(request.view_args or {})
    values.update((key, value) for key, value in request.args.items() if key != "cursor")
    if cursor:
        values["cursor"] = cursor
    return url_for(str(request.endpoint), **values)


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    return {
        "csrf_token": csrf_token,
        "me": current_user,
        "is_admin": is_admin,
        "kind_segment": lambda config: SEGMENTS[ConfigType(config.type)],
        "page_url": page_url,
        "LIVE": int(ConfigStatus.LIVE),
    }


@bp.app_template_filter("when")
def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.app_template_filter("epoch")
def _epoch(value: float | None) -> str:
    """Seconds since the epoch (as contenders record them) in the console's UTC format."""
    if value is None:
        return ""
    return _when(datetime.fromtimestamp(value, timezone.utc).replace(tzinfo=None))


@bp.app_template_filter("detail_pairs")
def _detail_pairs(value: str | None) -> list[tuple[str, str]]:
    """An audit event's ``detail`` (a JSON object) as readable (key, value) pairs: strings as
    they are, anything else as compact JSON; text that is not a JSON object is one pair with
    an empty key."""
    if not value:
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        return [("", value)]
    if not isinstance(parsed, dict):
        return [("", value)]
    return [
        (str(key), item if isinstance(item, str) else json.dumps(item, ensure_ascii=False))
        for key, item in parsed.items()
    ]


@bp.app_template_filter("size")
def _size(value: str | None) -> str:
    n = len((value or "").encode("utf-8"))
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


@bp.errorhandler(services.ServiceError)
def _service_error(exc: services.ServiceError) -> Page:
    if isinstance(exc, services.Unauthorized):
        return redirect(url_for("console.login"))
    return render_template("console/error.html", status=exc.status, message=str(exc)), exc.status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Page:
    status = exc.code or 500
    message = exc.description or exc.name
    if status == 413:
        limit = current_app.config["MAX_CONFIG_BYTES"]
        message = f"the upload is too large: a config may be at most {limit} bytes"
    return render_template("console/error.html", status=status, message=message), status
