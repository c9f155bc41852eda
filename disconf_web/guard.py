"""The publish guard: refuse, before anything is stored, a file its parser or the fleet rejects.

Two checks run on every publish of a file or item through the
:class:`~disconf_web.publisher.Publisher` (the API's PUT and rollback, the console's editor,
copies and bundle imports), and in the dry run (``POST .../check``, the console's diff preview):

* **Syntax**: a file whose name has a known format (``.properties``, ``.yaml``/``.yml``,
  ``.json``, ``.toml``, ``.ini``; :mod:`disconf_core.formats`) must parse; otherwise 422 naming
  the line and the column.
* **The running fleet's types**: our client writes the schema it binds (keys, types, required)
  into its instance node (:mod:`disconf_core.schema`). The guard reads every live instance of
  the config and converts the new content against each schema with the converters the client
  uses; a value some instance would reject is a 422 listing instances, key, value and expected
  type ("3 instances of shop would reject `port=80a0`: ..."). Unmodified Disconf clients
  publish no schema and are not checked. An item's instance node holds the raw value the
  self-check compares, so our client publishes the schemas of the items it binds in one
  EPHEMERAL node per instance, ``<prefix>/<app>_<version>_<env>/schema/<instance>``
  (:func:`disconf_core.schema.item_schema`); an item's new value is converted against the
  schema of every live instance that binds it. A client that is gone has no node, so a value
  only it would reject is accepted. The instances' names are kept by ZooKeeper watches
  (:class:`~disconf_web.instances.WatchedChildren`): a fleet without schema nodes costs the
  publish no ZooKeeper round trip, and one with some costs one pipelined read of their data.
  An instance that started less than the watch delay before the publish may be missed, as a
  read racing its start would miss it.

An admin may force a refused publish with a reason (``force``): it is stored, and an audit
event ``config.guard_forced`` records the reason and what the fleet would reject.

Error Handling
--------------
* ZooKeeper down, paused, session ``LOST`` or disabled: the fleet cannot be asked; the syntax
  check still runs, the publish goes on (publishing must not depend on ZooKeeper), the outcome
  says ``fleet: "unavailable"`` (the API's publish answer ``fleet_check: "unavailable"``,
  :func:`fleet_outcome`) and a warning is logged. Reads are bounded by
  :data:`~disconf_web.instances.CONNECT_WAIT` + :data:`~disconf_web.instances.READ_TIMEOUT`.
* An instance whose data is not our schema (another client, garbage) is skipped.
* Database: the guard reads nothing from it; the forced-publish audit event is written in its
  own transaction right after the publish committed (a database lost in between loses that
  event, not the publish).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy.orm as so
from flask import g, has_request_context, request

from disconf_core import ConfigType, Coordinates, InvalidNameError, config_node
from disconf_core.formats import FormatSyntaxError, check_syntax, parse_mapping
from disconf_core.instances import instance_schema
from disconf_core.schema import FieldRejection, check_document, item_schema, schema_node

from .auth import require_admin
from .instances import InstanceRegistry
from .models import User
from .services import BadRequest, ServiceError
from .services.transactions import audit, transaction

__all__ = [
    "FleetRejection",
    "GuardRefusal",
    "GuardReport",
    "PublishGuard",
    "fleet_outcome",
    "force_reason",
]

log = logging.getLogger(__name__)

MAX_LISTED_INSTANCES = 20
MAX_REASON = 1000


def force_reason(user: User) -> str | None:
    """The admin's reason to force past the guard (``?force_reason=`` or the header
    ``X-Disconf-Force-Reason``), or None; a non-admin asking to force gets 403."""
    reason = request.args.get("force_reason") or request.headers.get("X-Disconf-Force-Reason")
    if not reason or not reason.strip():
        return None
    require_admin(user, "force a publish past the publish guard")
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise BadRequest(f"force_reason is {len(reason)} characters: at most {MAX_REASON}")
    return reason


def fleet_outcome() -> str:
    """Whether this request's publishes had the running fleet asked: ``"unavailable"`` (some
    fleet check was skipped: ZooKeeper down, paused, disabled or slow), ``"checked"``, or
    ``"not checked"`` (nothing to check: no guard ran, or content that cannot be decoded)."""
    reports: list[GuardReport] = g.get("disconf_guard_reports", []) if has_request_context() else []
    fleets = {report.fleet for report in reports}
    if "unavailable" in fleets:
        return "unavailable"
    return "checked" if "checked" in fleets else "not checked"


@dataclass(frozen=True)
class FleetRejection:
    """One key/value refused the same way by some instances."""

    key: str
    value: str | None
    expected: str
    reason: str
    instances: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "expected": self.expected,
            "reason": self.reason,
            "instances": list(self.instances[:MAX_LISTED_INSTANCES]),
            "instance_count": len(self.instances),
        }

    def sentence(self, app: str) -> str:
        count = len(self.instances)
        who = f"{count} instance{'s' if count != 1 else ''} of {app}"
        if self.value is None:
            return f"{who} would reject it: key {self.key!r} is missing (required, {self.expected})"
        return (
            f"{who} would reject `{self.key}={self.value}`: expected {self.expected}: {self.reason}"
        )


@dataclass
class GuardReport:
    """What the guard found for one config's new content."""

    kind: ConfigType
    name: str
    app: str
    syntax: FormatSyntaxError | None = None
    rejections: list[FleetRejection] = field(default_factory=list)
    fleet: str = "not checked"  # checked | unavailable | not checked (undecodable, bad name)
    instances_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.syntax is None and not self.rejections

    def message(self) -> str:
        if self.syntax is not None:
            return str(self.syntax)
        return f"{self.kind.segment} {self.name!r}: " + "; ".join(
            rejection.sentence(self.app) for rejection in self.rejections
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.segment,
            "name": self.name,
            "ok": self.ok,
            "syntax": None if self.syntax is None else self.syntax.as_dict(),
            "rejections": [rejection.as_dict() for rejection in self.rejections],
            "fleet": self.fleet,
            "instances_checked": self.instances_checked,
        }


class GuardRefusal(ServiceError, status=422):
    """The guard refused a publish (syntax or fleet); ``reports`` hold what was found."""

    def __init__(self, reports: Sequence[GuardReport]) -> None:
        self.reports = list(reports)
        refused = [report for report in self.reports if not report.ok]
        message = "; ".join(report.message() for report in refused)
        if any(report.syntax is None for report in refused):
            message += " (an admin may force it with a reason)"
        super().__init__(message)

    @property
    def forcible(self) -> bool:
        """Only fleet refusals may be forced: a syntax error is never stored."""
        return all(report.syntax is None for report in self.reports)

    def body(self) -> dict[str, Any]:
        return {"guard": [report.as_dict() for report in self.reports if not report.ok]}


def _text(content: bytes | str) -> str | None:
    if isinstance(content, str):
        return content
    try:
        return bytes(content).decode("utf-8")
    except UnicodeDecodeError:
        return None  # the services refuse it (400) with the offset


class PublishGuard:
    """The syntax and fleet checks of one app (held by its publisher)."""

    def __init__(self, registry: InstanceRegistry) -> None:
        self.registry = registry

    def inspect(
        self,
        *,
        zk_prefix: str,
        coords: Coordinates,
        kind: ConfigType,
        name: str,
        content: bytes | str,
    ) -> GuardReport:
        """Check one new content (a dry run: nothing is refused or stored here)."""
        report = GuardReport(kind, name, coords.app)
        text = _text(content)
        if text is None:
            return report
        if kind is ConfigType.ITEM:
            self._check_fleet(
                report,
                zk_prefix,
                coords,
                lambda data: item_schema(data, name),
                lambda schema: check_document(schema, {name: text}),
            )
            return report
        report.syntax = check_syntax(name, text)
        if report.syntax is not None:
            return report
        self._check_fleet(
            report,
            zk_prefix,
            coords,
            instance_schema,
            lambda schema: _reject(name, text, schema),
        )
        return report

    def _check_fleet(
        self,
        report: GuardReport,
        zk_prefix: str,
        coords: Coordinates,
        schema_of: Callable[[bytes], Mapping[str, Any] | None],
        reject: Callable[[Mapping[str, Any]], list[FieldRejection]],
    ) -> None:
        """The new content against the schema every live instance reports for it.

        A file's schema is on its instance nodes; an item's on the item-schema node of each
        instance of the app x env x version. ``schema_of`` reads one node's data (None: no
        schema); ``reject`` checks the new content against one schema.
        """
        try:
            path = config_node(zk_prefix, coords, report.kind, report.name)
        except InvalidNameError:
            return  # no node can exist: the services refuse the name (400 naming the character)
        what = "the instances of"
        if report.kind is ConfigType.ITEM:
            path, what = schema_node(zk_prefix, coords), "the item schemas under"
        try:
            self.registry.wait_connected()
            instances = self.registry.watched_instances(path)
        except Exception as exc:  # noqa: BLE001 - ZooKeeper down, paused, disabled or slow
            log.warning("publish guard: cannot read %s %s: %s", what, path, exc)
            report.fleet = "unavailable"
            return
        report.fleet = "checked"
        self._group(
            report,
            (
                (instance.name, schema)
                for instance in instances
                if (schema := schema_of(instance.data)) is not None
            ),
            reject,
        )

    @staticmethod
    def _group(
        report: GuardReport,
        schemas: Iterable[tuple[str, Mapping[str, Any]]],
        reject: Callable[[Mapping[str, Any]], list[FieldRejection]],
    ) -> None:
        """Run ``reject`` per instance schema; group equal rejections into the report."""
        grouped: dict[tuple[str, str | None, str, str], list[str]] = {}
        for name, schema in schemas:
            report.instances_checked += 1
            for rejection in reject(schema):
                key = (rejection.key, rejection.value, rejection.expected, rejection.reason)
                grouped.setdefault(key, []).append(name)
        report.rejections = [
            FleetRejection(key, value, expected, reason, tuple(names))
            for (key, value, expected, reason), names in grouped.items()
        ]

    def check(
        self,
        *,
        zk_prefix: str,
        configs: Sequence[tuple[Coordinates, ConfigType, str, bytes | str]],
        force: str | None = None,
    ) -> list[GuardReport]:
        """Inspect every config; raise :class:`GuardRefusal` unless all pass or ``force``
        (a reason) overrides refusals of the fleet. Returns the reports (forced ones too)."""
        reports = [
            self.inspect(zk_prefix=zk_prefix, coords=c, kind=k, name=n, content=content)
            for c, k, n, content in configs
        ]
        if has_request_context():  # the API's answer says whether the fleet was asked
            g.setdefault("disconf_guard_reports", []).extend(reports)
        refused = [report for report in reports if not report.ok]
        if refused:
            refusal = GuardRefusal(refused)
            if not force or not refusal.forcible:
                raise refusal
        return reports

    @staticmethod
    def record_forced(
        session: so.Session,
        reports: Sequence[GuardReport],
        *,
        coords: Coordinates,
        actor: str,
        reason: str,
    ) -> None:
        """The audit event of a publish forced past the guard (its own transaction)."""
        refused = [report for report in reports if not report.ok]
        if not refused:
            return
        with transaction(session, conflict="the forced-publish audit event"):
            for report in refused:
                audit(
                    session,
                    actor=actor,
                    action="config.guard_forced",
                    app=coords.app,
                    target=f"{coords}/{report.kind.segment}/{report.name}",
                    reason=reason,
                    refused=report.message(),
                    rejections=[rejection.as_dict() for rejection in report.rejections],
                )


def _reject(name: str, text: str, schema: Any) -> list[FieldRejection]:
    fmt = schema.get("format") if isinstance(schema.get("format"), str) else None
    try:
        document = parse_mapping(name, text, fmt)
    except FormatSyntaxError as exc:
        return [FieldRejection("<document>", "(the whole file)", str(fmt), str(exc))]
    if document is None:  # a format this server does not know (a newer client)
        return []
    return check_document(schema, document)
