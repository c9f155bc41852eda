"""Bundles: one app x env x version as one JSON document — export, preview, import, offline start.

A bundle (``format: "disconf-bundle"``, ``format_version: 1``)::

    {"format": "disconf-bundle", "format_version": 1,
     "app": "shop", "env": "prod", "version": "1_0_0", "exported_at": "2026-...Z",
     "manifest": [{"kind": "file", "name": "redis.properties", "revision": 7,
                   "md5": "<md5 of the UTF-8 content>", "bytes": 42}, ...],
     "files": {"redis.properties": "<content>"}, "items": {"discountRate": "0.1"}}

The manifest names every config with its revision and MD5; ``files`` and ``items`` hold the
contents. Reading a bundle (:func:`read_bundle`) checks that every manifest entry has its
content, every content its manifest entry, and every MD5 matches: a bundle edited by hand or
cut short is refused (400) before anything is planned. The client reads the same document for
its offline start (:mod:`disconf_client.bundle`).

An import targets the app x env x version of its URL (a bundle exported from prod may be
imported into staging). :func:`plan_import` says what it would change (``added``, ``changed``,
``unchanged``, ``removed`` — removed only with ``delete_missing``; otherwise ``kept``) and
gives a fingerprint; :func:`apply_import` writes every change in ONE database transaction —
revisions, notifications, audit events and one ``bundle.import`` audit event — so a failure
half-way (a refused name, a stale ``If-Match``, a database error) leaves nothing applied and
nothing to notify. The notifications are delivered only after the commit, through the
publisher. The publish guard checks every new content first (syntax and the running fleet).

Error Handling
--------------
* Database down or lost mid-import: the transaction rolls back (nothing applied, nothing
  notified); SQLAlchemy's error reaches the view (503).
* ZooKeeper down: the import commits; its notifications stay pending for the sweeper (the
  answer says ``"pending"``); the guard's fleet check is skipped (see :mod:`.guard`).
* A target changed between preview and import: the fingerprint sent with ``expect`` no longer
  matches (409), or a config's ``If-Match`` fails inside the transaction (412, nothing applied).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy.orm as so

from disconf_core import (
    ConfigType,
    Coordinates,
    InvalidNameError,
    content_md5,
    validate_config_name,
)

from . import services
from .gray import releases as gray_releases
from .guard import GuardReport
from .publisher import Publisher
from .services import BadRequest, Conflict
from .services.configs import stage_delete, stage_publish
from .services.console import ChangePlan, entry_change
from .services.transactions import audit, run_transaction

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "BundleEntry",
    "ImportPlan",
    "apply_import",
    "export_bundle",
    "plan_import",
    "read_bundle",
]

BUNDLE_FORMAT = "disconf-bundle"
BUNDLE_VERSION = 1
# A bundle holds at most this many configs (the API's body cap bounds its bytes).
MAX_BUNDLE_CONFIGS = 10_000
_KINDS = {"file": ConfigType.FILE, "item": ConfigType.ITEM}
_SECTIONS = {ConfigType.FILE: "files", ConfigType.ITEM: "items"}


@dataclass(frozen=True)
class BundleEntry:
    """One config of a bundle."""

    kind: ConfigType
    name: str
    value: str
    md5: str
    revision: int | None = None


def export_bundle(session: so.Session, coords: Coordinates) -> dict[str, Any]:
    """The bundle of every live config of ``coords`` (files first, then by name)."""
    configs = services.list_configs(session, coords)
    session.rollback()
    manifest: list[dict[str, Any]] = []
    sections: dict[str, dict[str, str]] = {"files": {}, "items": {}}
    for config in configs:
        kind = ConfigType(config.type)
        manifest.append(
            {
                "kind": kind.segment,
                "name": config.name,
                "revision": config.revision,
                "md5": config.md5,
                "bytes": len(config.value.encode("utf-8")),
            }
        )
        sections[_SECTIONS[kind]][config.name] = config.value
    return {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "app": coords.app,
        "env": coords.env,
        "version": coords.version,
        "exported_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "manifest": manifest,
        **sections,
    }


def _field(document: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = document.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise BadRequest(f"{where}: field {key!r} must be a {kind.__name__}")
    return value


def read_bundle(document: Any) -> list[BundleEntry]:
    """The configs of a bundle document, checked (format, manifest, MD5s); else BadRequest."""
    if not isinstance(document, Mapping):
        raise BadRequest("a bundle is a JSON object")
    if document.get("format") != BUNDLE_FORMAT:
        raise BadRequest(f'not a bundle: "format" must be "{BUNDLE_FORMAT}"')
    if document.get("format_version") != BUNDLE_VERSION:
        raise BadRequest(
            f"bundle format_version {document.get('format_version')!r} is not supported "
            f"(this server reads {BUNDLE_VERSION})"
        )
    manifest = _field(document, "manifest", list, "bundle")
    if len(manifest) > MAX_BUNDLE_CONFIGS:
        raise BadRequest(f"a bundle holds at most {MAX_BUNDLE_CONFIGS} configs")
    contents = {
        kind: dict(_field(document, section, dict, "bundle")) if section in document else {}
        for kind, section in _SECTIONS.items()
    }
    entries: list[BundleEntry] = []
    seen: set[tuple[ConfigType, str]] = set()
    for index, row in enumerate(manifest):
        where = f"manifest[{index}]"
        if not isinstance(row, Mapping):
            raise BadRequest(f"{where} must be an object")
        kind = _KINDS.get(str(row.get("kind")))
        if kind is None:
            raise BadRequest(f'{where}: "kind" must be "file" or "item"')
        name = _field(row, "name", str, where)
        md5 = _field(row, "md5", str, where)
        revision = row.get("revision")
        if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int)):
            raise BadRequest(f'{where}: "revision" must be an integer')
        if (kind, name) in seen:
            raise BadRequest(f"{where}: {kind.segment} {name!r} is listed twice")
        seen.add((kind, name))
        value = contents[kind].pop(name, None)
        if not isinstance(value, str):
            raise BadRequest(
                f'{where}: {kind.segment} {name!r} has no text content in "{_SECTIONS[kind]}"'
            )
        if content_md5(value) != md5.lower():
            raise BadRequest(
                f"{where}: {kind.segment} {name!r}: its content's MD5 is {content_md5(value)}, "
                f"not {md5} as the manifest says (the bundle was changed or cut)"
            )
        entries.append(BundleEntry(kind, name, value, md5.lower(), revision))
    for kind, left in contents.items():
        if left:
            names = ", ".join(repr(name) for name in sorted(left)[:5])
            raise BadRequest(f'"{_SECTIONS[kind]}" holds {names} with no manifest entry')
    return entries


@dataclass(frozen=True)
class ImportEntry:
    """One config of an import: ``status`` added, changed, unchanged, removed or kept."""

    kind: ConfigType
    name: str
    status: str
    value: str | None
    target_md5: str | None

    @property
    def new_value(self) -> str | None:
        return self.value

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.segment,
            "name": self.name,
            "status": self.status,
            "md5": None if self.value is None else content_md5(self.value),
            "target_md5": self.target_md5,
        }


@dataclass
class ImportPlan(ChangePlan):
    """What importing a bundle into ``target`` changes."""

    target: Coordinates
    delete_missing: bool
    entries: list[ImportEntry] = field(default_factory=list)
    guard: list[GuardReport] = field(default_factory=list)

    @property
    def writes(self) -> list[ImportEntry]:
        wanted = ("added", "changed", "removed")
        return [entry for entry in self.entries if entry.status in wanted]

    @property
    def fingerprint(self) -> str:
        """Identifies the plan: ``expect=`` makes an import apply only this plan."""
        digest = hashlib.sha256()
        for entry in self.entries:
            digest.update(json.dumps(entry.as_dict(), sort_keys=True).encode())
        return digest.hexdigest()[:32]

    def as_dict(self) -> dict[str, Any]:
        counts = {
            status: self.count(status)
            for status in ("added", "changed", "unchanged", "removed", "kept")
        }
        return {
            "app": self.target.app,
            "env": self.target.env,
            "version": self.target.version,
            "delete_missing": self.delete_missing,
            "fingerprint": self.fingerprint,
            "counts": counts,
            "entries": [entry.as_dict() for entry in self.entries],
            "guard": [report.as_dict() for report in self.guard if not report.ok],
        }


def plan_import(
    session: so.Session,
    target: Coordinates,
    entries: list[BundleEntry],
    *,
    delete_missing: bool = False,
) -> ImportPlan:
    """What importing ``entries`` into ``target`` would change (nothing is written).

    Every name must be publishable (a refused name is a 400 naming it, before anything)."""
    for entry in entries:
        try:
            validate_config_name(entry.name, entry.kind.segment, storable=True)
        except InvalidNameError as exc:
            raise BadRequest(f"the bundle's {entry.kind.segment} {entry.name!r}: {exc}") from exc
    current = {(ConfigType(c.type), c.name): c for c in services.list_configs(session, target)}
    session.rollback()
    plan = ImportPlan(target, delete_missing)
    incoming = {(entry.kind, entry.name): entry for entry in entries}
    for key in sorted(set(incoming) | set(current), key=lambda k: (int(k[0]), k[1])):
        new, old = incoming.get(key), current.get(key)
        if new is None:
            assert old is not None
            status = "removed" if delete_missing else "kept"
            plan.entries.append(ImportEntry(key[0], key[1], status, None, old.md5))
            continue
        if old is None:
            status = "added"
        else:
            status = "unchanged" if old.value == new.value else "changed"
        plan.entries.append(
            ImportEntry(key[0], key[1], status, new.value, None if old is None else old.md5)
        )
    return plan


def guard_plan(publisher: Publisher, plan: ImportPlan, *, force: str | None = None) -> None:
    """Run the publish guard over the plan's new contents (raises GuardRefusal unless forced)."""
    plan.guard = publisher.guard_changes(plan, force=force)


def inspect_plan(publisher: Publisher, plan: ImportPlan) -> None:
    """The guard's reports for a preview (nothing refused)."""
    plan.guard = [
        publisher.guard.inspect(
            zk_prefix=publisher.zk_prefix,
            coords=plan.target,
            kind=entry.kind,
            name=entry.name,
            content=entry.value or "",
        )
        for entry in plan.entries
        if entry.status in ("added", "changed")
    ]


def apply_import(
    session: so.Session,
    publisher: Publisher,
    plan: ImportPlan,
    *,
    actor: str,
    comment: str = "",
    force: str | None = None,
    expect: str | None = None,
) -> str:
    """Apply ``plan`` in one transaction (all or nothing), then notify; the notification's fate.

    ``expect``: the fingerprint of the preview the caller saw (409 if the plan differs now).
    """
    if expect is not None and expect != plan.fingerprint:
        raise Conflict(
            f"{plan.target} changed since the preview (fingerprint {plan.fingerprint}, "
            f"expected {expect}): preview again"
        )
    gray_releases.refuse_during_gray(session, [(plan.target, e.kind, e.name) for e in plan.writes])
    guard_plan(publisher, plan, force=force)
    note = comment or f"bundle import into {plan.target}"

    def write_all() -> list[int]:
        ids: list[int] = []
        for entry in plan.writes:
            change = entry_change(plan.target, entry, actor=actor, comment=note)
            if entry.status == "removed":
                result = stage_delete(session, zk_prefix=publisher.zk_prefix, **change)
            else:
                assert entry.value is not None
                result = stage_publish(
                    session,
                    content=entry.value,
                    max_bytes=publisher.max_bytes,
                    zk_prefix=publisher.zk_prefix,
                    **change,
                )
            ids.extend(result.notification_ids)
        audit(
            session,
            actor=actor,
            action="bundle.import",
            app=plan.target.app,
            target=str(plan.target),
            fingerprint=plan.fingerprint,
            added=plan.count("added"),
            changed=plan.count("changed"),
            removed=plan.count("removed"),
            comment=comment,
            forced=force or "",
        )
        return ids

    # A first import into a new version on MySQL can meet a deadlock the database breaks by
    # rolling one side back: run_transaction runs write_all again from the start.
    ids = run_transaction(
        session, write_all, conflict=f"{plan.target} was changed during the import: retry"
    )
    if force:
        publisher.guard.record_forced(
            session, plan.guard, coords=plan.target, actor=actor, reason=force
        )
    return publisher.deliver(ids)
