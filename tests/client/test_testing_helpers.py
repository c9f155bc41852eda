from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from disconf_client import BindingError, ChangeEvent, disconf_file, disconf_item, field, on_change
from disconf_client import snapshot as current
from disconf_client.testing import bound, make_snapshot, publish


def test_bound_make_snapshot_and_publish() -> None:
    @disconf_file("pool.yaml")
    class Pool:
        size: int = field(key="pool.size", default=4)
        name: str = "main"

    @disconf_item("rate")
    class Rate:
        value: Decimal = Decimal("0")

    seen: list[ChangeEvent[Any]] = []
    on_change(Pool)(seen.append)
    assert make_snapshot(Pool, {"pool.size": "8"}).size == 8
    assert Pool.size == 4  # untouched
    assert make_snapshot(Pool, content="pool:\n  size: 9\n").size == 9
    with bound(Pool, {"pool.size": "16", "name": "x"}) as snap:
        assert (Pool.size, Pool.name, snap.size, current(Pool).size) == (16, "x", 16, 16)
        event = publish(Pool, {"pool.size": 32})
        assert event is not None and event.changed == {"pool.size"} and seen == [event]
        assert Pool.size == 32
    assert (Pool.size, Pool.name) == (4, "main")
    with bound(Rate, {"rate": "0.5"}):
        assert Rate.value == Decimal("0.5")
    with pytest.raises(BindingError, match="'pool.size' = 'many'"):
        make_snapshot(Pool, {"pool.size": "many"})
    with pytest.raises(KeyError, match="nope"):
        make_snapshot(Pool, {"nope": 1})
