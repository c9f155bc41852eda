"""Signing in and out, and changing one's own password (``/login``, ``/logout``, ``/password``)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import services
from ..auth import authenticated_by, current_user
from ..services import console as ops
from .blueprint import Page, bp
from .page_common import current_console_user, db_session, safe_next
from .security import end_session, login_required, start_session


@bp.route("/login", methods=["GET", "POST"])
def login() -> Page:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if authenticated_by() == "session":
            return redirect(next_url or url_for("console.apps"))
        return render_template("console/login.html", next=next_url, username="")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    ip = (request.remote_addr or "unknown")[:64]
    db = db_session()
    if not username or not password:
        return render_template(
            "console/login.html", next=next_url, username=username,
            error="Enter your user name and password.",
        ), 400  # fmt: skip
    wait = ops.login_blocked(db, username=username, ip=ip)
    if wait:
        # Stored columns are bounded (actor: 64 characters): a longer name is no user's name.
        ops.audit(db, actor=username[:64], action="login.blocked", target=username[:1024], ip=ip)
        db.commit()
        minutes = (wait + 59) // 60
        return render_template(
            "console/login.html", next=next_url, username=username,
            error=f"Too many failed logins for {username!r} from your address: try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}.",
        ), 429  # fmt: skip
    user = services.authenticate(db, username, password)
    ops.record_login_attempt(db, username=username, ip=ip, success=user is not None)
    if user is None:
        return render_template(
            "console/login.html", next=next_url, username=username,
            error="Wrong user name or password, or the user is disabled.",
        ), 401  # fmt: skip
    start_session(user)
    return redirect(next_url or url_for("console.apps"))


@bp.post("/logout")
def logout() -> WerkzeugResponse:
    user = current_user()
    if user is not None:
        db = db_session()
        ops.audit(db, actor=user.name, action="logout", target=user.name)
        db.commit()
    end_session()
    flash("You are logged out.", "info")
    return redirect(url_for("console.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> Page:
    user = current_console_user()
    if request.method == "GET":
        return render_template("console/password.html")
    current = request.form.get("current", "")
    new = request.form.get("new", "")
    if new != request.form.get("confirm", ""):
        return render_template(
            "console/password.html", error="The new passwords do not match."
        ), 400
    try:
        ok: bool = PasswordHasher().verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        return render_template(
            "console/password.html", error="Your current password is wrong."
        ), 400
    db = db_session()
    try:
        services.set_password(db, name=user.name, password=new, actor=user.name)
    except services.BadRequest as exc:
        db.rollback()
        return render_template("console/password.html", error=str(exc)), 400
    ops.bump_session_version(db, user)
    db.commit()
    start_session(user)  # this session stays; every other one is logged out
    flash("Password changed. Your other sessions were logged out.", "ok")
    return redirect(url_for("console.apps"))
