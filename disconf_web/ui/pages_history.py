"""Looking back and copying: a config's history and diffs, rollback to a revision, and copying
a version or env to another.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import services
from ..auth import require_app
from ..services import console as ops
from . import diff as diffs
from .blueprint import CONFIG_URL, SEGMENTS, Page, bp
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
from .security import login_required


@bp.get(CONFIG_URL + "/history")
@login_required
def history(app: str, env: str, version: str, kind: str, name: str) -> Page:
    user = current_console_user()
    config_type = config_type_of(kind)
    coords = services.coordinates(app, env, version)
    require_app(user, app, write=False)
    db = db_session()
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
        segment=SEGMENTS[config_type],
        name=name,
        config=config,
        revisions=revisions,
        from_no=from_no,
        to_no=to_no,
        unified=diffs.unified(old, new),
        side=diffs.side_by_side(old, new),
        can_write=can_write(user, app),
    )


@bp.post(CONFIG_URL + "/rollback")
@login_required
def rollback(app: str, env: str, version: str, kind: str, name: str) -> WerkzeugResponse:
    user = current_console_user()
    config_type = config_type_of(kind)
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
            db_session(), coords=coords, kind=config_type, name=name, to_revision=target,
            actor=user.name, comment=form_comment(),
            if_match=f'"{base_md5}"' if base_md5 else None, **publish_settings(),
        )  # fmt: skip
    except services.PreconditionFailed:
        flash(
            f"Not rolled back: {config_type.segment} {name!r} was changed since you opened this "
            "page. Look at the newest revision and try again.",
            "error",
        )
        return redirect(url_for("console.history", app=app, env=env, version=version,
                                kind=kind, name=name))  # fmt: skip
    notification = deliver_now(result.notification_ids)
    if result.changed:
        message = published_message(
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
    user = current_console_user()
    require_app(user, app, write=False)
    db = db_session()
    form = request.form if request.method == "POST" else request.args
    fields = {key: form.get(key, "").strip() for key in ("from_env", "from_version", "to_env",
                                                        "to_version")}  # fmt: skip
    env_rows = services.list_envs(db)
    context: dict[str, Any] = {
        "app": app,
        "envs": env_rows,
        "fields": fields,
        "versions": {env.name: services.list_versions(db, app, env.name) for env in env_rows},
        "can_write": can_write(user, app),
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
        db, plan, actor=user.name, comment=form_comment(), delete_removed=delete_removed,
        **publish_settings(),
    )  # fmt: skip
    notification = deliver_now(ids)
    changed = plan.count("added") + plan.count("changed")
    removed = plan.count("removed") if delete_removed else 0
    note = {"delivered": "clients were notified", "pending": "notifications are pending"}.get(
        notification, "nothing to notify"
    )
    flash(f"Copied {source} to {target}: {changed} published, {removed} deleted; {note}.", "ok")
    return redirect(config_list_url(target))
