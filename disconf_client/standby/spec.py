"""``@active_standby``: the metadata a master/standby role holder carries (nothing else).

The decorator only attaches a :class:`StandbySpec` (election name, per-role config classes) to
the class; :meth:`~disconf_client.standby.election.ActiveStandby.for_object` is what consumes
it. Bare and called forms both work, and decorating a class twice raises ``TypeError``. No I/O
happens here.

Error Handling
--------------
Nothing here touches ZooKeeper, so SUSPENDED, LOST and restarts do not concern it; a bad
election name raises ``InvalidNameError`` and a second decoration ``TypeError``, at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from disconf_core import validate_segment

__all__ = ["StandbySpec", "active_standby"]

C = TypeVar("C", bound=type)


@dataclass(frozen=True)
class StandbySpec:
    """What ``@active_standby`` attaches to a class: the election name and per-role configs."""

    name: str
    master_configs: tuple[type, ...] = ()
    standby_configs: tuple[type, ...] = ()


@overload
def active_standby(name_or_cls: C, /) -> C: ...
@overload
def active_standby(
    name_or_cls: str | None = None,
    /,
    *,
    master_configs: Iterable[type] = (),
    standby_configs: Iterable[type] = (),
) -> Callable[[C], C]: ...
def active_standby(
    name_or_cls: Any = None,
    /,
    *,
    master_configs: Iterable[type] = (),
    standby_configs: Iterable[type] = (),
) -> Any:
    """Mark a class as a master/standby role holder (metadata only).

    ``@active_standby("billing-job")`` or bare ``@active_standby`` (the class name is the
    election name). The class may define ``on_become_master(self, token)``,
    ``on_become_standby(self)`` and ``on_lose_master(self)``; :meth:`ActiveStandby.for_object`
    wires an instance to an election. ``master_configs`` / ``standby_configs`` are
    ``@disconf_file``/``@disconf_item`` classes bound per role (see
    :class:`~disconf_client.standby.roles.RoleConfigs`). Decorating a class twice raises
    ``TypeError``.
    """

    def wrap(cls: C, name: str) -> C:
        if "__disconf_standby__" in cls.__dict__:
            raise TypeError(f"{cls.__qualname__} is already bound to a master/standby election")
        validate_segment(name, "election")
        spec = StandbySpec(name, tuple(master_configs), tuple(standby_configs))
        cls.__disconf_standby__ = spec  # type: ignore[attr-defined]
        return cls

    if isinstance(name_or_cls, type):
        return wrap(name_or_cls, name_or_cls.__name__)
    if name_or_cls is not None and not isinstance(name_or_cls, str):
        raise TypeError(f"active_standby() takes an election name, not {name_or_cls!r}")
    election_name = name_or_cls

    def called(cls: C) -> C:
        return wrap(cls, election_name if election_name is not None else cls.__name__)

    return called
