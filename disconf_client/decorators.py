"""Decorators that attach metadata to user classes; nothing here does I/O or binds values.

::

    @disconf_file("redis.properties")
    class RedisConfig:
        host: str = "localhost"
        port: int = field(key="redis.port", default=6379)

    @disconf_item("discountRate")
    class Discount:
        rate: Decimal = Decimal("0")

    @on_change(RedisConfig)
    def reconnect(event: ChangeEvent[RedisConfig]) -> None: ...

Both forms work: ``@disconf_file("a.yaml")``, ``@disconf_file(filename="a.yaml")`` and
``disconf_file(SomeClass, filename="a.yaml")``. Decorating a class twice raises ``TypeError``.
The metadata (:class:`ConfigSpec`) is read by :mod:`disconf_client.binding` and the client.

The format follows the extension (``.properties``, ``.yaml``/``.yml``, ``.json``, ``.ini``,
``.toml``); any other file is *hosted*: its bytes are kept up to date (class attribute
``content``) and, with ``target=``, written to that path.
"""

from __future__ import annotations

import threading
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from disconf_core import ConfigType, validate_config_name
from disconf_core.formats import MISSING as _FORMATS_MISSING

__all__ = [
    "MISSING",
    "ConfigSpec",
    "FieldSpec",
    "config_spec",
    "decorated_classes",
    "disconf_file",
    "disconf_item",
    "field",
    "listeners_of",
    "on_change",
]

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

SPEC_ATTR = "__disconf_spec__"
LISTENERS_ATTR = "__disconf_listeners__"
FORMATS = {
    ".properties": "properties",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".ini": "ini",
    ".toml": "toml",
}
KNOWN_FORMATS = frozenset(FORMATS.values()) | {"hosted"}

# Every class decorated in this process, in order (weakly: a class that is gone is dropped).
_DECORATED: list[weakref.ref[type]] = []
_DECORATED_LOCK = threading.Lock()


MISSING: Any = _FORMATS_MISSING
"""The default of a required field (the same object binding's key lookup returns for a key the
document lacks, from :mod:`disconf_core.formats`)."""


@dataclass(frozen=True)
class _FieldInfo:
    key: str | None
    default: Any
    converter: Callable[[Any], Any] | None


def field(
    *,
    key: str | None = None,
    default: Any = MISSING,
    converter: Callable[[Any], Any] | None = None,
) -> Any:
    """Describe a field: another config ``key`` than the attribute name, a ``default`` (without
    one the field is required) and/or a ``converter`` (raw value -> typed value, raising
    ``ValueError`` on bad input) used instead of the annotation's converter."""
    if key is not None and not key:
        raise ValueError("field(key=...) must not be empty")
    return _FieldInfo(key, default, converter)


@dataclass(frozen=True)
class FieldSpec:
    """One bound field: attribute ``name``, config ``key``, type, default, converter."""

    name: str
    key: str
    annotation: Any
    default: Any = MISSING
    converter: Callable[[Any], Any] | None = None

    @property
    def required(self) -> bool:
        return self.default is MISSING


@dataclass(frozen=True)
class ConfigSpec:
    """What a decorated class is bound to."""

    kind: ConfigType
    name: str
    format: str
    fields: tuple[FieldSpec, ...]
    target: Path | None = None
    owner: str = ""

    @property
    def hosted(self) -> bool:
        return self.format == "hosted"

    @property
    def label(self) -> str:
        return f"{self.kind.segment} {self.name!r}"


def _collect_fields(cls: type, *, item_key: str | None = None) -> tuple[FieldSpec, ...]:
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # NameError and friends: an annotation we cannot resolve
        raise TypeError(f"cannot resolve the annotations of {cls.__qualname__}: {exc}") from exc
    specs: list[FieldSpec] = []
    for name, annotation in hints.items():
        if name.startswith("_") or typing.get_origin(annotation) is ClassVar:
            continue
        raw_default = getattr(cls, name, MISSING)
        if isinstance(raw_default, _FieldInfo):
            info = raw_default
        else:
            info = _FieldInfo(None, raw_default, None)
        key = item_key if item_key is not None else (info.key or name)
        specs.append(FieldSpec(name, key, annotation, info.default, info.converter))
    return tuple(specs)


def _attach(cls: type, spec: ConfigSpec) -> None:
    if SPEC_ATTR in cls.__dict__:
        existing: ConfigSpec = cls.__dict__[SPEC_ATTR]
        raise TypeError(
            f"{cls.__qualname__} is already bound to disconf {existing.label}; "
            f"cannot bind it to {spec.label} as well"
        )
    setattr(cls, SPEC_ATTR, spec)
    setattr(cls, LISTENERS_ATTR, [])
    with _DECORATED_LOCK:
        _DECORATED[:] = [ref for ref in _DECORATED if ref() is not None]
        _DECORATED.append(weakref.ref(cls))
    # A field declared with field(...) keeps its default as the class attribute value.
    for spec_field in spec.fields:
        value = cls.__dict__.get(spec_field.name, MISSING)
        if isinstance(value, _FieldInfo):
            setattr(cls, spec_field.name, None if spec_field.required else spec_field.default)
        elif value is MISSING and spec_field.required:
            setattr(cls, spec_field.name, None)


# decorator name, keyword of the name, what the name is, examples (usage messages)
_USAGE = {
    "file": ("disconf_file", "filename", "file name", "a.yaml", "redis.properties"),
    "item": ("disconf_item", "key", "item key", "rate", "discountRate"),
}


def _config_name(kind: str, maybe_cls: Any, name: str | None) -> tuple[str, Any]:
    """The checked config name, given once (positionally or by keyword), and the class when the
    decorator is used without parentheses (else None)."""
    decorator, keyword, what, short, example = _USAGE[kind]
    if isinstance(maybe_cls, str):
        if name is not None:
            raise TypeError(f"give the {what} once: {decorator}({short!r}) or {keyword}={short!r}")
        name, maybe_cls = maybe_cls, None
    if name is None:
        article = "an" if what[0] in "aeiou" else "a"
        raise TypeError(f"{decorator} needs {article} {what}: @{decorator}({example!r})")
    validate_config_name(name, kind)
    return name, maybe_cls


def _decorate(kind: str, name: str, maybe_cls: Any, spec_of: Callable[[type], ConfigSpec]) -> Any:
    """Attach ``spec_of(cls)`` to the decorated class (with or without parentheses)."""

    def wrap(cls: C) -> C:
        if not isinstance(cls, type):
            raise TypeError(f"@{_USAGE[kind][0]}({name!r}) decorates a class, not {cls!r}")
        _attach(cls, spec_of(cls))
        return cls

    return wrap if maybe_cls is None else wrap(maybe_cls)


def disconf_file(
    maybe_cls: C | str | None = None,
    /,
    *,
    filename: str | None = None,
    format: str | None = None,
    target: str | Path | None = None,
) -> Any:
    """Bind a class to a config file (see the module docstring)."""
    name, maybe_cls = _config_name("file", maybe_cls, filename)
    if format is None:
        fmt = FORMATS.get(Path(name).suffix.lower(), "hosted")
    elif format.lower() in KNOWN_FORMATS:
        fmt = format.lower()
    else:
        raise ValueError(f"unknown format {format!r} (choose {', '.join(sorted(KNOWN_FORMATS))})")

    def spec_of(cls: type) -> ConfigSpec:
        if fmt == "hosted":
            extra = [spec.name for spec in _collect_fields(cls) if spec.name != "content"]
            if extra:
                raise TypeError(
                    f"{cls.__qualname__}: hosted file {name!r} has no keys to bind "
                    f"(unexpected fields {extra}); its bytes are in 'content'"
                )
            fields: tuple[FieldSpec, ...] = (FieldSpec("content", "content", bytes, b""),)
        else:
            fields = _collect_fields(cls)
        return ConfigSpec(
            ConfigType.FILE,
            name,
            fmt,
            fields,
            Path(target) if target is not None else None,
            cls.__qualname__,
        )

    return _decorate("file", name, maybe_cls, spec_of)


def disconf_item(maybe_cls: C | str | None = None, /, *, key: str | None = None) -> Any:
    """Bind a class with exactly one annotated field to the config item ``key``."""
    item_key, maybe_cls = _config_name("item", maybe_cls, key)

    def spec_of(cls: type) -> ConfigSpec:
        fields = _collect_fields(cls, item_key=item_key)
        if len(fields) != 1:
            raise TypeError(
                f"{cls.__qualname__}: @disconf_item({item_key!r}) needs exactly one annotated "
                f"field for the value, found {[spec.name for spec in fields]}"
            )
        return ConfigSpec(ConfigType.ITEM, item_key, "item", fields, None, cls.__qualname__)

    return _decorate("item", item_key, maybe_cls, spec_of)


def decorated_classes() -> list[type]:
    """Every class decorated with ``@disconf_file``/``@disconf_item`` so far that still exists,
    in decoration order (what ``DisconfClient()`` binds when given no class and no ``scan``)."""
    with _DECORATED_LOCK:
        classes = [ref() for ref in _DECORATED]
    return [cls for cls in classes if cls is not None]


def config_spec(cls: type) -> ConfigSpec:
    """The metadata of a decorated class; ``TypeError`` naming the class if it has none."""
    spec = cls.__dict__.get(SPEC_ATTR) if isinstance(cls, type) else None
    if not isinstance(spec, ConfigSpec):
        raise TypeError(f"{cls!r} is not decorated with @disconf_file or @disconf_item")
    return spec


def listeners_of(cls: type) -> list[Callable[[Any], Any]]:
    """The ``@on_change`` callbacks registered for a decorated class (in order)."""
    config_spec(cls)
    listeners: list[Callable[[Any], Any]] = cls.__dict__[LISTENERS_ATTR]
    return listeners


def on_change(*targets: type) -> Callable[[F], F]:
    """Register the decorated function as a change callback of each target class.

    It is called after the new values are in place with one
    :class:`~disconf_client.binding.ChangeEvent` (``old``/``new`` snapshots, ``changed`` keys).
    For one hook on every change use ``DisconfClient(on_change=...)``.
    """
    if not targets:
        raise TypeError("@on_change needs at least one decorated class: @on_change(RedisConfig)")
    for target in targets:
        config_spec(target)

    def wrap(function: F) -> F:
        for target in targets:
            if function in listeners_of(target):
                raise TypeError(
                    f"{function!r} is already registered with @on_change({target.__qualname__})"
                )
        for target in targets:
            listeners_of(target).append(function)
        return function

    return wrap
