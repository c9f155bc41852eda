from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from disconf_client import (
    BindingError,
    ChangeEvent,
    disconf_file,
    disconf_item,
    field,
    on_change,
    snapshot,
)
from disconf_client.binding import binding_for, build_values, convert_value
from disconf_client.decorators import config_spec


def test_decorator_forms_and_metadata() -> None:
    @disconf_file("redis.properties")
    class A:
        host: str = "localhost"
        port: int = field(key="redis.port", default=6379)

    @disconf_file(filename="b.yaml")
    class B:
        x: int

    class C:
        y: str = ""

    disconf_file(C, filename="c.json")
    spec = config_spec(A)
    assert spec.format == "properties" and spec.name == "redis.properties"
    assert [(f.name, f.key, f.default) for f in spec.fields] == [
        ("host", "host", "localhost"),
        ("port", "redis.port", 6379),
    ]
    assert A.port == 6379  # the class attribute is the default, not the field() marker
    assert config_spec(B).fields[0].required
    assert config_spec(C).format == "json"


def test_decorating_twice_fails_loudly() -> None:
    @disconf_file("one.properties")
    class A:
        x: str = ""

    with pytest.raises(TypeError, match="already bound to disconf file 'one.properties'"):
        disconf_file(A, filename="two.properties")

    def callback(event: Any) -> None:
        pass

    on_change(A)(callback)
    with pytest.raises(TypeError, match="already registered"):
        on_change(A)(callback)


def test_decorator_errors() -> None:
    with pytest.raises(ValueError, match="'a/b'"):
        disconf_file("a/b")
    with pytest.raises(TypeError, match="exactly one"):

        @disconf_item("rate")
        class Two:
            a: int = 0
            b: int = 0

    with pytest.raises(TypeError, match="not decorated"):
        on_change(int)


def test_properties_all_types() -> None:
    @disconf_file("all.properties")
    class All:
        s: str
        i: int
        f: float
        b: bool
        d: Decimal
        names: list[str]
        ports: list[int]
        p: Path
        t: timedelta
        opt: int | None = None
        dotted: int = field(key="a.b.c", default=0)
        upper: str = field(key="u", converter=str.upper, default="")

    text = (
        "s = hello world\ni= 8080\nf=0.5\nb=yes\nd=0.10\nnames=a, b,,c\nports=1,2\n"
        "p=/etc/x\nt=1h30m\nopt=\na.b.c=7\nu=abc\n"
    )
    values = build_values(config_spec(All), text.encode())
    assert values == {
        "s": "hello world",
        "i": 8080,
        "f": 0.5,
        "b": True,
        "d": Decimal("0.10"),
        "names": ["a", "b", "c"],
        "ports": [1, 2],
        "p": Path("/etc/x"),
        "t": timedelta(hours=1, minutes=30),
        "opt": None,
        "dotted": 7,
        "upper": "ABC",
    }


def test_every_problem_is_reported_at_once() -> None:
    @disconf_file("bad.properties")
    class Bad:
        port: int
        rate: float
        on: bool
        needed: str

    with pytest.raises(BindingError) as info:
        build_values(config_spec(Bad), b"port=80a\nrate=fast\non=maybe\n")
    problems = {p.key: p for p in info.value.problems}
    assert set(problems) == {"port", "rate", "on", "needed"}
    assert problems["port"].value == "80a"
    assert "'80a'" in str(info.value) and "'needed': missing" in str(info.value)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("c.yaml", "db:\n  host: h\n  port: 5432\nflags: [a, b]\nextra: {k: 1}\n"),
        ("c.json", '{"db": {"host": "h", "port": 5432}, "flags": ["a","b"], "extra": {"k": 1}}'),
        ("c.toml", 'flags = ["a", "b"]\nextra = {k = 1}\n[db]\nhost = "h"\nport = 5432\n'),
    ],
)
def test_nested_formats(name: str, content: str) -> None:
    @disconf_file(name)
    class Nested:
        host: str = field(key="db.host")
        port: int = field(key="db.port")
        flags: list[str] = field(default=[])
        extra: dict[str, Any] = field(default={})

    values = build_values(config_spec(Nested), content.encode())
    assert values == {"host": "h", "port": 5432, "flags": ["a", "b"], "extra": {"k": 1}}


def test_ini_format() -> None:
    @disconf_file("c.ini")
    class Ini:
        name: str = ""
        port: int = field(key="server.port")
        debug: bool = field(key="server.Debug")

    content = b"[DEFAULT]\nname = n\n[server]\nport = 81\nDebug = on\n"
    assert build_values(config_spec(Ini), content) == {"name": "n", "port": 81, "debug": True}


def test_malformed_document_is_a_binding_error() -> None:
    @disconf_file("c.json")
    class J:
        x: int = 0

    with pytest.raises(BindingError, match="cannot parse as json"):
        build_values(config_spec(J), b"{nope")
    with pytest.raises(BindingError, match="top level must be a mapping"):
        build_values(config_spec(J), b"[1, 2]")
    with pytest.raises(BindingError, match="not UTF-8"):
        build_values(config_spec(J), b"\xff\xfe")


def test_yaml_scalars_are_strict() -> None:
    assert convert_value(5, int) == 5
    with pytest.raises(ValueError):
        convert_value(True, int)
    with pytest.raises(ValueError):
        convert_value([1], str)
    assert convert_value(30, timedelta) == timedelta(seconds=30)
    assert convert_value("5m", timedelta) == timedelta(minutes=5)
    assert convert_value(0.1, Decimal) == Decimal("0.1")


def test_snapshot_is_frozen_typed_and_atomic() -> None:
    @disconf_file("snap.properties")
    class Snap:
        a: int = 0
        b: int = 0

    binding = binding_for(Snap)
    first = snapshot(Snap)
    assert (first.a, first.b) == (0, 0)
    event = binding.apply({"a": 1, "b": 1}, md5="x", source="test")
    assert event is not None and event.changed == {"a", "b"}
    assert (Snap.a, Snap.b) == (1, 1)
    assert (first.a, first.b) == (0, 0)  # an old snapshot never changes
    assert isinstance(snapshot(Snap), Snap)
    with pytest.raises(AttributeError, match="frozen"):
        snapshot(Snap).a = 5  # type: ignore[misc]
    assert "a=1" in repr(snapshot(Snap))

    # Readers of snapshot() never see a half-applied revision.
    torn: list[tuple[int, int]] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            current = snapshot(Snap)
            if current.a != current.b:
                torn.append((current.a, current.b))

    thread = threading.Thread(target=reader)
    thread.start()
    for n in range(2000):
        binding.apply({"a": n, "b": n}, md5=str(n), source="test")
    stop.set()
    thread.join()
    assert torn == []


def test_item_binding() -> None:
    @disconf_item("discountRate")
    class Discount:
        rate: Decimal = Decimal("0")

    assert build_values(config_spec(Discount), b" 0.25 ") == {"rate": Decimal("0.25")}


def test_hosted_file() -> None:
    @disconf_file("logback.xml")
    class Logback:
        pass

    spec = config_spec(Logback)
    assert spec.hosted
    assert build_values(spec, b"<x/>") == {"content": b"<x/>"}
    with pytest.raises(TypeError, match="hosted file"):

        @disconf_file("other.xml")
        class WithFields:
            level: str = ""


def test_change_event_type() -> None:
    assert ChangeEvent.__dataclass_params__.frozen  # type: ignore[attr-defined]
