"""disconf_core.formats (syntax errors with line and column) and disconf_core.schema (the
schema our client publishes and the guard's checks, which must agree with the client binding)."""

from __future__ import annotations

import enum
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disconf_client.binding import convert_value
from disconf_client.decorators import config_spec, disconf_file, field
from disconf_client.schema import bound_schema
from disconf_core import check_file_instance, file_instance_data
from disconf_core.formats import check_syntax, format_of, lookup, parse_mapping
from disconf_core.instances import instance_schema
from disconf_core.schema import SCHEMA_KEY, check_document, check_value, describe_type


@pytest.mark.parametrize(
    ("name", "text", "line", "column"),
    [
        ("a.json", '{"a": 1,\n "b" 2}', 2, 6),
        ("a.JSON", "{\n\n  ]", 3, 3),
        ("a.yaml", "a: 1\nb: [1, 2\nc: 3\n", 3, 2),
        ("a.yml", "a: 1\n  b: 2\n", 2, 4),
        ("a.toml", "a = 1\nb = = 2\n", 2, 5),
        ("a.ini", "[s]\nx=1\n= what\n", 3, 1),
        ("a.ini", "x=1\n", 1, 1),
        ("a.ini", "[s]\nx=1\nx=2\n", 3, 1),
        ("a.properties", "a=1\nb=\\u12g4\n", 2, 3),
    ],
)
def test_syntax_errors_name_line_and_column(name: str, text: str, line: int, column: int) -> None:
    error = check_syntax(name, text)
    assert error is not None
    assert (error.line, error.column) == (line, column), error
    assert f"line {line}, column {column}" in str(error)
    assert error.as_dict()["format"] == format_of(name)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("a.json", ""),
        ("a.json", '{"a": {"b": 1}}'),
        ("a.yaml", "a:\n  b: 1\n"),
        ("a.toml", "[a]\nb = 1\n"),
        ("a.ini", "[a]\nb = 1\n"),
        ("a.properties", "\ufeffa.b=1\n"),
        ("notes.txt", "{{{ not parsed"),
        ("Makefile", "anything"),
    ],
)
def test_valid_documents_and_unknown_formats_pass(name: str, text: str) -> None:
    assert check_syntax(name, text) is None


def test_top_level_must_be_a_mapping() -> None:
    error = check_syntax("a.yaml", "- 1\n- 2\n")
    assert error is not None and "mapping" in str(error)


def test_lookup_as_is_then_dotted() -> None:
    document = parse_mapping("a.yaml", "a.b: 1\nc:\n  d: 2\n")
    assert document is not None
    assert lookup(document, "a.b") == 1
    assert lookup(document, "c.d") == 2
    assert repr(lookup(document, "c.e")) == "MISSING"


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


TYPES: list[Any] = [
    int,
    float,
    Decimal,
    bool,
    str,
    timedelta,
    Path,
    list[int],
    tuple[int, str],
    dict[str, int],
    Optional[int],  # noqa: UP045 - the typing form must be described too
    int | str,
    Color,
    list,
]
VALUES: list[Any] = [
    "8080",
    " 8080 ",
    "80a0",
    "8080.0",
    "",
    "   ",
    "true",
    "maybe",
    "1.5",
    "nan",
    "30s",
    "1h30m",
    "x",
    "1, 2, 3",
    "1, two",
    "RED",
    "red",
    "purple",
    "5, hello",
    8080,
    1.5,
    True,
    None,
    [1, 2],
    ["a"],
    {"a": 1},
    {"a": "x"},
]


@pytest.mark.parametrize("annotation", TYPES, ids=repr)
def test_guard_check_agrees_with_the_client_binding(annotation: Any) -> None:
    """For every type and value: the server refuses exactly what the client refuses."""
    description = json.loads(json.dumps(describe_type(annotation)))  # as it travels
    for raw in VALUES:
        try:
            convert_value(raw, annotation)
            client_accepts = True
        except (ValueError, TypeError, ArithmeticError):
            client_accepts = False
        try:
            check_value(raw, description)
            guard_accepts = True
        except ValueError:
            guard_accepts = False
        assert guard_accepts == client_accepts, (annotation, raw)


def test_bound_schema_in_the_instance_node_and_the_self_check_ignores_it() -> None:
    @disconf_file("shop.properties")
    class Shop:
        port: int
        host: str = "localhost"
        rate: Decimal = field(key="pricing.rate", default=Decimal("0"))
        custom: int = field(default=0, converter=lambda raw: int(raw, 16))

    schema = bound_schema(config_spec(Shop))
    assert schema is not None
    data = file_instance_data("shop.properties", "port=8080\nhost=a\n", schema)
    assert instance_schema(data) == schema
    # The values keep the spec's meaning; the self-check skips the schema key.
    reported = json.loads(data)
    assert reported["port"] == "8080" and SCHEMA_KEY in reported
    check = check_file_instance("i1", "shop.properties", "port=8080\nhost=a\n", data)
    assert check.ok and json.loads(check.value) == {"port": "8080", "host": "a"}
    assert not check_file_instance("i1", "shop.properties", "port=1\nhost=a\n", data).ok
    document = parse_mapping("shop.properties", "port=80a0\npricing.rate=x\ncustom=zz\n")
    assert document is not None
    rejected = {(r.key, r.value, r.expected) for r in check_document(schema, document)}
    assert rejected == {("port", "80a0", "int"), ("pricing.rate", "x", "decimal")}
    missing = check_document(schema, {"host": "a"})
    assert [(r.key, r.value, r.reason) for r in missing] == [("port", None, "missing (required)")]


def test_data_without_schema_is_not_checked() -> None:
    assert instance_schema(b'{"port":"8080"}') is None
    assert instance_schema(b"8080") is None
    assert instance_schema(b"\xff") is None
    assert file_instance_data("a.yaml", "a: 1\n") == b"{}"


_RAW = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1", "-2", "1_000", "0.5", "1e3", "true", "off", "5m", "RED", "a, b"]),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.integers(), st.text(max_size=4)), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(raw=_RAW, annotation=st.sampled_from(TYPES))
def test_guard_and_client_agree_on_generated_values(raw: Any, annotation: Any) -> None:
    description = json.loads(json.dumps(describe_type(annotation)))
    try:
        convert_value(raw, annotation)
        client_accepts = True
    except (ValueError, TypeError, ArithmeticError):
        client_accepts = False
    try:
        check_value(raw, description)
        guard_accepts = True
    except ValueError:
        guard_accepts = False
    assert guard_accepts == client_accepts


def test_item_schema_node_round_trip_and_bad_data() -> None:
    from disconf_core import Coordinates
    from disconf_core.schema import item_schema, item_schemas_data, schema_node

    rate = {"v": 1, "format": "item", "fields": [{"key": "rate", "type": {"type": "float"}}]}
    data = item_schemas_data({"rate": rate})
    assert item_schema(data, "rate") == rate
    assert item_schema(data, "other") is None  # an item this instance does not bind
    for bad in (b"", b"\xff", b"0.5", b"[]", b'{"items": []}', b'{"items": {"rate": 1}}'):
        assert item_schema(bad, "rate") is None, bad
    assert check_document(rate, {"rate": "abc"})[0].expected == "float"
    assert check_document(rate, {"rate": "0.5"}) == []
    coords = Coordinates(app="shop", version="1_0", env="prod")
    assert schema_node("/disconf", coords) == "/disconf/shop_1_0_prod/schema"


def test_labels_in_the_instance_node_and_the_self_check_ignores_them() -> None:
    from disconf_core.instances import LABELS_KEY, instance_labels

    schema = {"v": 1, "format": "properties", "fields": []}
    labels = {"zone": "a", "tier": "web"}
    data = file_instance_data("shop.properties", "port=8080\n", schema, labels)
    assert json.loads(data)[LABELS_KEY] == labels and instance_labels(data) == labels
    check = check_file_instance("i1", "shop.properties", "port=8080\n", data)
    assert check.ok and json.loads(check.value) == {"port": "8080"}
    # Our client without labels writes none (its schema says it is ours: no labels at all).
    bare = file_instance_data("shop.properties", "port=8080\n", schema)
    assert LABELS_KEY not in json.loads(bare) and instance_labels(bare) == {}
    # Other clients' nodes, and bad data, cannot tell.
    assert instance_labels(b'{"port":"8080"}') is None
    assert instance_labels(b"8080") is None and instance_labels(b"\xff") is None
    # A file whose content holds the reserved key does not forge the labels.
    forged = file_instance_data("shop.properties", f"{LABELS_KEY}=x\n", schema)
    assert instance_labels(forged) == {}
