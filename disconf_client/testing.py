"""Helpers for users' tests: bind decorated classes from a plain dict, no server, no ZooKeeper.

::

    from disconf_client.testing import bound, make_snapshot, publish

    def test_pool_size():
        with bound(RedisConfig, {"host": "h", "redis.port": "1"}):
            assert RedisConfig.port == 1          # class attributes, as in production
        assert make_snapshot(RedisConfig, {"redis.port": "2"}).port == 2   # class untouched

    def test_callback():
        with bound(RedisConfig, {"redis.port": "1"}):
            event = publish(RedisConfig, {"redis.port": "2"})   # fires @on_change callbacks
            assert event.changed == {"redis.port"}

Values are given by config key (as they would appear in the file) and may be strings (converted
exactly as a published revision is) or already-typed values. ``content=`` takes a whole
document instead (e.g. the text of a YAML file). Bad values raise
:class:`~disconf_client.errors.BindingError` listing every problem.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from disconf_core import ConfigType

from .binding import ChangeEvent, bind_mapping, binding_for, build_values
from .decorators import ConfigSpec, config_spec, listeners_of

__all__ = ["bound", "make_snapshot", "publish"]

T = TypeVar("T")


def _values(
    spec: ConfigSpec, values: Mapping[str, Any] | None, content: str | bytes | None
) -> dict[str, Any]:
    if content is not None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        return build_values(spec, data)
    values = dict(values or {})
    if spec.hosted:
        raw = values.get("content", b"")
        return build_values(spec, raw.encode("utf-8") if isinstance(raw, str) else raw)
    known = {f.key for f in spec.fields} | {f.name for f in spec.fields}
    unknown = sorted(set(values) - known)
    if unknown:
        raise KeyError(f"{spec.owner}: no field has the key(s) {unknown}")
    if spec.kind is ConfigType.ITEM and len(values) == 1:
        values = {spec.name: next(iter(values.values()))}
    document = {f.key: values[f.key] for f in spec.fields if f.key in values}
    document.update({f.key: values[f.name] for f in spec.fields if f.name in values})
    return bind_mapping(spec, document)


def make_snapshot(
    cls: type[T], values: Mapping[str, Any] | None = None, *, content: str | bytes | None = None
) -> T:
    """A frozen snapshot of ``cls`` built from ``values`` (or ``content``); ``cls`` is untouched."""
    binding = binding_for(cls)
    return binding.make_snapshot(_values(binding.spec, values, content))


@contextmanager
def bound(
    cls: type[T], values: Mapping[str, Any] | None = None, *, content: str | bytes | None = None
) -> Iterator[T]:
    """Bind ``cls`` to ``values`` for the ``with`` block (class attributes and ``snapshot()``);
    the previous values come back afterwards. Yields the snapshot. Callbacks are not called."""
    binding = binding_for(cls)
    new_values = _values(binding.spec, values, content)
    previous = binding.values()
    previous_state = (binding.md5, binding.source, binding.revision)
    binding.apply(new_values, md5=None, source="testing")
    try:
        yield binding.current
    finally:
        binding.apply(previous, md5=None, source="testing")
        binding.md5, binding.source, binding.revision = previous_state


def publish(
    cls: type[T], values: Mapping[str, Any] | None = None, *, content: str | bytes | None = None
) -> ChangeEvent[T] | None:
    """Apply a new revision as the client would and call ``cls``'s ``@on_change`` callbacks
    (exceptions propagate, to fail the test). Keys not given keep their current values.
    Returns the event, None if nothing changed."""
    binding = binding_for(cls)
    config_spec(cls)
    if content is None and not binding.spec.hosted:
        spec = binding.spec
        current = binding.values()
        merged: dict[str, Any] = {f.key: current[f.name] for f in spec.fields}
        for name, value in (values or {}).items():
            matches = [f.key for f in spec.fields if name in (f.key, f.name)]
            merged[matches[0] if matches else name] = value
        values = merged
    new_values = _values(binding.spec, values, content)
    event = binding.apply(new_values, md5=None, source="testing")
    if event is not None:
        for callback in listeners_of(cls):
            callback(event)
    return event
