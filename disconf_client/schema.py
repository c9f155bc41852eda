"""The schema a bound file publishes in its instance node, for the server's publish guard.

For every bound file of a known format (not hosted, not an item) the client writes, next to the
values the self-check compares, a description of what it binds: each field's key, type and
whether it is required (:mod:`disconf_core.schema`). The server converts a new revision
against the schemas of every live instance before publishing it and refuses a value a running
instance would reject. A field with its own ``converter=`` is described as ``any`` (the server
cannot run user code), so it is never checked.
"""

from __future__ import annotations

from typing import Any

from disconf_core import ConfigType
from disconf_core.schema import ANY, SCHEMA_VERSION, describe_type

from .decorators import ConfigSpec, FieldSpec

__all__ = ["bound_schema"]


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
