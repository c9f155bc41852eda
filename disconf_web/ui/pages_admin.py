"""Administration: API tokens, the audit log, users and their app grants (``/tokens``, ``/audit``,
``/users``). Users manage their own tokens; the rest requires an admin.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import services
from ..auth import is_admin, require_admin, visible_app_ids
from ..models import App, AppGrant, Role, User
from ..services import console as ops
from ..services.accounts import MIN_PASSWORD
from .blueprint import Page, bp
from .page_common import current_console_user, db_session
from .security import login_required


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens() -> Page:
    user = current_console_user()
    db = db_session()
    created = None
    status = 200
    if request.method == "POST":
        name = request.form.get("name", "").strip() or "default"
        created = services.create_token(db, user=user.name, name=name, actor=user.name)
        status = 201
    rows = services.list_tokens(db, user=user.name)
    return render_template("console/tokens.html", tokens=rows, created=created), status


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> WerkzeugResponse:
    user = current_console_user()
    services.revoke_token(db_session(), token_id=token_id, actor=user.name, user=user.name)
    flash(f"Token {token_id} revoked.", "ok")
    return redirect(url_for("console.tokens"))


@bp.get("/audit")
@login_required
def audit() -> Page:
    user = current_console_user()
    db = db_session()
    app_filter = request.args.get("app", "").strip() or None
    user_filter = request.args.get("user", "").strip() or None
    before = request.args.get("before", type=int)
    only: set[str] | None = None
    if not is_admin(user):
        ids = visible_app_ids(user) or set()
        only = set(db.scalars(sa.select(App.name).where(App.id.in_(ids)))) if ids else set()
    events = ops.list_audit(
        db, app=app_filter, actor=user_filter, only_apps=only, before_id=before, limit=100
    )
    apps = services.list_apps(db, only_ids=visible_app_ids(user))
    return render_template(
        "console/audit.html",
        events=events,
        app_filter=app_filter or "",
        user_filter=user_filter or "",
        apps=apps,
        users=[row.name for row in services.list_users(db)] if is_admin(user) else [],
        older=events[-1].id if len(events) == 100 else None,
    )


# -- users (admin) -----------------------------------------------------------------------------


def _granted(db: so.Session, user: User) -> list[str]:
    return list(
        db.scalars(
            sa.select(App.name)
            .join(AppGrant, AppGrant.app_id == App.id)
            .where(AppGrant.user_id == user.id)
            .order_by(App.name)
        )
    )


@bp.route("/users", methods=["GET", "POST"])
@login_required
def users() -> Page:
    me = current_console_user()
    require_admin(me, "manage users")
    db = db_session()
    error = None
    status = 200
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        try:
            services.create_user(
                db, name=name, password=request.form.get("password", ""),
                role=request.form.get("role", ""), actor=me.name,
                apps=request.form.getlist("apps"),
            )  # fmt: skip
        except services.ServiceError as exc:
            error, status = str(exc), exc.status
        else:
            flash(f"User {name!r} created.", "ok")
            return redirect(url_for("console.users"))
    rows = [(row, _granted(db, row)) for row in services.list_users(db)]
    return render_template(
        "console/users.html", users=rows, apps=services.list_apps(db), error=error
    ), status


@bp.route("/users/<name>", methods=["GET", "POST"])
@login_required
def user(name: str) -> Page:
    me = current_console_user()
    require_admin(me, "manage users")
    db = db_session()
    row = db.scalar(sa.select(User).where(User.name == name))
    if row is None:
        raise services.NotFound(f"user {name!r} does not exist")
    if request.method == "POST":
        role = request.form.get("role", row.role)
        active = request.form.get("active") == "1"
        if row.id == me.id and (role != Role.ADMIN.value or not active):
            raise services.BadRequest(
                "you cannot disable yourself or take away your own admin role: ask another admin"
            )
        new_password = request.form.get("password", "")
        if new_password and len(new_password) < MIN_PASSWORD:
            raise services.BadRequest(
                f"the password must be at least {MIN_PASSWORD} characters long"
            )
        ops.set_user_access(
            db, name=name, actor=me.name, role=role, active=active,
            apps=request.form.getlist("apps"),
        )  # fmt: skip
        if new_password:
            services.set_password(db, name=name, password=new_password, actor=me.name)
            ops.bump_session_version(db, row)
            db.commit()
        flash(f"User {name!r} saved.", "ok")
        return redirect(url_for("console.user", name=name))
    return render_template(
        "console/user.html",
        user=row,
        granted=set(_granted(db, row)),
        apps=services.list_apps(db),
        tokens=services.list_tokens(db, user=name),
    )
