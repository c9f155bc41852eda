"""The console's pages (blueprint ``console``): server-rendered Jinja, autoescaped.

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

import io
import zipfile
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
import sqlalchemy.orm as so
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from disconf_core import ConfigType, Coordinates

from .. import services
from ..auth import current_user, is_admin, require_admin, require_app, visible_app_ids
from ..elections import ElectionsUnavailable, read_elections
from ..extensions import get_db
from ..models import App, AppGrant, Config, Role, User
from ..services import console as ops
from ..services.accounts import MIN_PASSWORD
from ..state import get_notifier
from . import diff as diffs
from .security import (
    add_security_headers,
    check_csrf,
    csrf_token,
    login_required,
    start_session,
)
from .selfcheck import self_check

__all__ = ["bp"]

bp = Blueprint("console", __name__)

Page = str | WerkzeugResponse | tuple[str, int]
VERSION_URL = "/apps/<app>/envs/<env>/versions/<version>"
CONFIG_URL = VERSION_URL + "/<any(files, items):kind>/<name>"
_KINDS = {"files": ConfigType.FILE, "items": ConfigType.ITEM}
_SEGMENTS = {ConfigType.FILE: "files", ConfigType.ITEM: "items"}


# -- plumbing ----------------------------------------------------------------------------------


@bp.before_request
def _csrf() -> None:
    check_csrf(request)


@bp.after_request
def _headers(response: WerkzeugResponse) -> WerkzeugResponse:
    return add_security_headers(response)


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    return {
        "csrf_token": csrf_token,
        "me": current_user,
        "is_admin": is_admin,
        "kind_segment": lambda config: _SEGMENTS[ConfigType(config.type)],
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


def _db() -> so.Session:
    return get_db(current_app).session()


def _me() -> User:
    user = current_user()
    if user is None:  # login_required ran first
        raise services.Unauthorized("log in first")
    return user


def _kind(kind: str) -> ConfigType:
    try:
        return _KINDS[kind]
    except KeyError:
        abort(404)


def _can_write(user: User, app_name: str) -> bool:
    try:
        require_app(user, app_name, write=True)
    except services.ServiceError:
        return False
    return True


def _deliver(ids: Sequence[int]) -> str:
    """Deliver this request's notifications inline (bounded); 'delivered'/'pending'/'none'."""
    if not ids:
        return "none"
    notifier = get_notifier(current_app)
    if not notifier.enabled:
        return "pending"
    notifier.ensure_started()
    return "delivered" if notifier.deliver_through(list(ids)) else "pending"


def _published_message(what: str, revision: int, notification: str) -> str:
    if notification == "delivered":
        return f"Published {what} as revision {revision}; clients were notified."
    if notification == "pending":
        return (
            f"Published {what} as revision {revision}. ZooKeeper did not take the notification "
            "yet: it is retried in the background until clients are notified."
        )
    return f"Published {what} as revision {revision}."


def _comment() -> str:
    comment = request.form.get("comment", "").strip()
    if len(comment) > 1000:
        raise services.BadRequest(f"the comment is {len(comment)} characters: at most 1000")
    return comment


def _settings() -> dict[str, Any]:
    return {
        "max_bytes": current_app.config["MAX_CONFIG_BYTES"],
        "zk_prefix": current_app.config["ZK_PREFIX"],
    }


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _list_url(coords: Coordinates) -> str:
    return url_for("console.configs", app=coords.app, env=coords.env, version=coords.version)


# -- login, logout, password, tokens -----------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Page:
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None and session.get("disconf_user_id") is not None:
            return redirect(next_url or url_for("console.apps"))
        csrf_token()
        return render_template("console/login.html", next=next_url, username="")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    ip = (request.remote_addr or "unknown")[:64]
    db = _db()
    if not username or not password:
        return render_template(
            "console/login.html", next=next_url, username=username,
            error="Enter your user name and password.",
        ), 400  # fmt: skip
    wait = ops.login_blocked(db, username=username, ip=ip)
    if wait:
        ops.audit(db, actor=username, action="login.blocked", target=username, ip=ip)
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
        db = _db()
        ops.audit(db, actor=user.name, action="logout", target=user.name)
        db.commit()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("console.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> Page:
    user = _me()
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
    db = _db()
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


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens() -> Page:
    user = _me()
    db = _db()
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
    user = _me()
    services.revoke_token(_db(), token_id=token_id, actor=user.name, user=user.name)
    flash(f"Token {token_id} revoked.", "ok")
    return redirect(url_for("console.tokens"))


# -- apps and envs -----------------------------------------------------------------------------


@bp.get("/")
def index() -> WerkzeugResponse:
    return redirect(url_for("console.apps"))


@bp.route("/apps", methods=["GET", "POST"])
@login_required
def apps() -> Page:
    user = _me()
    db = _db()
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
    user = _me()
    db = _db()
    if request.method == "POST":
        require_admin(user, "create envs")
        env = services.create_env(db, name=request.form.get("name", "").strip(), actor=user.name)
        flash(f"Env {env.name!r} created.", "ok")
        return redirect(url_for("console.envs"))
    return render_template("console/envs.html", envs=services.list_envs(db))


@bp.get("/apps/<app>")
@login_required
def app(app: str) -> Page:
    user = _me()
    record = require_app(user, app, write=False)
    db = _db()
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
        can_write=_can_write(user, app),
    )


@bp.get("/apps/<app>/open")
@login_required
def open_version(app: str) -> WerkzeugResponse:
    """The "open env x version" form of the app page."""
    coords = services.coordinates(
        app, request.args.get("env", ""), request.args.get("version", "").strip()
    )
    return redirect(_list_url(coords))


# -- config list -------------------------------------------------------------------------------


@bp.get(VERSION_URL)
@login_required
def configs(app: str, env: str, version: str) -> Page:
    user = _me()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    db = _db()
    rows = services.list_configs(db, coords)
    checks, unavailable = self_check(coords, rows)
    elections, elections_unavailable = _elections(coords, skip=bool(unavailable))
    return render_template(
        "console/configs.html",
        coords=coords,
        configs=rows,
        checks=checks,
        unavailable=unavailable,
        elections=elections,
        elections_unavailable=elections_unavailable,
        envs=services.list_envs(db),
        versions=services.list_versions(db, app, env),
        can_write=_can_write(user, app),
    )


def _elections(coords: Coordinates, *, skip: bool) -> tuple[list[dict[str, Any]], str]:
    """The master/standby elections for the config page, or the reason they can't be shown
    (``skip``: the self-check already found ZooKeeper unreachable; don't wait for it again)."""
    if skip:
        return [], "ZooKeeper is not reachable"
    try:
        found = read_elections(get_notifier(current_app), current_app.config["ZK_PREFIX"], coords)
    except ElectionsUnavailable as exc:
        return [], str(exc)
    return found, ""


@bp.get(VERSION_URL + "/download.zip")
@login_required
def download_zip(app: str, env: str, version: str) -> Response:
    user = _me()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    rows = services.list_configs(_db(), coords)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for config in rows:
            if config.type == ConfigType.FILE:
                archive.writestr(config.name, config.value.encode("utf-8"))
    filename = f"{app}-{env}-{version}.zip"
    return Response(
        buffer.getvalue(),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get(CONFIG_URL + "/raw")
@login_required
def raw(app: str, env: str, version: str, kind: str, name: str) -> Response:
    user = _me()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    config = services.get_config(_db(), coords, _kind(kind), name)
    return Response(
        config.value.encode("utf-8"),
        mimetype="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- create ------------------------------------------------------------------------------------


def _refuse_existing(coords: Coordinates, kind: ConfigType, name: str) -> None:
    existing = services.find_config(_db(), coords, kind, name)
    _db().rollback()
    if existing is not None and existing.status == 1:
        raise services.Conflict(
            f"{kind.segment} {name!r} already exists in {coords}: open it to edit it"
        )


@bp.route(VERSION_URL + "/files/new", methods=["GET", "POST"])
@login_required
def new_file(app: str, env: str, version: str) -> Page:
    user = _me()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=True)
    if request.method == "GET":
        return render_template("console/new_file.html", coords=coords, name="", content="")
    name = request.form.get("name", "").strip()
    content = request.form.get("content", "").replace("\r\n", "\n")
    comment = _comment()
    try:
        _refuse_existing(coords, ConfigType.FILE, name)
        result = services.publish_config(
            _db(), coords=coords, kind=ConfigType.FILE, name=name, content=content,
            actor=user.name, comment=comment, **_settings(),
        )  # fmt: skip
    except services.ServiceError as exc:
        return render_template(
            "console/new_file.html", coords=coords, name=name, content=content,
            comment=comment, error=str(exc),
        ), exc.status  # fmt: skip
    notification = _deliver(result.notification_ids)
    flash(_published_message(f"file {name!r}", result.config.revision, notification), "ok")
    return redirect(_list_url(coords))


@bp.post(VERSION_URL + "/upload")
@login_required
def upload(app: str, env: str, version: str) -> Page:
    user = _me()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=True)
    limit = current_app.config["MAX_CONFIG_BYTES"]
    uploaded = request.files.get("file")
    if uploaded is None or not uploaded.filename:
        raise services.BadRequest("choose a file to upload")
    name = request.form.get("name", "").strip() or (uploaded.filename or "").rsplit("/", 1)[-1]
    try:
        data = uploaded.stream.read(limit + 1)
    finally:
        uploaded.close()
    if len(data) > limit:
        raise services.PayloadTooLarge(
            f"file {name!r} is larger than the limit of {limit} bytes (DISCONF_MAX_CONFIG_BYTES)"
        )
    db = _db()
    existing = services.find_config(db, coords, ConfigType.FILE, name)
    if existing is not None and existing.status == 1:
        # Replacing a file: show the diff and let the user publish it from the editor.
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise services.BadRequest(
                f"file {name!r} is not valid UTF-8 text (invalid byte 0x{data[exc.start]:02x} "
                f"at offset {exc.start}): store text encoded as UTF-8"
            ) from None
        return _editor(coords, ConfigType.FILE, existing, text, _comment(), mode="preview")
    result = services.publish_config(
        db, coords=coords, kind=ConfigType.FILE, name=name, content=data,
        actor=user.name, comment=_comment(), **_settings(),
    )  # fmt: skip
    notification = _deliver(result.notification_ids)
    flash(_published_message(f"file {name!r}", result.config.revision, notification), "ok")
    return redirect(_list_url(coords))


@bp.route(VERSION_URL + "/items/new", methods=["GET", "POST"])
@login_required
def new_item(app: str, env: str, version: str) -> Page:
    user = _me()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=True)
    if request.method == "GET":
        return render_template("console/new_item.html", coords=coords, name="", value="")
    name = request.form.get("name", "").strip()
    value = request.form.get("value", "")
    comment = _comment()
    try:
        _refuse_existing(coords, ConfigType.ITEM, name)
        result = services.publish_config(
            _db(), coords=coords, kind=ConfigType.ITEM, name=name, content=value,
            actor=user.name, comment=comment, **_settings(),
        )  # fmt: skip
    except services.ServiceError as exc:
        return render_template(
            "console/new_item.html", coords=coords, name=name, value=value,
            comment=comment, error=str(exc),
        ), exc.status  # fmt: skip
    notification = _deliver(result.notification_ids)
    flash(_published_message(f"item {name!r}", result.config.revision, notification), "ok")
    return redirect(_list_url(coords))


# -- edit & publish ----------------------------------------------------------------------------


def _editor(
    coords: Coordinates,
    kind: ConfigType,
    config: Config,
    text: str,
    comment: str,
    *,
    mode: str,
    base_md5: str | None = None,
    base_revision: int | None = None,
    conflict: Config | None = None,
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The edit page. ``mode``: edit | preview | conflict."""
    old = conflict.value if conflict is not None else config.value
    return render_template(
        "console/edit.html",
        coords=coords,
        kind=kind,
        segment=_SEGMENTS[kind],
        config=config,
        text=text,
        comment=comment,
        mode=mode,
        base_md5=base_md5 or config.md5,
        base_revision=base_revision or config.revision,
        conflict=conflict,
        unified=diffs.unified(old, text) if mode != "edit" else [],
        side=diffs.side_by_side(old, text) if mode != "edit" else [],
        unchanged=old == text,
        can_write=_can_write(_me(), coords.app),
        error=error,
    ), status


@bp.route(CONFIG_URL, methods=["GET", "POST"])
@login_required
def edit(app: str, env: str, version: str, kind: str, name: str) -> Page:
    user = _me()
    config_type = _kind(kind)
    coords = services.coordinates(app, env, version)
    db = _db()
    if request.method == "GET":
        require_app(user, app, write=False)
        config = services.get_config(db, coords, config_type, name)
        return _editor(coords, config_type, config, config.value, "", mode="edit")
    require_app(user, app, write=True)
    field = "content" if config_type is ConfigType.FILE else "value"
    text = request.form.get(field, "")
    if config_type is ConfigType.FILE:
        text = text.replace("\r\n", "\n")
    comment = _comment()
    base_md5 = request.form.get("base_md5", "")
    base_revision = request.form.get("base_revision", type=int)
    current = services.find_config(db, coords, config_type, name)
    db.rollback()
    if current is None or current.status != 1:
        raise services.NotFound(
            f"{config_type.segment} {name!r} was deleted from {coords} since you opened it"
        )
    if current.md5 != base_md5:
        return _conflict(coords, config_type, current, text, comment)
    if request.form.get("action") != "publish" or current.value == text:
        return _editor(
            coords, config_type, current, text, comment, mode="preview",
            base_md5=base_md5, base_revision=base_revision,
        )  # fmt: skip
    try:
        result = services.publish_config(
            db, coords=coords, kind=config_type, name=name, content=text, actor=user.name,
            comment=comment, if_match=f'"{base_md5}"', **_settings(),
        )  # fmt: skip
    except (services.PreconditionFailed, services.Conflict):
        fresh = services.get_config(db, coords, config_type, name)
        return _conflict(coords, config_type, fresh, text, comment)
    except services.ServiceError as exc:
        return _editor(
            coords, config_type, current, text, comment, mode="preview",
            base_md5=base_md5, error=str(exc), status=exc.status,
        )  # fmt: skip
    notification = _deliver(result.notification_ids)
    flash(
        _published_message(f"{config_type.segment} {name!r}", result.config.revision, notification),
        "ok",
    )
    return redirect(_list_url(coords))


def _conflict(
    coords: Coordinates, kind: ConfigType, current: Config, text: str, comment: str
) -> tuple[str, int]:
    """Someone published since the page was opened: show theirs and yours, publish nothing."""
    return _editor(
        coords, kind, current, text, comment, mode="conflict",
        base_md5=current.md5, base_revision=current.revision, conflict=current, status=409,
    )  # fmt: skip


@bp.post(CONFIG_URL + "/delete")
@login_required
def delete(app: str, env: str, version: str, kind: str, name: str) -> WerkzeugResponse:
    user = _me()
    config_type = _kind(kind)
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=True)
    base_md5 = request.form.get("base_md5", "")
    services.delete_config(
        _db(), coords=coords, kind=config_type, name=name, actor=user.name,
        comment=_comment(), if_match=f'"{base_md5}"' if base_md5 else None,
        zk_prefix=current_app.config["ZK_PREFIX"],
    )  # fmt: skip
    flash(f"Deleted {config_type.segment} {name!r} (its history is kept).", "ok")
    return redirect(_list_url(coords))


# -- history & rollback ------------------------------------------------------------------------


@bp.get(CONFIG_URL + "/history")
@login_required
def history(app: str, env: str, version: str, kind: str, name: str) -> Page:
    user = _me()
    config_type = _kind(kind)
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    db = _db()
    revisions = services.list_revisions(db, coords, config_type, name)
    config = services.find_config(db, coords, config_type, name)
    by_number = {rev.number: rev for rev in revisions}
    newest = revisions[0].number if revisions else 0
    to_no = request.args.get("b", type=int) or newest
    from_no = request.args.get("a", type=int) or max(1, to_no - 1)
    for number in (from_no, to_no):
        if number not in by_number:
            raise services.NotFound(f"{config_type.segment} {name!r} has no revision {number}")
    old, new = by_number[from_no].new_value, by_number[to_no].new_value
    return render_template(
        "console/history.html",
        coords=coords,
        kind=config_type,
        segment=_SEGMENTS[config_type],
        name=name,
        config=config,
        revisions=revisions,
        from_no=from_no,
        to_no=to_no,
        unified=diffs.unified(old, new),
        side=diffs.side_by_side(old, new),
        can_write=_can_write(user, app),
    )


@bp.post(CONFIG_URL + "/rollback")
@login_required
def rollback(app: str, env: str, version: str, kind: str, name: str) -> WerkzeugResponse:
    user = _me()
    config_type = _kind(kind)
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=True)
    target = request.form.get("revision", type=int)
    if target is None:
        raise services.BadRequest(
            f"revision must be a revision number, not {request.form.get('revision')!r}"
        )
    base_md5 = request.form.get("base_md5", "")
    try:
        result = services.rollback_config(
            _db(), coords=coords, kind=config_type, name=name, to_revision=target,
            actor=user.name, comment=_comment(),
            if_match=f'"{base_md5}"' if base_md5 else None, **_settings(),
        )  # fmt: skip
    except services.PreconditionFailed:
        flash(
            f"Not rolled back: {config_type.segment} {name!r} was changed since you opened this "
            "page. Look at the newest revision and try again.",
            "error",
        )
        return redirect(url_for("console.history", app=app, env=env, version=version,
                                kind=kind, name=name))  # fmt: skip
    notification = _deliver(result.notification_ids)
    if result.changed:
        message = _published_message(
            f"{config_type.segment} {name!r} (rolled back to revision {target})",
            result.config.revision,
            notification,
        )
    else:
        message = f"Revision {target} holds the current value already: nothing to roll back."
    flash(message, "ok")
    return redirect(
        url_for("console.history", app=app, env=env, version=version, kind=kind, name=name)
    )


# -- copy a version or env ---------------------------------------------------------------------


@bp.route("/apps/<app>/copy", methods=["GET", "POST"])
@login_required
def copy(app: str) -> Page:
    user = _me()
    require_app(user, app, write=False)
    db = _db()
    form = request.form if request.method == "POST" else request.args
    fields = {key: form.get(key, "").strip() for key in ("from_env", "from_version", "to_env",
                                                        "to_version")}  # fmt: skip
    env_rows = services.list_envs(db)
    context: dict[str, Any] = {
        "app": app,
        "envs": env_rows,
        "fields": fields,
        "versions": {env.name: services.list_versions(db, app, env.name) for env in env_rows},
        "can_write": _can_write(user, app),
        "plan": None,
    }
    if not all(fields.values()):
        if request.method == "POST":
            raise services.BadRequest("choose the source and target env and version")
        return render_template("console/copy.html", **context)
    source = services.coordinates(app, fields["from_env"], fields["from_version"])
    target = services.coordinates(app, fields["to_env"], fields["to_version"])
    plan = ops.plan_copy(db, source, target)
    context["plan"] = plan
    context["diffs"] = {
        (int(entry.kind), entry.name): diffs.unified(entry.target_value, entry.source_value)
        for entry in plan.entries
        if entry.status == "changed"
    }
    if request.method == "GET":
        return render_template("console/copy.html", **context)
    require_app(user, app, write=True)
    if request.form.get("fingerprint") != plan.fingerprint:
        context["stale"] = True
        return render_template("console/copy.html", **context), 409
    delete_removed = request.form.get("delete_removed") == "1"
    ids = ops.apply_copy(
        db, plan, actor=user.name, comment=_comment(), delete_removed=delete_removed,
        **_settings(),
    )  # fmt: skip
    notification = _deliver(ids)
    changed = plan.count("added") + plan.count("changed")
    removed = plan.count("removed") if delete_removed else 0
    note = {"delivered": "clients were notified", "pending": "notifications are pending"}.get(
        notification, "nothing to notify"
    )
    flash(f"Copied {source} to {target}: {changed} published, {removed} deleted; {note}.", "ok")
    return redirect(_list_url(target))


# -- audit -------------------------------------------------------------------------------------


@bp.get("/audit")
@login_required
def audit() -> Page:
    user = _me()
    db = _db()
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
    me = _me()
    require_admin(me, "manage users")
    db = _db()
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
    me = _me()
    require_admin(me, "manage users")
    db = _db()
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
