"""Who is master? Reads the master/standby elections of an app x env x version from ZooKeeper.

An election is ``<prefix>/<app>_<version>_<env>/standby/<name>`` (written by
:mod:`disconf_client.standby`); its contenders are parsed with :mod:`disconf_core.standby`. Both
the admin API (``.../standby``) and the console's config page show what :func:`read_election`
returns: contenders master first, each with ``host``, ``pid``, ``since``, ``token`` (the fencing
token) and ``is_master``, plus the saved context's metadata (never its content).

Error Handling
--------------
Read-only, in the request thread, through the app's
:class:`~disconf_web.instances.InstanceRegistry` (bounded reads, ``READ_TIMEOUT``; never on a kazoo
event thread). ZooKeeper disabled, down, ``SUSPENDED``, session ``LOST`` or timing out:
:class:`ElectionsUnavailable` naming the reason (the session is re-opened by kazoo; nothing is
kept here). Database loss does not concern this module; the views' own checks answer 503.
No ``standby`` node: no elections. A contender
node whose data is not ours keeps its place with null host/pid/since; an unreadable context is
reported as ``{"error": ...}``.
"""

from __future__ import annotations

from typing import Any

from disconf_core import Coordinates, DisconfError, app_node
from disconf_core.standby import CONTEXT_NODE, StandbyDataError, decode_context, parse_contenders

from .instances import InstanceData, InstanceRegistry

__all__ = ["ElectionsUnavailable", "elections_root", "read_election", "read_elections"]

READ_TIMEOUT = 2.0


class ElectionsUnavailable(DisconfError):
    """ZooKeeper could not be read; the message says why."""


def elections_root(prefix: str, coords: Coordinates) -> str:
    return f"{app_node(prefix, coords)}/standby"


def _children(registry: InstanceRegistry, path: str) -> list[InstanceData]:
    if not registry.connection.enabled:
        raise ElectionsUnavailable("ZooKeeper is disabled on this server")
    registry.connection.ensure_started()
    try:
        return list(registry.instances(path, READ_TIMEOUT))
    except Exception as exc:  # noqa: BLE001 - ZooKeeper down or timing out
        raise ElectionsUnavailable(
            f"cannot read master/standby elections from ZooKeeper: {exc or type(exc).__name__}"
        ) from exc


def _context_view(data: bytes) -> dict[str, Any] | None:
    try:
        saved = decode_context(data)
    except StandbyDataError as exc:
        return {"error": str(exc)}
    if saved is None:
        return None
    return {
        "token": saved.token,
        "size": saved.size,
        "saved_at": saved.saved_at,
        "host": saved.host,
        "pid": saved.pid,
        "format": "bytes" if isinstance(saved.value, bytes) else "json",
    }


def read_election(registry: InstanceRegistry, path: str, name: str) -> dict[str, Any]:
    """``{"name", "path", "master", "contenders", "context"}`` of one election."""
    children = _children(registry, path)
    contenders = parse_contenders((child.name, child.data) for child in children)
    context = next(
        (_context_view(child.data) for child in children if child.name == CONTEXT_NODE), None
    )
    rows = [contender.to_json() for contender in contenders]
    return {
        "name": name,
        "path": path,
        "master": rows[0] if rows else None,
        "contenders": rows,
        "context": context,
    }


def read_elections(
    registry: InstanceRegistry, prefix: str, coords: Coordinates
) -> list[dict[str, Any]]:
    """Every election of ``coords``, sorted by name."""
    root = elections_root(prefix, coords)
    names = sorted(child.name for child in _children(registry, root))
    return [read_election(registry, f"{root}/{name}", name) for name in names]
