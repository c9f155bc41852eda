"""Looking back and copying: a config's history and diffs, rollback to a revision, and copying
a version or env to another.

The history lists revisions a page at a time (:data:`~disconf_web.ui.scope.PAGE_SIZE`, newest
first, page links) with their metadata only (:func:`disconf_web.services.listing.page_revisions`);
the two revisions compared are loaded one by one with their values, so a config with thousands of
revisions of a large file renders a bounded page.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import services
from ..services import console as ops
from ..services import listing
from . import diff as diffs
from .blueprint import CONFIG_URL, Page, bp
from .page_common import (
    config_list_url,
    config_page_url,
    form_comment,
    published_message,
    publisher,
)
from .scope import Scope, page_request, scoped


def _history_url(scope: Scope, name: str) -> str:
    return config_page_url("console.history", scope.coords, scope.kind, name)


@bp.get(CONFIG_URL + "/history")
@scoped(write=False)
def history(scope: Scope, name: str) -> Page:
    coords, kind, db = scope.coords, scope.kind, scope.db
    wanted = page_request()
    page = listing.page_revisions(db, coords, kind, name, limit=wanted.limit, cursor=wanted.cursor)
    config = services.find_config(db, coords, kind, name)  # live or deleted
    if config is None:  # page_revisions found it: only a concurrent purge gets here
        raise services.NotFound(f"{kind.segment} {name!r} does not exist in {coords}")
    to_no = request.args.get("b", type=int) or config.revision
    from_no = request.args.get("a", type=int) or max(1, to_no - 1)
    old = listing.get_revision(db, coords, kind, name, from_no).new_value
    new = listing.get_revision(db, coords, kind, name, to_no).new_value
    return scope.render(
        "console/history.html",
        name,
        config=config,
        revisions=page.items,
        page=page,
        from_no=from_no,
        to_no=to_no,
        unified=diffs.unified(old, new),
        side=diffs.side_by_side(old, new),
    )


@bp.post(CONFIG_URL + "/rollback")
@scoped(write=True)
def rollback(scope: Scope, name: str) -> WerkzeugResponse:
    kind = scope.kind
    target = request.form.get("revision", type=int)
    if target is None:
        raise services.BadRequest(
            f"revision must be a revision number, not {request.form.get('revision')!r}"
        )
    base_md5 = request.form.get("base_md5", "")
    try:
        result, notification = publisher().rollback_config(
            scope.db, coords=scope.coords, kind=kind, name=name, to_revision=target,
            actor=scope.user.name, comment=form_comment(),
            if_match=f'"{base_md5}"' if base_md5 else None,
        )  # fmt: skip
    except services.PreconditionFailed:
        flash(
            f"Not rolled back: {kind.segment} {name!r} was changed since you opened this "
            "page. Look at the newest revision and try again.",
            "error",
        )
        return redirect(_history_url(scope, name))
    if result.changed:
        message = published_message(
            f"{kind.segment} {name!r} (rolled back to revision {target})",
            result.config.revision,
            notification,
        )
    else:
        message = f"Revision {target} holds the current value already: nothing to roll back."
    flash(message, "ok")
    return redirect(_history_url(scope, name))


# -- copy a version or env ---------------------------------------------------------------------


@bp.route("/apps/<app>/copy", methods=["GET", "POST"])
@scoped(write="post")
def copy(scope: Scope) -> Page:
    app, db = scope.app, scope.db
    form = request.form if request.method == "POST" else request.args
    fields = {key: form.get(key, "").strip() for key in ("from_env", "from_version", "to_env",
                                                        "to_version")}  # fmt: skip
    env_rows = services.list_envs(db)
    context: dict[str, Any] = {
        "app": app,
        "envs": env_rows,
        "fields": fields,
        "versions": {env.name: services.list_versions(db, app, env.name) for env in env_rows},
        "can_write": scope.can_write,
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
    if request.form.get("fingerprint") != plan.fingerprint:
        context["stale"] = True
        return render_template("console/copy.html", **context), 409
    delete_removed = request.form.get("delete_removed") == "1"
    notification = publisher().apply_copy(
        db, plan, actor=scope.user.name, comment=form_comment(), delete_removed=delete_removed,
    )  # fmt: skip
    changed = plan.count("added") + plan.count("changed")
    removed = plan.count("removed") if delete_removed else 0
    note = {"delivered": "clients were notified", "pending": "notifications are pending"}.get(
        notification, "nothing to notify"
    )
    flash(f"Copied {source} to {target}: {changed} published, {removed} deleted; {note}.", "ok")
    return redirect(config_list_url(target))
