"""The console's bundle pages of one app x env x version: export a bundle, import one.

* ``.../bundle.json`` downloads the version's bundle (:func:`disconf_web.bundles.export_bundle`:
  every live config with a manifest of names, revisions and MD5s), as the admin API's export.
* ``.../import`` takes a bundle file and shows the preview first: every config with its status
  (added, changed with its diff, unchanged, kept or removed), the publish guard's findings
  (syntax with line and column, what the running instances would reject) and the plan's
  fingerprint. Applying posts the same bundle back with that fingerprint and writes every
  change in one transaction, all or nothing (:func:`disconf_web.bundles.apply_import`, the same
  function as the admin API), notifying after the commit. Admins may force a guard refusal of
  the running fleet with a reason (audited). Anyone who may read the app may preview; applying
  needs write access (403).

Error Handling
--------------
A refused import (bundle not JSON or inconsistent: 400; the guard: 422; a gray release or a
target changed since the preview: 409; a stale config: 412) is shown on the page with its
message, nothing applied; after a 409 for a changed target the fresh preview is shown. The
bundle travels back in a form field, so a bundle above the form limit (Flask's
``MAX_FORM_MEMORY_SIZE``, 500 KB by default) is a 413: import it with ``disconf import``.
Database down: the transaction rolls back (503 page); ZooKeeper down: the import commits, its
notifications stay pending and the guard's fleet check is skipped (the page says so).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, flash, redirect, render_template, request
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import bundles, services
from ..auth import require_admin, require_app
from ..guard import GuardRefusal
from . import diff as diffs
from .blueprint import VERSION_URL, Page, bp
from .page_common import config_list_url, form_comment, publisher
from .scope import Scope, scoped

__all__ = ["bundle_download", "bundle_import"]


@bp.get(VERSION_URL + "/bundle.json")
@scoped(write=False)
def bundle_download(scope: Scope) -> Response:
    document = bundles.export_bundle(scope.db, scope.coords)
    coords = scope.coords
    response = Response(
        json.dumps(document, ensure_ascii=False, indent=1) + "\n", mimetype="application/json"
    )
    filename = f"{coords.app}_{coords.version}_{coords.env}.bundle.json"
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{filename}"
    return response


def _bundle_text() -> str:
    """The uploaded bundle file, else the bundle sent back by the preview's apply form."""
    upload = request.files.get("bundle_file")
    if upload is not None and upload.filename:
        raw: bytes = upload.read()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise services.BadRequest(
                f"the bundle is not UTF-8 (byte {exc.start}): export it again"
            ) from None
    text = request.form.get("bundle", "")
    if not text.strip():
        raise services.BadRequest("choose a bundle file (exported from a version's page)")
    return text


def _read(text: str) -> list[bundles.BundleEntry]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise services.BadRequest(
            f"the bundle is not JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise services.BadRequest("the bundle is nested too deeply") from None
    try:  # a \ud800 escape decodes to a lone surrogate, which is no text (nor storable)
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise services.BadRequest(
            f"the bundle holds a lone surrogate (U+{ord(exc.object[exc.start]):04X}), "
            "which is not Unicode text"
        ) from None
    except RecursionError:
        raise services.BadRequest("the bundle is nested too deeply") from None
    return bundles.read_bundle(document)


@bp.route(VERSION_URL + "/import", methods=["GET", "POST"])
@scoped(write=False)  # a preview needs read access; applying checks write access
def bundle_import(scope: Scope) -> WerkzeugResponse | Page:
    context: dict[str, Any] = {
        "coords": scope.coords,
        "can_write": scope.can_write,
        "plan": None,
        "bundle": "",
        "delete_missing": request.form.get("delete_missing") == "1",
        "error": None,
    }
    if request.method == "GET":
        return render_template("console/import.html", **context)
    try:
        text = _bundle_text()
        context["bundle"] = text
        plan = bundles.plan_import(
            scope.db, scope.coords, _read(text), delete_missing=context["delete_missing"]
        )
    except services.ServiceError as exc:
        context["error"] = str(exc)
        return render_template("console/import.html", **context), exc.status
    if request.form.get("action") == "apply":
        force = request.form.get("force_reason", "").strip() or None
        require_app(scope.user, scope.app, write=True)
        try:
            if force is not None:
                require_admin(scope.user, "force an import past the publish guard")
            notification = bundles.apply_import(
                scope.db, publisher(), plan, actor=scope.user.name, comment=form_comment(),
                force=force, expect=request.form.get("fingerprint") or "-",
            )  # fmt: skip
        except services.ServiceError as exc:
            context["error"] = str(exc)
            context["stale"] = isinstance(exc, services.Conflict) and "fingerprint" in str(exc)
            context["refusal"] = isinstance(exc, GuardRefusal) and exc.forcible
            return _preview(scope, plan, context), exc.status
        note = {"delivered": "clients were notified", "pending": "notifications are pending"}
        flash(
            f"Imported the bundle into {plan.target}: {plan.count('added')} added, "
            f"{plan.count('changed')} changed, {plan.count('removed')} deleted; "
            f"{note.get(notification, 'nothing to notify')}.",
            "ok",
        )
        return redirect(config_list_url(plan.target))
    return _preview(scope, plan, context)


def _preview(scope: Scope, plan: bundles.ImportPlan, context: dict[str, Any]) -> str:
    """The preview: the plan, the diff of every changed config, the guard's findings."""
    bundles.inspect_plan(publisher(), plan)
    changed: dict[tuple[int, str], Any] = {}
    for entry in plan.entries:
        if entry.status == "changed":
            current = services.get_config(scope.db, plan.target, entry.kind, entry.name)
            changed[(int(entry.kind), entry.name)] = diffs.unified(current.value, entry.value or "")
    scope.db.rollback()
    refused = [report for report in plan.guard if not report.ok]
    context.update(
        plan=plan,
        diffs=changed,
        refused=refused,
        fleet_unavailable=any(report.fleet == "unavailable" for report in plan.guard),
    )
    return render_template("console/import.html", **context)
