"""The console's gray release page of one config: start one, watch who runs it, promote, abort.

``.../<kind>/<name>/gray`` shows the running release (its target, content, and the self-check:
each instance with the variant it runs and whether that is what its target says), or a form to
start one (content prefilled with the main revision; a target of instance ids — picked from the
config's instances —, hosts or IP addresses, labels ``zone=a``, or a percentage), and the
config's past releases. Start, promote and abort go through the same functions as the admin API
(:func:`disconf_web.gray.rollout.begin_release`, :func:`~disconf_web.gray.rollout.finish_release`):
guard, audit, notification. Error Handling: a refused action (guard, 409, bad target) is shown on
the page with its message; ZooKeeper down: the instance list says why it is missing.
"""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from disconf_core import ConfigType

from .. import services
from ..api.gray import instance_report
from ..gray import releases as gray_releases
from ..gray import rollout as gray_rollout
from ..gray import targeting as gray_targeting
from ..models import GrayStatus
from .blueprint import CONFIG_URL, Page, bp
from .page_common import config_page_url, form_comment, publisher
from .scope import Scope, scoped

__all__ = ["gray_page", "gray_start", "gray_end"]


def _url(scope: Scope, name: str) -> str:
    return config_page_url("console.gray_page", scope.coords, scope.kind, name)


def _form_target() -> dict[str, Any]:
    """The target of the start form: one kind and its text (one entry per line or comma)."""
    kind = request.form.get("target_kind", "")
    text = request.form.get("target", "").strip()
    entries = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    picked = request.form.getlist("instance")
    if kind == "instances":
        return gray_targeting.parse_target({"instances": sorted(set(entries + picked))})
    if kind == "hosts":
        return gray_targeting.parse_target({"hosts": entries})
    if kind == "labels":
        labels: dict[str, str] = {}
        for entry in entries:
            key, sep, value = entry.partition("=")
            if not sep:
                raise services.BadRequest(f"label {entry!r} is not key=value")
            labels[key.strip()] = value.strip()
        return gray_targeting.parse_target({"labels": labels})
    if kind == "percent":
        try:
            return gray_targeting.parse_target({"percent": float(text)})
        except ValueError:
            raise services.BadRequest(f"the percentage {text!r} is not a number") from None
    raise services.BadRequest("choose a target: instances, hosts, labels or a percentage")


@bp.get(CONFIG_URL + "/gray")
@scoped(write=False)
def gray_page(scope: Scope, name: str) -> Page:
    return _render(scope, name)


def _render(scope: Scope, name: str, error: str | None = None, status: int = 200) -> Page:
    coords, kind, db = scope.coords, scope.kind, scope.db
    config = services.get_config(db, coords, kind, name)
    active = gray_releases.active_gray(db, config.id)
    report: dict[str, Any] = {}
    if active is not None:
        report = instance_report(coords, kind, name, active)
    else:  # the instances to pick from
        report = instance_report(coords, kind, name, _NoRelease())
    page = scope.render(
        "console/gray.html",
        name,
        config=config,
        active=active,
        target=json.loads(active.target) if active is not None else None,
        report=report,
        releases=gray_releases.history(db, coords, kind, name, limit=50),
        error=error,
        form=request.form,
    )
    return page, status


class _NoRelease:
    """Stands for "no release" in the instance report (every instance runs main)."""

    id = 0
    value = "\x00"  # matches no instance
    target = "{}"


@bp.post(CONFIG_URL + "/gray")
@scoped(write=True)
def gray_start(scope: Scope, name: str) -> Page:
    kind = scope.kind
    field = "content" if kind is ConfigType.FILE else "value"
    try:
        value = request.form.get(field, "")
        outcome = gray_rollout.begin_release(
            publisher(), scope.db, gray_releases.ConfigRef(scope.coords, kind, name), value=value,
            target=_form_target(), actor=scope.user.name, comment=form_comment(),
        )  # fmt: skip
    except services.ServiceError as exc:
        return _render(scope, name, error=str(exc), status=exc.status)
    flash(
        f"Gray release #{outcome.release.id} started; instances were told to re-fetch "
        f"(notification {outcome.notification}).",
        "ok",
    )
    return redirect(_url(scope, name))


@bp.post(CONFIG_URL + "/gray/<any(promote, abort):action>")
@scoped(write=True)
def gray_end(scope: Scope, name: str, action: str) -> WerkzeugResponse | Page:
    status = GrayStatus.PROMOTED if action == "promote" else GrayStatus.ABORTED
    try:
        outcome = gray_rollout.finish_release(
            publisher(), scope.db, gray_releases.ConfigRef(scope.coords, scope.kind, name),
            status=status, actor=scope.user.name, comment=form_comment(),
        )  # fmt: skip
    except services.ServiceError as exc:
        return _render(scope, name, error=str(exc), status=exc.status)
    done = (
        "promoted: it is the next revision for everyone"
        if action == "promote"
        else ("aborted: its targets return to the main revision")
    )
    flash(f"Gray release #{outcome.release.id} {done} (notification {outcome.notification}).", "ok")
    return redirect(_url(scope, name))
