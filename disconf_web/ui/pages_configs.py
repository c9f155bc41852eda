"""One version's configs: the list (with self-check and master/standby panels), the zip and raw
downloads, creating, uploading, editing, publishing and deleting a config.

Every change goes through :mod:`disconf_web.services`, so it is a revision, a ZooKeeper
notification and an audit event exactly as through the admin API.

Error Handling
--------------
A publish succeeds when ZooKeeper is down: the page says the notification is pending (the
notifier's sweeper retries). The self-check column says "self-check unavailable" and the
master/standby panel says ZooKeeper is unreachable (see :mod:`disconf_web.ui.selfcheck`).
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from flask import Response, current_app, flash, redirect, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from disconf_core import ConfigType, Coordinates

from .. import services
from ..auth import require_app
from ..elections import ElectionsUnavailable, read_elections
from ..models import Config
from ..state import get_notifier
from . import diff as diffs
from .blueprint import CONFIG_URL, SEGMENTS, VERSION_URL, Page, bp
from .page_common import (
    can_write,
    config_list_url,
    config_type_of,
    current_console_user,
    db_session,
    deliver_now,
    form_comment,
    publish_settings,
    published_message,
)
from .security import attachment, login_required
from .selfcheck import self_check


@bp.get(VERSION_URL)
@login_required
def configs(app: str, env: str, version: str) -> Page:
    user = current_console_user()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    db = db_session()
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
        can_write=can_write(user, app),
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
    user = current_console_user()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    rows = services.list_configs(db_session(), coords)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for config in rows:
            if config.type == ConfigType.FILE:
                archive.writestr(config.name, config.value.encode("utf-8"))
    filename = f"{app}-{env}-{version}.zip"
    return Response(
        buffer.getvalue(),
        mimetype="application/zip",
        headers={"Content-Disposition": attachment(filename)},
    )


@bp.get(CONFIG_URL + "/raw")
@login_required
def raw(app: str, env: str, version: str, kind: str, name: str) -> Response:
    user = current_console_user()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    config = services.get_config(db_session(), coords, config_type_of(kind), name)
    return Response(
        config.value.encode("utf-8"),
        mimetype="application/octet-stream",
        headers={"Content-Disposition": attachment(name)},
    )


# -- create ------------------------------------------------------------------------------------


def _refuse_existing(coords: Coordinates, kind: ConfigType, name: str) -> None:
    existing = services.find_config(db_session(), coords, kind, name)
    db_session().rollback()
    if existing is not None and existing.status == 1:
        raise services.Conflict(
            f"{kind.segment} {name!r} already exists in {coords}: open it to edit it"
        )


@bp.route(VERSION_URL + "/files/new", methods=["GET", "POST"])
@login_required
def new_file(app: str, env: str, version: str) -> Page:
    user = current_console_user()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=True)
    if request.method == "GET":
        return render_template("console/new_file.html", coords=coords, name="", content="")
    name = request.form.get("name", "").strip()
    content = request.form.get("content", "").replace("\r\n", "\n")
    comment = form_comment()
    try:
        _refuse_existing(coords, ConfigType.FILE, name)
        result = services.publish_config(
            db_session(), coords=coords, kind=ConfigType.FILE, name=name, content=content,
            actor=user.name, comment=comment, **publish_settings(),
        )  # fmt: skip
    except services.ServiceError as exc:
        return render_template(
            "console/new_file.html", coords=coords, name=name, content=content,
            comment=comment, error=str(exc),
        ), exc.status  # fmt: skip
    notification = deliver_now(result.notification_ids)
    flash(published_message(f"file {name!r}", result.config.revision, notification), "ok")
    return redirect(config_list_url(coords))


@bp.post(VERSION_URL + "/upload")
@login_required
def upload(app: str, env: str, version: str) -> Page:
    user = current_console_user()
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
    db = db_session()
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
        return _editor(coords, ConfigType.FILE, existing, text, form_comment(), mode="preview")
    result = services.publish_config(
        db, coords=coords, kind=ConfigType.FILE, name=name, content=data,
        actor=user.name, comment=form_comment(), **publish_settings(),
    )  # fmt: skip
    notification = deliver_now(result.notification_ids)
    flash(published_message(f"file {name!r}", result.config.revision, notification), "ok")
    return redirect(config_list_url(coords))


@bp.route(VERSION_URL + "/items/new", methods=["GET", "POST"])
@login_required
def new_item(app: str, env: str, version: str) -> Page:
    user = current_console_user()
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=True)
    if request.method == "GET":
        return render_template("console/new_item.html", coords=coords, name="", value="")
    name = request.form.get("name", "").strip()
    value = request.form.get("value", "")
    comment = form_comment()
    try:
        _refuse_existing(coords, ConfigType.ITEM, name)
        result = services.publish_config(
            db_session(), coords=coords, kind=ConfigType.ITEM, name=name, content=value,
            actor=user.name, comment=comment, **publish_settings(),
        )  # fmt: skip
    except services.ServiceError as exc:
        return render_template(
            "console/new_item.html", coords=coords, name=name, value=value,
            comment=comment, error=str(exc),
        ), exc.status  # fmt: skip
    notification = deliver_now(result.notification_ids)
    flash(published_message(f"item {name!r}", result.config.revision, notification), "ok")
    return redirect(config_list_url(coords))


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
        segment=SEGMENTS[kind],
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
        can_write=can_write(current_console_user(), coords.app),
        error=error,
    ), status


@bp.route(CONFIG_URL, methods=["GET", "POST"])
@login_required
def edit(app: str, env: str, version: str, kind: str, name: str) -> Page:
    user = current_console_user()
    config_type = config_type_of(kind)
    coords = services.coordinates(app, env, version)
    db = db_session()
    if request.method == "GET":
        require_app(user, app, write=False)
        config = services.get_config(db, coords, config_type, name)
        return _editor(coords, config_type, config, config.value, "", mode="edit")
    require_app(user, app, write=True)
    field = "content" if config_type is ConfigType.FILE else "value"
    text = request.form.get(field, "")
    if config_type is ConfigType.FILE:
        text = text.replace("\r\n", "\n")
    comment = form_comment()
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
            comment=comment, if_match=f'"{base_md5}"', **publish_settings(),
        )  # fmt: skip
    except (services.PreconditionFailed, services.Conflict):
        fresh = services.get_config(db, coords, config_type, name)
        return _conflict(coords, config_type, fresh, text, comment)
    except services.ServiceError as exc:
        return _editor(
            coords, config_type, current, text, comment, mode="preview",
            base_md5=base_md5, error=str(exc), status=exc.status,
        )  # fmt: skip
    notification = deliver_now(result.notification_ids)
    flash(
        published_message(f"{config_type.segment} {name!r}", result.config.revision, notification),
        "ok",
    )
    return redirect(config_list_url(coords))


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
    user = current_console_user()
    config_type = config_type_of(kind)
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=True)
    base_md5 = request.form.get("base_md5", "")
    services.delete_config(
        db_session(), coords=coords, kind=config_type, name=name, actor=user.name,
        comment=form_comment(), if_match=f'"{base_md5}"' if base_md5 else None,
        zk_prefix=current_app.config["ZK_PREFIX"],
    )  # fmt: skip
    flash(f"Deleted {config_type.segment} {name!r} (its history is kept).", "ok")
    return redirect(config_list_url(coords))
