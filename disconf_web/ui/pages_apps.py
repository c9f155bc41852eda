"""Browsing: the app list, the envs, one app's versions.

``/``, ``/apps``, ``/envs``, ``/apps/<app>`` and ``/apps/<app>/open`` (jump to a version).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import services
from ..auth import require_admin, require_app, visible_app_ids
from ..models import AppGrant, Role, User
from .blueprint import Page, bp
from .page_common import can_write, config_list_url, current_console_user, db_session
from .security import login_required


@bp.get("/")
def index() -> WerkzeugResponse:
    return redirect(url_for("console.apps"))


@bp.route("/apps", methods=["GET", "POST"])
@login_required
def apps() -> Page:
    user = current_console_user()
    db = db_session()
    if request.method == "POST":
        if user.role == Role.VIEWER.value:
            raise services.Forbidden(f"user {user.name!r} is a viewer: viewers cannot create apps")
        app = services.create_app_record(
            db,
            name=request.form.get("name", "").strip(),
            description=request.form.get("description", "").strip(),
            actor=user.name,
            actor_user_id=user.id,
        )
        flash(f"App {app.name!r} created.", "ok")
        return redirect(url_for("console.app", app=app.name))
    rows = services.list_apps(db, only_ids=visible_app_ids(user))
    return render_template(
        "console/apps.html", apps=rows, can_create=user.role != Role.VIEWER.value
    )


@bp.route("/envs", methods=["GET", "POST"])
@login_required
def envs() -> Page:
    user = current_console_user()
    db = db_session()
    if request.method == "POST":
        require_admin(user, "create envs")
        env = services.create_env(db, name=request.form.get("name", "").strip(), actor=user.name)
        flash(f"Env {env.name!r} created.", "ok")
        return redirect(url_for("console.envs"))
    return render_template("console/envs.html", envs=services.list_envs(db))


@bp.get("/apps/<app>")
@login_required
def app(app: str) -> Page:
    user = current_console_user()
    record = require_app(user, app, write=False)
    db = db_session()
    env_rows = services.list_envs(db)
    versions = {env.name: services.list_versions(db, app, env.name) for env in env_rows}
    members = db.execute(
        sa.select(User.name, User.role)
        .join(AppGrant, AppGrant.user_id == User.id)
        .where(AppGrant.app_id == record.id)
        .order_by(User.name)
    ).all()
    return render_template(
        "console/app.html",
        app=record,
        envs=env_rows,
        versions=versions,
        members=members,
        can_write=can_write(user, app),
    )


@bp.get("/apps/<app>/open")
@login_required
def open_version(app: str) -> WerkzeugResponse:
    """The "open env x version" form of the app page."""
    coords = services.coordinates(
        app, request.args.get("env", ""), request.args.get("version", "").strip()
    )
    return redirect(config_list_url(coords))
