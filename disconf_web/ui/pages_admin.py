"""Administration: API tokens, the audit log, users and their app grants (``/tokens``, ``/audit``,
``/users``). Users manage their own tokens; the rest requires an admin.

Every list here is paginated (:mod:`disconf_web.ui.scope`): tokens, audit events and users a
page at a time, with page links.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import services
from ..auth import is_admin, visible_app_ids
from ..models import Role, User
from ..services import console as ops
from ..services import listing
from ..services.accounts import MIN_PASSWORD
from .blueprint import Page, bp
from .page_common import db_session
from .scope import page_request, signed_in


@bp.route("/tokens", methods=["GET", "POST"])
@signed_in()
def tokens(user: User) -> Page:
    db = db_session()
    created = None
    status = 200
    if request.method == "POST":
        name = request.form.get("name", "").strip() or "default"
        created = services.create_token(db, user=user.name, name=name, actor=user.name)
        status = 201
    wanted = page_request()
    page = listing.page_tokens(db, user_id=user.id, limit=wanted.limit, cursor=wanted.cursor)
    return render_template("console/tokens.html", tokens=page, created=created), status


@bp.post("/tokens/<int:token_id>/revoke")
@signed_in()
def revoke_token(user: User, token_id: int) -> WerkzeugResponse:
    services.revoke_token(db_session(), token_id=token_id, actor=user.name, user=user.name)
    flash(f"Token {token_id} revoked.", "ok")
    return redirect(url_for("console.tokens"))


@bp.get("/audit")
@signed_in()
def audit(user: User) -> Page:
    db = db_session()
    app_filter = request.args.get("app", "").strip() or None
    user_filter = request.args.get("user", "").strip() or None
    wanted = page_request()
    events = listing.page_audit(
        db, app=app_filter, actor=user_filter, only_apps=ops.app_names(db, visible_app_ids(user)),
        limit=wanted.limit, cursor=wanted.cursor,
    )  # fmt: skip
    return render_template(
        "console/audit.html",
        events=events,
        app_filter=app_filter or "",
        user_filter=user_filter or "",
        apps=services.list_apps(db, only_ids=visible_app_ids(user)),
        users=[row.name for row in services.list_users(db)] if is_admin(user) else [],
    )


# -- users (admin) -----------------------------------------------------------------------------


@bp.route("/users", methods=["GET", "POST"])
@signed_in(admin="manage users")
def users(me: User) -> Page:
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
    wanted = page_request()
    page = listing.page_by_name(db, User, limit=wanted.limit, cursor=wanted.cursor)
    granted = ops.granted_apps(db, [row.id for row in page.items])
    return render_template(
        "console/users.html",
        page=page,
        users=[(row, granted[row.id]) for row in page.items],
        apps=services.list_apps(db),
        error=error,
    ), status


@bp.route("/users/<name>", methods=["GET", "POST"])
@signed_in(admin="manage users")
def user(me: User, name: str) -> Page:
    db = db_session()
    row = ops.find_user(db, name)
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
    wanted = page_request()
    return render_template(
        "console/user.html",
        user=row,
        granted=set(ops.granted_apps(db, [row.id])[row.id]),
        apps=services.list_apps(db),
        tokens=listing.page_tokens(db, user_id=row.id, limit=wanted.limit, cursor=wanted.cursor),
    )
