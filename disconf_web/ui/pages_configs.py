"""One version's configs: the list (with self-check and master/standby panels), the zip and raw
downloads, creating, uploading, editing, publishing and deleting a config.

Views declare what they act on with :func:`~disconf_web.ui.scope.scoped` (log-in, URL values,
grant) and say only what differs. The config list is paginated
(:data:`~disconf_web.ui.scope.PAGE_SIZE` configs a page, page links), and the self-check reads
only the configs of the page shown. Every change goes through the app's publisher, so it is a
revision, a ZooKeeper notification and an audit event exactly as through the admin API.

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
from ..elections import ElectionsUnavailable, read_elections
from ..models import Config, ConfigStatus
from ..services import listing
from . import diff as diffs
from .blueprint import CONFIG_URL, SEGMENTS, VERSION_URL, Page, bp
from .page_common import config_list_url, db_session, form_comment, published_message, publisher
from .scope import Scope, page_request, scoped
from .security import attachment
from .selfcheck import self_check

LIVE = int(ConfigStatus.LIVE)


@bp.get(VERSION_URL)
@scoped(write=False)
def configs(scope: Scope) -> Page:
    coords, db = scope.coords, scope.db
    wanted = page_request()
    page = listing.page_configs(db, coords, limit=wanted.limit, cursor=wanted.cursor)
    checks, unavailable = self_check(coords, page.items)
    elections, elections_unavailable = _elections(coords, skip=unavailable)
    return render_template(
        "console/configs.html",
        coords=coords,
        configs=page.items,
        page=page,
        checks=checks,
        unavailable=unavailable,
        elections=elections,
        elections_unavailable=elections_unavailable,
        envs=services.list_envs(db),
        versions=services.list_versions(db, coords.app, coords.env),
        can_write=scope.can_write,
    )


def _elections(coords: Coordinates, *, skip: str) -> tuple[list[dict[str, Any]], str]:
    """The master/standby elections for the config page, or the reason they can't be shown
    (``skip``: why the self-check could not read ZooKeeper; don't wait for it again)."""
    if skip:
        return [], skip
    try:
        found = read_elections(publisher().instances, current_app.config["ZK_PREFIX"], coords)
    except ElectionsUnavailable as exc:
        return [], str(exc)
    return found, ""


@bp.get(VERSION_URL + "/download.zip")
@scoped(write=False)
def download_zip(scope: Scope) -> Response:
    coords = scope.coords
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for config in services.list_configs(scope.db, coords):
            if config.type == ConfigType.FILE:
                archive.writestr(config.name, config.value.encode("utf-8"))
    filename = f"{coords.app}-{coords.env}-{coords.version}.zip"
    return Response(
        buffer.getvalue(),
        mimetype="application/zip",
        headers={"Content-Disposition": attachment(filename)},
    )


@bp.get(CONFIG_URL + "/raw")
@scoped(write=False)
def raw(scope: Scope, name: str) -> Response:
    config = services.get_config(scope.db, scope.coords, scope.kind, name)
    return Response(
        config.value.encode("utf-8"),
        mimetype="application/octet-stream",
        headers={"Content-Disposition": attachment(name)},
    )


# -- create ------------------------------------------------------------------------------------


def _refuse_existing(coords: Coordinates, kind: ConfigType, name: str) -> None:
    existing = services.find_config(db_session(), coords, kind, name)
    db_session().rollback()
    if existing is not None and existing.status == LIVE:
        raise services.Conflict(
            f"{kind.segment} {name!r} already exists in {coords}: open it to edit it"
        )


def _field(kind: ConfigType) -> str:
    """The form field holding a config's text: a file's ``content``, an item's ``value``."""
    return "content" if kind is ConfigType.FILE else "value"


@scoped(write=True)
def new_config(scope: Scope) -> Page:
    """Create a file or an item (``/files/new`` and ``/items/new``: one view, two forms)."""
    coords, kind = scope.coords, scope.kind
    template, field = f"console/new_{kind.segment}.html", _field(kind)
    if request.method == "GET":
        return render_template(template, coords=coords, name="", **{field: ""})
    name = request.form.get("name", "").strip()
    text = request.form.get(field, "")
    if kind is ConfigType.FILE:
        text = text.replace("\r\n", "\n")
    comment = form_comment()
    try:
        _refuse_existing(coords, kind, name)
        result, notification = publisher().publish_config(
            scope.db, coords=coords, kind=kind, name=name, content=text, actor=scope.user.name,
            comment=comment,
        )  # fmt: skip
    except services.ServiceError as exc:
        return render_template(
            template, coords=coords, name=name, comment=comment, error=str(exc), **{field: text}
        ), exc.status
    flash(published_message(f"{kind.segment} {name!r}", result.config.revision, notification), "ok")
    return redirect(config_list_url(coords))


for _segment, _kind in (("files", ConfigType.FILE), ("items", ConfigType.ITEM)):
    bp.add_url_rule(
        f"{VERSION_URL}/{_segment}/new",
        f"new_{_kind.segment}",
        new_config,
        methods=["GET", "POST"],
        defaults={"kind": _segment},
    )


@bp.post(VERSION_URL + "/upload")
@scoped(write=True)
def upload(scope: Scope) -> Page:
    coords, db = scope.coords, scope.db
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
    existing = services.find_config(db, coords, ConfigType.FILE, name)
    if existing is not None and existing.status == LIVE:
        # Replacing a file: show the diff and let the user publish it from the editor.
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise services.BadRequest(
                f"file {name!r} is not valid UTF-8 text (invalid byte 0x{data[exc.start]:02x} "
                f"at offset {exc.start}): store text encoded as UTF-8"
            ) from None
        return _editor(scope, ConfigType.FILE, existing, text, form_comment(), mode="preview")
    result, notification = publisher().publish_config(
        db, coords=coords, kind=ConfigType.FILE, name=name, content=data,
        actor=scope.user.name, comment=form_comment(),
    )  # fmt: skip
    flash(published_message(f"file {name!r}", result.config.revision, notification), "ok")
    return redirect(config_list_url(coords))


# -- edit & publish ----------------------------------------------------------------------------


def _editor(
    scope: Scope,
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
    """The edit page. ``mode``: edit | preview | conflict.

    The preview runs the publish guard's dry run (syntax with line and column, and what the
    running instances accept): a refusal is shown as the page's error, answered 422."""
    old = conflict.value if conflict is not None else config.value
    if mode == "preview" and error is None and old != text:
        pub = publisher()
        report = pub.guard.inspect(
            zk_prefix=pub.zk_prefix, coords=scope.coords, kind=kind, name=config.name, content=text
        )
        if not report.ok:
            error, status = report.message(), 422
    return render_template(
        "console/edit.html",
        coords=scope.coords,
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
        can_write=scope.can_write,
        error=error,
    ), status


@bp.route(CONFIG_URL, methods=["GET", "POST"])
@scoped(write="post")
def edit(scope: Scope, name: str) -> Page:
    coords, kind, db = scope.coords, scope.kind, scope.db
    if request.method == "GET":
        config = services.get_config(db, coords, kind, name)
        return _editor(scope, kind, config, config.value, "", mode="edit")
    text = request.form.get(_field(kind), "")
    if kind is ConfigType.FILE:
        text = text.replace("\r\n", "\n")
    comment = form_comment()
    base_md5 = request.form.get("base_md5", "")
    base_revision = request.form.get("base_revision", type=int)
    current = services.find_config(db, coords, kind, name)
    db.rollback()
    if current is None or current.status != LIVE:
        raise services.NotFound(
            f"{kind.segment} {name!r} was deleted from {coords} since you opened it"
        )
    if current.md5 != base_md5:
        return _conflict(scope, kind, current, text, comment)
    if request.form.get("action") != "publish" or current.value == text:
        return _editor(
            scope, kind, current, text, comment, mode="preview",
            base_md5=base_md5, base_revision=base_revision,
        )  # fmt: skip
    try:
        result, notification = publisher().publish_config(
            db, coords=coords, kind=kind, name=name, content=text, actor=scope.user.name,
            comment=comment, if_match=f'"{base_md5}"',
        )  # fmt: skip
    except (services.PreconditionFailed, services.Conflict):
        fresh = services.get_config(db, coords, kind, name)
        return _conflict(scope, kind, fresh, text, comment)
    except services.ServiceError as exc:
        return _editor(
            scope, kind, current, text, comment, mode="preview",
            base_md5=base_md5, error=str(exc), status=exc.status,
        )  # fmt: skip
    flash(published_message(f"{kind.segment} {name!r}", result.config.revision, notification), "ok")
    return redirect(config_list_url(coords))


def _conflict(
    scope: Scope, kind: ConfigType, current: Config, text: str, comment: str
) -> tuple[str, int]:
    """Someone published since the page was opened: show theirs and yours, publish nothing."""
    return _editor(
        scope, kind, current, text, comment, mode="conflict",
        base_md5=current.md5, base_revision=current.revision, conflict=current, status=409,
    )  # fmt: skip


@bp.post(CONFIG_URL + "/delete")
@scoped(write=True)
def delete(scope: Scope, name: str) -> WerkzeugResponse:
    base_md5 = request.form.get("base_md5", "")
    publisher().delete_config(
        scope.db, coords=scope.coords, kind=scope.kind, name=name, actor=scope.user.name,
        comment=form_comment(), if_match=f'"{base_md5}"' if base_md5 else None,
    )  # fmt: skip
    flash(f"Deleted {scope.kind.segment} {name!r} (its history is kept).", "ok")
    return redirect(config_list_url(scope.coords))
