"""Gray targeting rules: which requester, or which instance node, a gray release selects.

Pure functions and values, no database and no ZooKeeper: what a request tells about its sender
(:class:`Requester`: our client's instance id ``X-Disconf-Instance`` and labels
``X-Disconf-Labels``, the client address after the trusted proxies
``DISCONF_GRAY_TRUSTED_PROXIES``), the validation of an API target (:func:`parse_target`), the
parsed rule of a running release (:class:`GrayRule`, which the client protocol caches by
release id), the last-served key of a release's content (:func:`variant_key`) and the
self-check's view of an instance node (:func:`check_instance`, :func:`instance_variant`).

The targets are described in :mod:`disconf_web.gray`. Host names are never resolved (no DNS
wait on a read); a malformed header is never an error of the read (it is ignored).

Error Handling
--------------
Nothing here waits or holds state: ZooKeeper session loss, database loss and a restart do not
concern it (the protocol rebuilds its parsed rules from the release rows).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from disconf_core import ConfigType, InstanceCheck, check_file_instance, check_item_instance
from disconf_core.instances import instance_labels

from ..models import GrayRelease
from ..services.errors import BadRequest
from ..settings import SettingsError

__all__ = [
    "INSTANCE_HEADER",
    "LABELS_HEADER",
    "MAX_FORWARDED_HOPS",
    "MAX_LABELS",
    "MAX_TARGETS",
    "GrayRule",
    "Key",
    "Requester",
    "TrustedProxies",
    "check_instance",
    "client_address",
    "instance_variant",
    "parse_labels",
    "parse_target",
    "reported_labels",
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


# -- instance nodes (the self-check) --------------------------------------------------------


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
