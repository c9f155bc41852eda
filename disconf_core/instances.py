"""What clients write into ZooKeeper, and how the server's self-check reads it.

* Change notification data (server -> config node): an item's new value as UTF-8; a file's whole
  new content as a JSON string literal (the original's format; clients ignore it).
* Instance node data (client -> its EPHEMERAL child): an item's raw value; for a file a JSON
  object of the parsed ``.properties`` map (``{}`` for other formats). Our client adds the
  schema it binds under the reserved key :data:`~disconf_core.schema.SCHEMA_KEY`
  (:mod:`disconf_core.schema`, read by the server's publish guard), and its labels (if it has
  any) under :data:`LABELS_KEY`, so the server can tell whether a gray release's label target
  selects the instance (:func:`instance_labels`).
* The self-check compares an instance's data with the stored value: every key the instance
  reports must equal the stored one (numbers numerically, strings trimmed); the reserved keys
  are not config keys and are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .exceptions import PropertiesError
from .properties import parse_properties
from .schema import SCHEMA_KEY

__all__ = [
    "LABELS_KEY",
    "InstanceCheck",
    "check_file_instance",
    "check_item_instance",
    "file_instance_data",
    "file_notification_data",
    "instance_labels",
    "instance_schema",
    "is_properties_file",
    "item_instance_data",
    "item_notification_data",
]


def is_properties_file(name: str) -> bool:
    """Files whose keys the self-check compares: ``*.properties``."""
    return name.lower().endswith(".properties")


def file_notification_data(content: str) -> bytes:
    """The data the server ``setData``s on a file's node: the content as a JSON string."""
    return json.dumps(content, ensure_ascii=False).encode("utf-8")


def item_notification_data(value: str) -> bytes:
    """The data the server ``setData``s on an item's node: the raw value."""
    return value.encode("utf-8")


#: The reserved key of our client's labels in a file instance node (``{"zone": "a"}``).
LABELS_KEY = "__disconf_labels__"
_RESERVED = (SCHEMA_KEY, LABELS_KEY)


def file_instance_data(
    name: str,
    content: str,
    schema: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """What a client writes into its instance node for a file (``schema``: what it binds;
    ``labels``: the client's labels, written only when there are some)."""
    values: dict[str, Any] = {}
    if is_properties_file(name):
        try:
            values = dict(parse_properties(content))
        except PropertiesError:
            values = {}
    for key in _RESERVED:
        values.pop(key, None)
    if schema is not None:
        values[SCHEMA_KEY] = dict(schema)
    if labels:
        values[LABELS_KEY] = dict(labels)
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def instance_labels(data: bytes) -> dict[str, str] | None:
    """The labels of the instance that wrote this file instance node: its :data:`LABELS_KEY`;
    ``{}`` when the node carries our client's schema but no labels (our client writes them
    whenever it has any); None when the node cannot tell (other clients, hosted files without a
    schema, bad data)."""
    try:
        reported = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(reported, dict):
        return None
    labels = reported.get(LABELS_KEY)
    if isinstance(labels, dict):
        return {str(k): str(v) for k, v in labels.items()}
    return {} if isinstance(reported.get(SCHEMA_KEY), dict) else None


def instance_schema(data: bytes) -> Mapping[str, Any] | None:
    """The schema an instance node carries (our client), or None (other clients, bad data)."""
    try:
        reported = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    schema = reported.get(SCHEMA_KEY) if isinstance(reported, dict) else None
    return schema if isinstance(schema, dict) else None


def item_instance_data(value: str) -> bytes:
    """What a client writes into its instance node for an item."""
    return value.encode("utf-8")


@dataclass(frozen=True)
class InstanceCheck:
    """One instance's self-check result."""

    name: str
    value: str
    mismatched: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.mismatched and self.error is None


def _same(stored: str | None, reported: object) -> bool:
    if stored is None:
        return False
    if isinstance(reported, bool):
        return stored.strip().lower() == str(reported).lower()
    if isinstance(reported, (int, float)):
        try:
            return Decimal(stored.strip()) == Decimal(str(reported))
        except InvalidOperation:
            return False
    if reported is None:
        return stored.strip() == ""
    if isinstance(reported, str):
        if stored.strip() == reported.strip():
            return True
        try:  # "8080" vs "8080.0": compare numerically when both are numbers
            return Decimal(stored.strip()) == Decimal(reported.strip())
        except InvalidOperation:
            return False
    return stored.strip() == json.dumps(reported, ensure_ascii=False)


def check_file_instance(
    instance: str, file_name: str, stored_content: str, data: bytes
) -> InstanceCheck:
    """Compare a file instance's reported map with the stored file."""
    text = data.decode("utf-8", errors="replace")
    try:
        reported = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return InstanceCheck(instance, text, error="instance data is not JSON")
    if not isinstance(reported, dict):
        return InstanceCheck(instance, text, error="instance data is not a JSON object")
    stored: dict[str, str] = {}
    if is_properties_file(file_name):
        try:
            stored = parse_properties(stored_content)
        except PropertiesError:
            stored = {}
    if any(key in reported for key in _RESERVED):  # shown without them: the values it holds
        reported = {key: value for key, value in reported.items() if key not in _RESERVED}
        text = json.dumps(reported, ensure_ascii=False, separators=(",", ":"))
    mismatched = [key for key, value in reported.items() if not _same(stored.get(key), value)]
    return InstanceCheck(instance, text, mismatched)


def check_item_instance(instance: str, stored_value: str, data: bytes) -> InstanceCheck:
    """Compare an item instance's reported value with the stored value (trimmed)."""
    text = data.decode("utf-8", errors="replace")
    mismatched = [] if text.strip() == stored_value.strip() else ["value"]
    return InstanceCheck(instance, text, mismatched)
