"""ZooKeeper paths, exactly as the original Disconf lays them out.

::

    <prefix>/<app>_<version>_<env>/file/<fileName>/<instance>   (instance: EPHEMERAL)
    <prefix>/<app>_<version>_<env>/item/<itemKey>/<instance>
    <prefix>/<app>_<version>_<env>/standby/<election>           (ours: master/standby)
"""

from __future__ import annotations

from .names import (
    ConfigType,
    Coordinates,
    validate_config_name,
    validate_segment,
    zookeeper_refusal,
)

__all__ = [
    "DEFAULT_PREFIX",
    "app_node",
    "config_node",
    "normalize_prefix",
    "standby_node",
]

DEFAULT_PREFIX = "/disconf"


def normalize_prefix(prefix: str) -> str:
    """``disconf/`` -> ``/disconf``; refuses empty segments, ``.``, ``..`` and any character
    ZooKeeper refuses (:func:`~disconf_core.names.zookeeper_refusal`): every notification
    path starts with the prefix, so one bad character would make every delivery fail."""
    stripped = prefix.strip().strip("/")
    if not stripped:
        raise ValueError(f"invalid ZooKeeper prefix {prefix!r}: it must name a node")
    parts = stripped.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise ValueError(f"invalid ZooKeeper prefix {prefix!r}: bad segment {part!r}")
        refusal = zookeeper_refusal(part)
        if refusal is not None:
            raise ValueError(f"invalid ZooKeeper prefix {prefix!r}: segment {part!r}: {refusal}")
    return "/" + "/".join(parts)


def app_node(prefix: str, coords: Coordinates) -> str:
    """``<prefix>/<app>_<version>_<env>``."""
    return f"{normalize_prefix(prefix)}/{coords.node_name}"


def config_node(prefix: str, coords: Coordinates, kind: ConfigType, name: str) -> str:
    """``<prefix>/<app>_<version>_<env>/(file|item)/<name>``."""
    validate_config_name(name, kind.segment)
    return f"{app_node(prefix, coords)}/{kind.segment}/{name}"


def standby_node(prefix: str, coords: Coordinates, election: str) -> str:
    """``<prefix>/<app>_<version>_<env>/standby/<election>`` (our master/standby recipe)."""
    validate_segment(election, "election")
    return f"{app_node(prefix, coords)}/standby/{election}"
