"""The schema a client binds (keys, types, required), as it travels in its instance node.

Our client describes each bound file as a JSON-able mapping::

    {"format": "properties",
     "fields": [{"key": "port", "type": {"type": "int"}, "required": true}, ...]}

and writes it into its instance node under the reserved key :data:`SCHEMA_KEY` (see
:mod:`disconf_core.instances`; the self-check ignores that key). The server's publish guard
reads these schemas from every live instance and converts a new revision with
:func:`check_document`, which applies the converters of :mod:`disconf_core.converters` with
the client binding's rules, so a value refused here is a value a running instance would refuse.

Types (``{"type": ...}``): ``str``, ``int``, ``float``, ``decimal``, ``bool``, ``duration``,
``path``, ``bytes``, ``any`` (not checked: a field with its own converter, or a type without a
shared converter), ``list`` (``items``), ``tuple`` (``items``: one type per position),
``map`` (``values``), ``union`` (``of``, ``nullable``), ``enum`` (``names``, ``values``).
An unknown type name (a newer client) is treated as ``any``. Pure: no I/O.

Items: an item's instance node must hold the raw value (the self-check compares it byte for
byte), so our client publishes the schemas of the items it binds in one more EPHEMERAL node per
client instance, ``<prefix>/<app>_<version>_<env>/schema/<instance>`` (:func:`schema_node`),
whose data is :func:`item_schemas_data`: ``{"v": 1, "items": {"<key>": <schema>}}``, each
schema shaped like a file's with the item key as its one field. Unmodified clients and the
spec's self-check only use the ``file/`` and ``item/`` children, so they never see it.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from .converters import to_bool, to_decimal, to_duration, to_float, to_int, to_list
from .formats import MISSING, lookup
from .names import Coordinates
from .zkpaths import app_node

__all__ = [
    "SCHEMA_KEY",
    "SCHEMA_SEGMENT",
    "SCHEMA_VERSION",
    "FieldRejection",
    "check_document",
    "check_value",
    "describe_type",
    "item_schema",
    "item_schemas_data",
    "schema_node",
    "type_label",
]

SCHEMA_KEY = "__disconf_schema__"
SCHEMA_VERSION = 1
SCHEMA_SEGMENT = "schema"
"""The child of an app/version/env node holding one item-schema node per client instance."""
ANY: dict[str, Any] = {"type": "any"}
_SCALARS = {
    str: "str",
    int: "int",
    float: "float",
    Decimal: "decimal",
    bool: "bool",
    timedelta: "duration",
    Path: "path",
    bytes: "bytes",
}
_JSON_SCALARS = (str, int, float, bool, type(None))


def describe_type(annotation: Any) -> dict[str, Any]:
    """The JSON description of a field's annotation (``Any`` when nothing can be checked)."""
    if annotation is Any or annotation is object:
        return dict(ANY)
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        options = [arg for arg in args if arg is not type(None)]
        return {
            "type": "union",
            "of": [describe_type(arg) for arg in options],
            "nullable": len(options) < len(args),
        }
    if origin is tuple and args and args[-1] is not Ellipsis:
        return {"type": "tuple", "items": [describe_type(arg) for arg in args]}
    if origin in (list, tuple, set, frozenset):
        return {"type": "list", "items": describe_type(args[0]) if args else dict(ANY)}
    if annotation is list:
        return {"type": "list", "items": {"type": "str"}, "bare": True}
    if origin is dict or annotation is dict:
        return {"type": "map", "values": describe_type(args[1]) if len(args) == 2 else dict(ANY)}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = [member.value for member in annotation]
        if not all(isinstance(value, _JSON_SCALARS) for value in values):
            return dict(ANY)
        return {"type": "enum", "names": [m.name for m in annotation], "values": values}
    return dict(ANY)


def type_label(description: Mapping[str, Any]) -> str:
    """A short human name: ``int``, ``list[int]``, ``int | None``, ``enum(A|B)``."""
    kind = description.get("type")
    if kind == "list":
        return f"list[{type_label(description.get('items', ANY))}]"
    if kind == "tuple":
        return "tuple[" + ", ".join(type_label(t) for t in description.get("items", [])) + "]"
    if kind == "map":
        return f"dict[str, {type_label(description.get('values', ANY))}]"
    if kind == "union":
        labels = [type_label(t) for t in description.get("of", [])]
        if description.get("nullable"):
            labels.append("None")
        return " | ".join(labels)
    if kind == "enum":
        return "enum(" + "|".join(str(n) for n in description.get("names", [])) + ")"
    return str(kind)


def _text(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    raise ValueError(f"expected a text value, got {type(raw).__name__} {raw!r}")


def _number(raw: Any) -> bool:
    return isinstance(raw, (int, float)) and not isinstance(raw, bool)


def check_value(raw: Any, description: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` when the client binding would refuse ``raw`` for this type."""
    kind = description.get("type")
    if kind == "union":
        if description.get("nullable") and (
            raw is None or (isinstance(raw, str) and not raw.strip())
        ):
            return
        errors: list[str] = []
        for option in description.get("of", []):
            try:
                check_value(raw, option)
                return
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors) or f"no type accepts {raw!r}")
    if kind in (None, "any") or not isinstance(kind, str):
        return
    if raw is None:
        raise ValueError("null is not allowed here")
    if kind in ("list", "tuple"):
        items = to_list(raw) if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"expected a list, got {type(raw).__name__} {raw!r}")
        if description.get("bare"):
            return
        if kind == "tuple":
            kinds = description.get("items", [])
            if len(kinds) != len(items):
                raise ValueError(f"expected {len(kinds)} items, got {len(items)}: {raw!r}")
            for item, item_kind in zip(items, kinds, strict=True):
                check_value(item, item_kind)
            return
        for index, item in enumerate(items):
            try:
                check_value(item, description.get("items", ANY))
            except ValueError as exc:
                raise ValueError(f"item {index}: {exc}") from None
        return
    if kind == "map":
        if not isinstance(raw, Mapping):
            raise ValueError(f"expected a mapping, got {type(raw).__name__} {raw!r}")
        for value in raw.values():
            check_value(value, description.get("values", ANY))
        return
    _check_scalar(raw, kind, description)


def _check_scalar(raw: Any, kind: str, description: Mapping[str, Any]) -> None:
    if kind == "bool":
        if not isinstance(raw, bool):
            to_bool(_text(raw))
    elif kind == "int":
        if not (isinstance(raw, int) and not isinstance(raw, bool)):
            to_int(_text(raw))
    elif kind == "float":
        to_float(str(raw) if _number(raw) else _text(raw))
    elif kind == "decimal":
        to_decimal(str(raw) if _number(raw) else _text(raw))
    elif kind == "str":
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal)):
            raise ValueError(f"expected a text value, got {type(raw).__name__} {raw!r}")
    elif kind == "bytes":
        _text(raw)
    elif kind == "path":
        if not _text(raw).strip():
            raise ValueError("an empty path")
    elif kind == "duration":
        try:
            if _number(raw):
                timedelta(seconds=raw)
            else:
                to_duration(_text(raw))
        except (OverflowError, ValueError) as exc:
            raise ValueError(f"not a duration: {raw!r} ({exc})") from None
    elif kind == "enum":
        names = description.get("names", [])
        values = description.get("values", [])
        if raw in values or (isinstance(raw, str) and raw.strip() in names):
            return
        raise ValueError(f"not one of {', '.join(str(n) for n in names)}: {raw!r}")
    # an unknown type name (a newer client): nothing to check


@dataclass(frozen=True)
class FieldRejection:
    """A key whose value a schema refuses: ``value`` None when the key is missing."""

    key: str
    value: str | None
    expected: str
    reason: str


def _shown(raw: Any) -> str:
    return raw if isinstance(raw, str) else repr(raw)


def check_document(schema: Mapping[str, Any], document: Mapping[str, Any]) -> list[FieldRejection]:
    """Every field of ``schema`` that ``document`` (a parsed file) would fail, in order."""
    rejections: list[FieldRejection] = []
    fields = schema.get("fields")
    if not isinstance(fields, list):
        return rejections
    for field in fields:
        if not isinstance(field, Mapping) or not isinstance(field.get("key"), str):
            continue
        description = field.get("type")
        if not isinstance(description, Mapping):
            description = ANY
        raw = lookup(document, field["key"])
        if raw is MISSING:
            if field.get("required"):
                rejections.append(
                    FieldRejection(
                        field["key"], None, type_label(description), "missing (required)"
                    )
                )
            continue
        try:
            check_value(raw, description)
        except (ValueError, TypeError, ArithmeticError) as exc:
            rejections.append(
                FieldRejection(field["key"], _shown(raw), type_label(description), str(exc))
            )
    return rejections


def schema_node(prefix: str, coords: Coordinates) -> str:
    """``<prefix>/<app>_<version>_<env>/schema``: the parent of the item-schema nodes."""
    return f"{app_node(prefix, coords)}/{SCHEMA_SEGMENT}"


def item_schemas_data(schemas: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The data of a client's item-schema node: ``{"v": 1, "items": {key: schema}}``."""
    body = {"v": SCHEMA_VERSION, "items": {key: dict(value) for key, value in schemas.items()}}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(
        "utf-8"
    )


def item_schema(data: bytes, key: str) -> Mapping[str, Any] | None:
    """The schema one item-schema node holds for ``key``, or None (not bound, bad data)."""
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    items = body.get("items") if isinstance(body, dict) else None
    schema = items.get(key) if isinstance(items, dict) else None
    return schema if isinstance(schema, dict) else None
