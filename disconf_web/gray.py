"""Gray releases: new content for some instances of one config, the main revision for the rest.

A gray release (:class:`~disconf_web.models.GrayRelease`) holds new content for one file or item
and a **target** — exactly one of:

* ``{"instances": ["host_123_ab..", ...]}``: instance ids (the names of the instance nodes the
  self-check lists; our client sends its own as ``X-Disconf-Instance`` with every fetch);
* ``{"hosts": ["10.0.0.7", "web-3", ...]}``: an IP address matches the client's address as the
  web tier sees it (``REMOTE_ADDR``; ``X-Forwarded-For`` only when ``REMOTE_ADDR`` is one of
  the trusted proxies, ``DISCONF_GRAY_TRUSTED_PROXIES``), so it works for unmodified Disconf
  clients; a host name matches the host part of our client's instance id
  (``<host>_<pid>_<uuid>``) — host names are never resolved (no DNS wait on a read);
* ``{"labels": {"zone": "a"}}``: every label given must be among the labels our client sends
  (``X-Disconf-Labels: zone=a,tier=web``; client setting ``labels`` / ``DISCONF_LABELS``);
* ``{"percent": 10}``: a share of instances chosen stably by a hash of the release id and the
  instance id (for a client that sends none, its address): the same instance gets the same
  answer on every fetch of the release, and each release picks its own share.

The client protocol (:mod:`disconf_web.protocol.answers`) reads the running gray release in the
same query as the config (an outer join on the unique ``active_config_id``), so a config without
one costs no extra query; the targeted answer is remembered under its own last-served key
(:func:`variant_key`), and its ETag is its own content's MD5, so gray and main never mix.

Start, promote and abort (:class:`GrayService`) are audited (``config.gray_start``,
``config.gray_promote``, ``config.gray_abort``) and kept as rows (the history). Start and abort
write a notification whose node data is the main payload with the *fetch* mark
(:func:`disconf_core.notification.fetch_marked`): every instance re-fetches; the ones whose
answer did not change call no callback. Promote publishes the gray content as the next normal
revision through the :class:`~disconf_web.publisher.Publisher` (guard, revision, notification),
then ends the release. While a release runs, the publisher refuses any other change of that
config with 409 naming the release (:func:`refuse_during_gray`).

Error Handling
--------------
* Database down: start/promote/abort roll back and raise (the API answers 503); nothing is
  notified. A promote whose publish committed but whose ending did not leaves the release
  running with the main content equal to it: promoting again finishes it (the publish then
  changes nothing).
* ZooKeeper down: the notification stays pending (the sweeper delivers it); the self-check
  answers 503.
* Restart: releases live in the database; nothing is kept only in memory except the protocol's
  parsed targets (rebuilt from the rows).

Races: a start locks the config row (``SELECT ... FOR UPDATE``) before it looks for a running
release, and every change of a config (:mod:`disconf_web.services.configs`) looks for one after
locking the same row, so a publish and a start of one config serialise: a publish that locks
second is refused with 409; a start that locks second runs against the newer main revision
(``base_revision``). On SQLite (no row locks) the lock step takes the database's write lock
instead, with the same effect. The publisher's own earlier check (:func:`refuse_during_gray`)
only refuses early.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
import sqlalchemy.orm as so

from disconf_core import (
    ConfigType,
    Coordinates,
    InstanceCheck,
    check_file_instance,
    check_item_instance,
    config_node,
)
from disconf_core.hashing import content_md5
from disconf_core.instances import instance_labels
from disconf_core.notification import fetch_marked

from .models import App, Config, ConfigStatus, Env, GrayRelease, GrayStatus, Notification, utcnow
from .services import BadRequest, Conflict, NotFound
from .services.configs import find_config, notification_data
from .services.transactions import audit, transaction
from .settings import SettingsError

if TYPE_CHECKING:
    from .publisher import Publisher

__all__ = [
    "INSTANCE_HEADER",
    "LABELS_HEADER",
    "MAX_FORWARDED_HOPS",
    "MAX_TARGETS",
    "GrayRule",
    "ConfigRef",
    "Requester",
    "TrustedProxies",
    "active_gray",
    "check_instance",
    "running_releases",
    "client_address",
    "describe",
    "instance_variant",
    "parse_labels",
    "parse_target",
    "reported_labels",
    "begin_release",
    "finish_release",
    "refuse_during_gray",
    "trusted_proxies",
    "variant_key",
]

INSTANCE_HEADER = "X-Disconf-Instance"
LABELS_HEADER = "X-Disconf-Labels"
#: The most entries of ``X-Forwarded-For`` examined (right to left), and of a target list.
MAX_FORWARDED_HOPS = 32
MAX_TARGETS = 10_000
#: The most labels read from one request's header (more are ignored).
MAX_LABELS = 64
_LABEL = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")


# -- who asks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requester:
    """What a request tells about its sender: our client's instance id and labels (None / empty
    for unmodified clients) and its address (after the trusted proxies)."""

    instance: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    address: str | None = None

    @property
    def identity(self) -> str | None:
        """What the percentage hashes: the instance id, else the address."""
        return self.instance or self.address


def parse_labels(raw: str | None) -> dict[str, str]:
    """``zone=a,tier=web`` -> ``{"zone": "a", "tier": "web"}``; malformed pairs are ignored
    (a header is never an error of the read), at most :data:`MAX_LABELS`."""
    labels: dict[str, str] = {}
    if not raw:
        return labels
    for pair in raw.split(",", MAX_LABELS)[:MAX_LABELS]:
        key, sep, value = pair.strip().partition("=")
        key, value = key.strip(), value.strip()
        if sep and _LABEL.fullmatch(key) and _LABEL.fullmatch(value):
            labels[key] = value
    return labels


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` is believed (``DISCONF_GRAY_TRUSTED_PROXIES``)."""

    networks: tuple[Network, ...] = ()

    def __contains__(self, address: object) -> bool:
        if not self.networks or not isinstance(address, str):
            return False
        parsed = _ip(address)
        return parsed is not None and any(parsed in network for network in self.networks)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def trusted_proxies(config: Mapping[str, Any]) -> TrustedProxies:
    """``GRAY_TRUSTED_PROXIES`` (a comma-separated string or a JSON list of IP addresses or
    networks, e.g. ``10.0.0.5,192.168.0.0/24``; default none): :class:`SettingsError` naming the
    variable and the bad entry otherwise."""
    raw = config.get("GRAY_TRUSTED_PROXIES") or ()
    entries = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(entries, (list, tuple)):
        raise SettingsError(f"DISCONF_GRAY_TRUSTED_PROXIES={raw!r} is not a list of addresses")
    networks: list[Network] = []
    for entry in entries:
        text = str(entry).strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise SettingsError(
                f"DISCONF_GRAY_TRUSTED_PROXIES: {text!r} is not an IP address or network"
            ) from None
    return TrustedProxies(tuple(networks))


def client_address(
    remote_addr: str | None, forwarded_for: str | None, trusted: TrustedProxies
) -> str | None:
    """The client's address: ``REMOTE_ADDR``, unless that is a trusted proxy; then the
    right-most ``X-Forwarded-For`` entry that is not a trusted proxy (at most
    :data:`MAX_FORWARDED_HOPS` examined). A client cannot forge its address by sending the
    header itself: entries left of the first untrusted one are never read."""
    address = remote_addr
    if not forwarded_for or address not in trusted:
        return address
    hops = [hop.strip() for hop in forwarded_for.split(",")][-MAX_FORWARDED_HOPS:]
    for hop in reversed(hops):
        if _ip(hop) is None:
            return address  # garbage: stop at the last address we could trust
        address = hop
        if hop not in trusted:
            return hop
    return address


# -- targets ---------------------------------------------------------------------------------


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise BadRequest(f"target {what!r} must be a non-empty list of strings")
    if len(value) > MAX_TARGETS:
        raise BadRequest(f"target {what!r} has {len(value)} entries: at most {MAX_TARGETS}")
    out: list[str] = []
    for entry in value:
        if not isinstance(entry, str) or not entry.strip() or len(entry) > 255:
            raise BadRequest(f"target {what!r}: {entry!r} is not a name of 1 to 255 characters")
        out.append(entry.strip())
    return sorted(set(out))


def parse_target(target: Any) -> dict[str, Any]:
    """Validate an API target; the normalized form stored as JSON (400 naming the problem)."""
    kinds = ("instances", "hosts", "labels", "percent")
    if not isinstance(target, dict) or len(target) != 1 or next(iter(target)) not in kinds:
        raise BadRequest(
            'field "target" must be an object with exactly one of "instances", "hosts", '
            '"labels" or "percent"'
        )
    ((kind, value),) = target.items()
    if kind in ("instances", "hosts"):
        names = _strings(value, kind)
        if kind == "hosts":
            names = sorted({str(_ip(n)) if _ip(n) else n.lower() for n in names})
        return {kind: names}
    if kind == "labels":
        if not isinstance(value, dict) or not value or len(value) > MAX_LABELS:
            raise BadRequest(f'target "labels" must be an object of 1 to {MAX_LABELS} labels')
        for key, label in value.items():
            if (
                not isinstance(label, str)
                or not _LABEL.fullmatch(key)
                or not (_LABEL.fullmatch(label))
            ):
                raise BadRequest(
                    f"target label {key!r}={label!r}: keys and values are 1 to 64 characters "
                    "of A-Z a-z 0-9 _ . : / -"
                )
        return {"labels": dict(sorted(value.items()))}
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
        raise BadRequest('target "percent" must be a number above 0 and at most 100')
    return {"percent": round(float(value), 2)}


def _bucket(release_id: int, identity: str) -> int:
    """0..9999, stable for (release, identity)."""
    digest = hashlib.sha256(f"{release_id}/{identity}".encode("utf-8", "replace")).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def _instance_host(instance: str) -> str:
    """The host part of our client's instance id ``<host>_<pid>_<uuid>``."""
    parts = instance.rsplit("_", 2)
    return parts[0].lower() if len(parts) == 3 else ""


@dataclass(frozen=True)
class GrayRule:
    """A running release's target, parsed once (the protocol caches these by release id)."""

    release_id: int
    target: Mapping[str, Any]

    @classmethod
    def from_json(cls, release_id: int, text: str) -> GrayRule:
        try:
            target = json.loads(text)
        except ValueError:
            target = {}
        return cls(release_id, target if isinstance(target, dict) else {})

    def selects(self, who: Requester) -> bool:
        """Whether this requester gets the gray content."""
        target = self.target
        if "instances" in target:
            return who.instance is not None and who.instance in target["instances"]
        if "hosts" in target:
            hosts = target["hosts"]
            if who.address is not None:
                parsed = _ip(who.address)
                if parsed is not None and str(parsed) in hosts:
                    return True
            return who.instance is not None and _instance_host(who.instance) in hosts
        if "labels" in target:
            return all(who.labels.get(k) == v for k, v in target["labels"].items())
        if "percent" in target:
            identity = who.identity
            share = int(round(float(target["percent"]) * 100))
            return identity is not None and _bucket(self.release_id, identity) < share
        return False

    def expects(self, instance: str, labels: Mapping[str, str] | None = None) -> bool | None:
        """Whether the instance with this id (and these labels, when its instance node reports
        them: :func:`disconf_core.instances.instance_labels`) should run gray (None: the id
        alone cannot say: a label target of an instance that reports no labels, or an address
        only the web tier sees)."""
        target = self.target
        if "instances" in target or "percent" in target:
            return self.selects(Requester(instance=instance))
        if "hosts" in target:
            return True if _instance_host(instance) in target["hosts"] else None
        if "labels" in target and labels is not None:
            return self.selects(Requester(instance=instance, labels=labels))
        return None


Key = tuple[str, str, str, int, str]  # the protocol's last-served key


def variant_key(key: Key, release_id: int) -> Key:
    """The last-served key of a release's content: the config's key with the name suffixed by
    a NUL (never part of a config name) and the release id, so gray and main never share one."""
    app, env, version, kind, name = key
    return (app, env, version, kind, f"{name}\x00gray/{release_id}")


# -- the service -----------------------------------------------------------------------------


def active_gray(session: so.Session, config_id: int) -> GrayRelease | None:
    return session.scalar(sa.select(GrayRelease).where(GrayRelease.active_config_id == config_id))


def describe(release: GrayRelease) -> str:
    """How messages name a release: ``gray release #7 (started by alice)``."""
    return f"gray release #{release.id} (started by {release.created_by})"


def refuse_during_gray(
    session: so.Session,
    configs: Iterable[tuple[Coordinates, ConfigType, str]],
    *,
    allow: int | None = None,
) -> None:
    """The publisher's hook: :class:`Conflict` (409) naming the running gray release of any of
    these configs (``allow``: the release being promoted). One query for all of them."""
    wanted = list(configs)
    if not wanted:
        return
    conditions = [
        sa.and_(
            App.name == coords.app,
            Env.name == coords.env,
            Config.version == coords.version,
            Config.type == int(kind),
            Config.name == name,
        )
        for coords, kind, name in wanted
    ]
    query = (
        sa.select(GrayRelease, Config.name, Config.type)
        .join(Config, Config.id == GrayRelease.active_config_id)
        .join(App, App.id == Config.app_id)
        .join(Env, Env.id == Config.env_id)
        .where(sa.or_(*conditions))
    )
    for release, name, kind in session.execute(query):
        if release.id == allow:
            continue
        raise Conflict(
            f"{ConfigType(kind).segment} {name!r} has a running {describe(release)}: promote "
            "or abort it before publishing"
        )


def _fetch_notification(
    session: so.Session, prefix: str, coords: Coordinates, config: Config, now: Any
) -> Notification:
    kind = ConfigType(config.type)
    data = fetch_marked(notification_data(kind, config.value).encode("utf-8"))
    notification = Notification(
        config_id=config.id,
        path=config_node(prefix, coords, kind, config.name),
        data=data.decode("utf-8"),
        created_at=now,
        attempts=0,
    )
    session.add(notification)
    return notification


class ConfigRef(NamedTuple):
    """The config a gray release is about."""

    coords: Coordinates
    kind: ConfigType
    name: str

    @property
    def label(self) -> str:
        """``files 'a.properties'``: the config in messages."""
        return f"{self.kind.segment} {self.name!r}"

    @property
    def path(self) -> str:
        """``app/env/version/files/a.properties``: the config as an audit event's target."""
        return f"{self.coords}/{self.kind.segment}/{self.name}"


def _live_config(session: so.Session, ref: ConfigRef) -> Config:
    config = find_config(session, *ref, for_update=True)
    if config is None or config.status != ConfigStatus.LIVE:
        raise NotFound(f"{ref.label} does not exist in {ref.coords}")
    return config


def start(
    session: so.Session,
    ref: ConfigRef,
    *,
    zk_prefix: str,
    value: str,
    target: Mapping[str, Any],
    actor: str,
    comment: str,
) -> tuple[GrayRelease, list[int]]:
    """Start a gray release (its notification ids to deliver). 409 if one runs already."""
    label, coords = ref.label, ref.coords
    with transaction(session, conflict=f"{label} got a gray release concurrently: reload"):
        config = _live_config(session, ref)
        running = active_gray(session, config.id)
        if running is not None:
            raise Conflict(f"{label} already has a running {describe(running)}")
        if config.value == value:
            raise BadRequest(f"the gray content of {label} is the same as its main revision")
        now = utcnow()
        release = GrayRelease(
            config_id=config.id,
            active_config_id=config.id,
            value=value,
            md5=content_md5(value),
            target=json.dumps(target, sort_keys=True),
            status=GrayStatus.ACTIVE.value,
            base_revision=config.revision,
            created_at=now,
            created_by=actor,
            comment=comment,
            end_comment="",
        )
        session.add(release)
        session.flush()
        notification = _fetch_notification(session, zk_prefix, coords, config, now)
        audit(
            session,
            actor=actor,
            action="config.gray_start",
            app=coords.app,
            target=ref.path,
            gray=release.id,
            md5=release.md5,
            gray_target=target,
            comment=comment,
        )
        session.flush()
        return release, [notification.id]


def running(session: so.Session, ref: ConfigRef) -> GrayRelease:
    """The running release of a config, or :class:`NotFound`."""
    config = find_config(session, *ref)
    release = None if config is None else active_gray(session, config.id)
    if release is None:
        raise NotFound(f"{ref.label} in {ref.coords} has no running gray release")
    return release


def end(
    session: so.Session,
    ref: ConfigRef,
    *,
    zk_prefix: str,
    release_id: int,
    status: GrayStatus,
    actor: str,
    comment: str,
) -> tuple[GrayRelease, list[int]]:
    """End the running release ``release_id`` (aborted: with a re-fetch notification; promoted:
    the publish notified already). :class:`NotFound` if it is not running any more."""
    label, coords = ref.label, ref.coords
    with transaction(session, conflict=f"{label}: the gray release changed concurrently"):
        config = _live_config(session, ref)
        release = active_gray(session, config.id)
        if release is None or release.id != release_id:
            raise NotFound(f"{label} in {coords} has no running gray release #{release_id}")
        now = utcnow()
        release.status = status.value
        release.active_config_id = None
        release.ended_at = now
        release.ended_by = actor
        release.end_comment = comment
        ids: list[int] = []
        if status is GrayStatus.ABORTED:
            notification = _fetch_notification(session, zk_prefix, coords, config, now)
            session.flush()
            ids.append(notification.id)
        audit(
            session,
            actor=actor,
            action=f"config.gray_{'abort' if status is GrayStatus.ABORTED else 'promote'}",
            app=coords.app,
            target=ref.path,
            gray=release.id,
            revision=config.revision,
            md5=config.md5,
            comment=comment,
        )
        session.flush()
        return release, ids


def history(
    session: so.Session, coords: Coordinates, kind: ConfigType, name: str, limit: int = 100
) -> Sequence[GrayRelease]:
    """The config's gray releases, newest first (at most ``limit``)."""
    config = find_config(session, coords, kind, name)
    if config is None:
        raise NotFound(f"{kind.segment} {name!r} does not exist in {coords}")
    query = (
        sa.select(GrayRelease)
        .where(GrayRelease.config_id == config.id)
        .order_by(GrayRelease.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def instance_variant(kind: ConfigType, name: str, main: str, gray: str, instance: Any) -> str:
    """What an instance node (:class:`~disconf_web.instances.InstanceData`) reports running:
    ``"gray"``, ``"main"``, ``"unknown"`` (it matches both, e.g. it reports no key of a file)
    or ``"other"`` (neither: not applied yet, or a failed apply)."""

    def matches(value: str) -> bool:
        if kind is ConfigType.FILE:
            return check_file_instance(instance.name, name, value, instance.data).ok
        return check_item_instance(instance.name, value, instance.data).ok

    on_gray, on_main = matches(gray), matches(main)
    if on_gray and on_main:
        return "unknown"
    if on_gray:
        return "gray"
    return "main" if on_main else "other"


def reported_labels(kind: ConfigType, data: bytes) -> dict[str, str] | None:
    """The labels an instance node reports (our client's file instance nodes), or None."""
    return instance_labels(data) if kind is ConfigType.FILE else None


def running_releases(session: so.Session, config_ids: Iterable[int]) -> dict[int, GrayRelease]:
    """``{config id: its running release}`` for the configs among ``config_ids`` that have one
    (one query; none for an empty list)."""
    ids = sorted(set(config_ids))
    if not ids:
        return {}
    query = sa.select(GrayRelease).where(GrayRelease.active_config_id.in_(ids))
    return {int(release.config_id): release for release in session.scalars(query)}


def check_instance(
    kind: ConfigType, name: str, main: str, release: GrayRelease | None, instance: Any
) -> tuple[InstanceCheck, bool]:
    """The self-check of one instance node (:class:`~disconf_web.instances.InstanceData`) of a
    config whose running gray release is ``release`` (None: none runs), and whether it counts
    as running gray.

    An instance runs gray when the release's target selects it by its id alone (an instance-id
    target, or the percentage rule, which only needs the id: :meth:`GrayRule.expects`), by the
    labels our client writes into its file instance nodes, or when
    the values it holds are the gray content; it is then compared with the gray content (a
    targeted instance that still holds main is mismatched: it has not applied gray yet). Every
    other instance is compared with the main content. An address target (and a label target of
    an item, or of a client that reports no labels) cannot be told from the node, so such an
    instance runs gray exactly when it holds the gray content."""

    def against(value: str) -> InstanceCheck:
        if kind is ConfigType.FILE:
            return check_file_instance(instance.name, name, value, instance.data)
        return check_item_instance(instance.name, value, instance.data)

    on_main = against(main)
    if release is None:
        return on_main, False
    on_gray = against(release.value)
    rule = GrayRule.from_json(release.id, release.target)
    targeted = rule.expects(instance.name, reported_labels(kind, instance.data)) is True
    if targeted or (on_gray.ok and not on_main.ok):
        return on_gray, True
    return on_main, False


class Outcome(NamedTuple):
    """A start, promote or abort: the release and the notification's fate."""

    release: GrayRelease
    notification: str


def begin_release(
    publisher: Publisher,
    session: so.Session,
    ref: ConfigRef,
    *,
    value: str,
    target: Mapping[str, Any],
    actor: str,
    comment: str,
    force: str | None = None,
) -> Outcome:
    """Start a release the way a publish goes: the publish guard (syntax, the running fleet;
    ``force`` an admin's reason, audited), the rows in one transaction, the inline delivery;
    all ZooKeeper waits within one ``NOTIFY_INLINE_TIMEOUT``."""
    with publisher.instances.budget(publisher.notifier.inline_timeout):
        reports = publisher.guard.check(
            zk_prefix=publisher.zk_prefix, configs=[(*ref, value)], force=force
        )
        release, ids = start(
            session,
            ref,
            zk_prefix=publisher.zk_prefix,
            value=value,
            target=target,
            actor=actor,
            comment=comment,
        )
        if force:
            publisher.guard.record_forced(
                session, reports, coords=ref.coords, actor=actor, reason=force
            )
        return Outcome(release, publisher.deliver(ids))


def finish_release(
    publisher: Publisher,
    session: so.Session,
    ref: ConfigRef,
    *,
    status: GrayStatus,
    actor: str,
    comment: str,
    force: str | None = None,
) -> Outcome:
    """Promote (publish the gray content through the publisher as the next revision, then end
    the release) or abort (end it and notify a re-fetch) the running release of a config."""
    found = running(session, ref)
    release_id, value = found.id, found.value
    notification = "none"
    if status is GrayStatus.PROMOTED:
        published = publisher.publish_config(
            session,
            coords=ref.coords,
            kind=ref.kind,
            name=ref.name,
            content=value,
            force=force,
            promoting_gray=release_id,
            actor=actor,
            comment=f"gray release #{release_id} promoted" + (f": {comment}" if comment else ""),
        )
        notification = published.notification
    ended, ids = end(
        session,
        ref,
        zk_prefix=publisher.zk_prefix,
        release_id=release_id,
        status=status,
        actor=actor,
        comment=comment,
    )
    if ids:
        notification = publisher.deliver(ids)
    return Outcome(ended, notification)


def release_json(release: GrayRelease) -> dict[str, Any]:
    return {
        "id": release.id,
        "status": release.status,
        "target": json.loads(release.target),
        "md5": release.md5,
        "base_revision": release.base_revision,
        "created_at": release.created_at.isoformat() + "Z",
        "created_by": release.created_by,
        "comment": release.comment,
        "ended_at": None if release.ended_at is None else release.ended_at.isoformat() + "Z",
        "ended_by": release.ended_by,
        "end_comment": release.end_comment,
    }
