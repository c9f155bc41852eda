"""The schema a bound file publishes in its instance node, for the server's publish guard.

For every bound file of a known format (not hosted, not an item) the client writes, next to the
values the self-check compares, a description of what it binds: each field's key, type and
whether it is required (:mod:`disconf_core.schema`). The server converts a new revision
against the schemas of every live instance before publishing it and refuses a value a running
instance would reject. A field with its own ``converter=`` is described as ``any`` (the server
cannot run user code), so it is never checked.

Items: the item instance node holds the raw value (the self-check compares it), so the schemas
of every bound item go into one EPHEMERAL node per client instance,
``<prefix>/<app>_<version>_<env>/schema/<instance>`` (:func:`items_schema_data`, written by
:class:`~disconf_client.watch.ConfigWatcher` and re-created after a session loss like the
instance nodes). Items bound as ``str`` (or with their own converter) accept every value, so
they are left out, and a client binding only such items writes no node.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from disconf_core import ConfigType
from disconf_core.schema import ANY, SCHEMA_VERSION, describe_type, item_schemas_data

from .decorators import ConfigSpec, FieldSpec

__all__ = ["bound_schema", "item_schema", "items_schema_data"]


def _described(field: FieldSpec) -> dict[str, Any]:
    return dict(ANY) if field.converter is not None else describe_type(field.annotation)


def bound_schema(spec: ConfigSpec) -> dict[str, Any] | None:
    """The schema of a bound file, or None (items and hosted files publish none)."""
    if spec.kind is not ConfigType.FILE or spec.hosted:
        return None
    return {
        "v": SCHEMA_VERSION,
        "format": spec.format,
        "fields": [
            {"key": field.key, "type": _described(field), "required": field.required}
            for field in spec.fields
        ],
    }


def item_schema(spec: ConfigSpec) -> dict[str, Any] | None:
    """The schema of a bound item (its key is the one field), or None for files."""
    if spec.kind is not ConfigType.ITEM:
        return None
    return {
        "v": SCHEMA_VERSION,
        "format": "item",
        "fields": [
            {"key": field.key, "type": _described(field), "required": field.required}
            for field in spec.fields
        ],
    }


_ACCEPTS_ANY_TEXT = ({"type": "str"}, {"type": "any"})


def _checkable(schema: dict[str, Any]) -> bool:
    """Whether the guard could refuse some value for this item: not for a ``str`` or ``any``
    field (every text converts; an item's value is never missing)."""
    return any(field["type"] not in _ACCEPTS_ANY_TEXT for field in schema["fields"])


def items_schema_data(specs: Iterable[ConfigSpec]) -> bytes | None:
    """The data of this client's item-schema node, or None when no bound item could refuse a
    value (no item, or only ``str``/``any`` ones: no ZooKeeper write for nothing)."""
    schemas = {
        spec.name: schema
        for spec in specs
        if (schema := item_schema(spec)) is not None and _checkable(schema)
    }
    return item_schemas_data(schemas) if schemas else None
