"""Browsing: the app list, the envs, one app's versions.

``/``, ``/apps``, ``/envs``, ``/apps/<app>`` and ``/apps/<app>/open`` (jump to a version). The
app and env lists come a page at a time (:mod:`disconf_web.ui.scope`).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import services
from ..auth import require_admin, visible_app_ids
from ..models import Env, Role, User
from ..services import console as ops
from ..services import listing
from .blueprint import Page, bp
from .page_common import config_list_url, db_session
from .scope import Scope, page_request, scoped, signed_in
from .security import login_required


@bp.get("/")
def index() -> WerkzeugResponse:
    return redirect(url_for("console.apps"))


@bp.route("/apps", methods=["GET", "POST"])
@signed_in()
def apps(user: User) -> Page:
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
    wanted = page_request()
    page = listing.page_apps(
        db, only_ids=visible_app_ids(user), limit=wanted.limit, cursor=wanted.cursor
    )
    return render_template(
        "console/apps.html", apps=page, can_create=user.role != Role.VIEWER.value
    )


@bp.route("/envs", methods=["GET", "POST"])
@signed_in()
def envs(user: User) -> Page:
    db = db_session()
    if request.method == "POST":
        require_admin(user, "create envs")
        env = services.create_env(db, name=request.form.get("name", "").strip(), actor=user.name)
        flash(f"Env {env.name!r} created.", "ok")
        return redirect(url_for("console.envs"))
    wanted = page_request()
    page = listing.page_by_name(db, Env, limit=wanted.limit, cursor=wanted.cursor)
    return render_template("console/envs.html", envs=page)


@bp.get("/apps/<app>")
@scoped(write=False)
def app(scope: Scope) -> Page:
    db = scope.db
    env_rows = services.list_envs(db)
    return render_template(
        "console/app.html",
        app=scope.record,
        envs=env_rows,
        versions={env.name: services.list_versions(db, scope.app, env.name) for env in env_rows},
        members=ops.app_members(db, scope.record.id),
        can_write=scope.can_write,
    )


@bp.get("/apps/<app>/open")
@login_required
def open_version(app: str) -> WerkzeugResponse:
    """The "open env x version" form of the app page."""
    coords = services.coordinates(
        app, request.args.get("env", ""), request.args.get("version", "").strip()
    )
    return redirect(config_list_url(coords))
