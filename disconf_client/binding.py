"""Binding: turn one revision of a config into typed values and swap them in atomically.

* :func:`parse_document` reads the bytes by format (``.properties``, YAML, JSON, INI, TOML;
  hosted files are kept as bytes; an item is its value string).
* :func:`build_values` converts every field first and raises one
  :class:`~disconf_client.errors.BindingError` listing **every** bad or missing key; nothing is
  changed in that case.
* :class:`Binding` holds the current revision of one decorated class: a frozen snapshot object
  (an instance of a read-only subclass of the user's class, so ``snapshot(RedisConfig).port`` is
  typed as ``int``) swapped in with one reference assignment, and the live class attributes.

Keys: a field's key is looked up as-is first (``.properties`` keys contain dots), then as a
dotted path through nested mappings (``redis.pool.size`` in YAML/JSON/TOML, ``section.key``
in INI).
"""

from __future__ import annotations

import enum
import sys
import threading
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, TypeVar

from disconf_core import (
    ConfigType,
    to_bool,
    to_decimal,
    to_duration,
    to_float,
    to_int,
    to_list,
)
from disconf_core.formats import FormatSyntaxError, lookup, parse_mapping

from .decorators import MISSING, ConfigSpec, FieldSpec, config_spec
from .errors import BindingError, FieldProblem

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - Python 3.10
    pass  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "Binding",
    "ChangeEvent",
    "bind_mapping",
    "binding_for",
    "build_values",
    "convert_value",
    "parse_document",
    "snapshot",
]

T = TypeVar("T")
DOCUMENT_KEY = "<document>"


@dataclass(frozen=True)
class ChangeEvent(Generic[T]):
    """What a change callback receives: old and new snapshots and the changed config keys."""

    config: type[T]
    kind: ConfigType
    name: str
    old: T
    new: T
    changed: frozenset[str]
    source: str


def parse_document(spec: ConfigSpec, content: bytes) -> Mapping[str, Any]:
    """Parse one revision's bytes into a mapping; a malformed document is a BindingError."""
    if spec.hosted:
        return {"content": content}
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = FieldProblem(DOCUMENT_KEY, None, f"not UTF-8: {exc}")
        raise BindingError(spec.name, [problem]) from exc
    if spec.kind is ConfigType.ITEM:
        return {spec.name: text}
    # The same parser the server's publish guard uses (disconf_core.formats), so what the
    # guard lets through is exactly what a client can parse.
    try:
        document = parse_mapping(spec.name, text, spec.format)
    except FormatSyntaxError as exc:
        problem = FieldProblem(DOCUMENT_KEY, None, f"cannot parse as {spec.format}: {exc}")
        raise BindingError(spec.name, [problem]) from exc
    if document is None:  # pragma: no cover - the decorator only accepts known formats
        raise ValueError(f"unknown format {spec.format!r}")
    return document


def _scalar_text(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    raise ValueError(f"expected a text value, got {type(raw).__name__} {raw!r}")


def convert_value(raw: Any, annotation: Any) -> Any:
    """Convert ``raw`` (a string or a YAML/JSON/TOML value) to ``annotation``, or ValueError."""
    if annotation is Any or annotation is object:
        return raw
    if annotation is str and type(raw) is str:
        return raw  # the commonest case, decided before the typing introspection below
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        options = [arg for arg in args if arg is not type(None)]
        if len(options) < len(args) and (raw is None or (isinstance(raw, str) and not raw.strip())):
            return None
        errors: list[str] = []
        for option in options:
            try:
                return convert_value(raw, option)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if raw is None:
        raise ValueError("null is not allowed here (annotate with Optional[...] to allow it)")
    if annotation in (Decimal, Path, timedelta, bytes) and isinstance(raw, annotation):
        return raw  # already typed (testing helpers, YAML timestamps...)
    if origin in (list, tuple, set, frozenset):
        items = to_list(raw) if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"expected a list, got {type(raw).__name__} {raw!r}")
        item_type = args[0] if args else Any
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(items):
                raise ValueError(f"expected {len(args)} items, got {len(items)}: {raw!r}")
            return tuple(convert_value(item, arg) for item, arg in zip(items, args, strict=True))
        converted = []
        for index, item in enumerate(items):
            try:
                converted.append(convert_value(item, item_type))
            except ValueError as exc:
                raise ValueError(f"item {index}: {exc}") from None
        return origin(converted)
    if origin is dict or annotation is dict:
        if not isinstance(raw, Mapping):
            raise ValueError(f"expected a mapping, got {type(raw).__name__} {raw!r}")
        value_type = args[1] if len(args) == 2 else Any
        return {str(key): convert_value(value, value_type) for key, value in raw.items()}
    if annotation is list:
        if not isinstance(raw, (list, str)):
            raise ValueError(f"expected a list, got {type(raw).__name__} {raw!r}")
        return to_list(raw) if isinstance(raw, str) else list(raw)
    if annotation is bool:
        return raw if isinstance(raw, bool) else to_bool(_scalar_text(raw))
    if annotation is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        return to_int(_scalar_text(raw))
    if annotation is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return to_float(str(raw))
        return to_float(_scalar_text(raw))
    if annotation is Decimal:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return to_decimal(str(raw))
        return to_decimal(_scalar_text(raw))
    if annotation is str:
        if isinstance(raw, (str, int, float, Decimal)) and not isinstance(raw, bool):
            return raw if isinstance(raw, str) else str(raw)
        raise ValueError(f"expected a text value, got {type(raw).__name__} {raw!r}")
    if annotation is bytes:
        return raw if isinstance(raw, bytes) else _scalar_text(raw).encode("utf-8")
    if annotation is Path:
        text = _scalar_text(raw).strip()
        if not text:
            raise ValueError("an empty path")
        return Path(text).expanduser()
    if annotation is timedelta:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return timedelta(seconds=raw)
        return to_duration(_scalar_text(raw))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        for member in annotation:
            if raw == member.value or (isinstance(raw, str) and raw.strip() == member.name):
                return member
        names = ", ".join(member.name for member in annotation)
        raise ValueError(f"not one of {names}: {raw!r}")
    if isinstance(annotation, type) and isinstance(raw, annotation):
        return raw
    raise ValueError(f"no converter for type {annotation!r}; use field(converter=...)")


def _convert_field(spec: FieldSpec, raw: Any) -> Any:
    if spec.converter is not None:
        return spec.converter(raw)
    return convert_value(raw, spec.annotation)


def build_values(spec: ConfigSpec, content: bytes | None) -> dict[str, Any]:
    """Convert a revision (``None``: no content, defaults only) into ``{attribute: value}``.

    Raises :class:`BindingError` listing every problem; nothing is changed anywhere.
    """
    document = parse_document(spec, content) if content is not None else {}
    return bind_mapping(spec, document)


def bind_mapping(spec: ConfigSpec, document: Mapping[str, Any]) -> dict[str, Any]:
    """Convert an already-parsed document (see :func:`build_values`)."""
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for field_spec in spec.fields:
        raw = lookup(document, field_spec.key)
        if raw is MISSING:
            if field_spec.required:
                problems.append(FieldProblem(field_spec.key, None, "missing (required)"))
            else:
                values[field_spec.name] = field_spec.default
            continue
        try:
            values[field_spec.name] = _convert_field(field_spec, raw)
        except (ValueError, TypeError, ArithmeticError) as exc:
            problems.append(FieldProblem(field_spec.key, raw, str(exc)))
    if problems:
        raise BindingError(spec.name, problems)
    return values


def _refuse(self: object, name: str, value: Any = None) -> None:
    raise AttributeError(f"{type(self).__name__} is a frozen snapshot; {name!r} cannot change")


class Binding(Generic[T]):
    """The current revision of one decorated class (one per class, see :func:`binding_for`)."""

    def __init__(self, cls: type[T]) -> None:
        self.cls = cls
        self.spec = config_spec(cls)
        self.md5: str | None = None
        self.source: str | None = None
        self.revision = 0
        self.owner: object | None = None
        self._lock = threading.Lock()
        namespace: dict[str, Any] = {
            "__setattr__": _refuse,
            "__delattr__": _refuse,
            "__repr__": _snapshot_repr,
            "__eq__": _snapshot_eq,
            "__hash__": None,
            "__module__": cls.__module__,
            "__qualname__": f"{cls.__qualname__}.Snapshot",
        }
        self._frozen: type[T] = type(f"{cls.__name__}Snapshot", (cls,), namespace)
        initial = {spec.name: getattr(cls, spec.name, None) for spec in self.spec.fields}
        self._snapshot: T = self.make_snapshot(initial)

    def make_snapshot(self, values: Mapping[str, Any]) -> T:
        instance: T = object.__new__(self._frozen)
        for name, value in values.items():
            object.__setattr__(instance, name, value)
        return instance

    @property
    def current(self) -> T:
        return self._snapshot

    def values(self) -> dict[str, Any]:
        return {spec.name: getattr(self._snapshot, spec.name) for spec in self.spec.fields}

    def apply(
        self, values: Mapping[str, Any], *, md5: str | None, source: str
    ) -> ChangeEvent[T] | None:
        """Swap in converted ``values``; returns the event, or None when no value changed."""
        with self._lock:
            old = self._snapshot
            new = self.make_snapshot(values)
            changed = frozenset(
                spec.key
                for spec in self.spec.fields
                if getattr(old, spec.name, MISSING) != values.get(spec.name, MISSING)
            )
            self.md5 = md5
            self.source = source
            if not changed and self.revision:
                return None
            self._snapshot = new  # one reference swap: readers see all old or all new
            self.revision += 1
            for name, value in values.items():
                setattr(self.cls, name, value)
        return ChangeEvent(self.cls, self.spec.kind, self.spec.name, old, new, changed, source)


def _snapshot_repr(self: object) -> str:
    spec = config_spec(type(self).__mro__[1])
    fields = ", ".join(f"{f.name}={getattr(self, f.name, None)!r}" for f in spec.fields)
    return f"{type(self).__qualname__}({fields})"


def _snapshot_eq(self: object, other: object) -> Any:
    if type(self) is not type(other):
        return NotImplemented
    same: bool = vars(self) == vars(other)
    return same


_BINDINGS: dict[type, Binding[Any]] = {}
_REGISTRY_LOCK = threading.Lock()


def binding_for(cls: type[T]) -> Binding[T]:
    """The one :class:`Binding` of a decorated class (created on first use)."""
    with _REGISTRY_LOCK:
        binding = _BINDINGS.get(cls)
        if binding is None:
            binding = Binding(cls)
            _BINDINGS[cls] = binding
        return binding


def snapshot(cls: type[T]) -> T:
    """A frozen object whose fields all come from the same revision of ``cls``'s config."""
    return binding_for(cls).current
