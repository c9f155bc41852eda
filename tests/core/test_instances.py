from __future__ import annotations

import json

import disconf_core
from disconf_core import (
    check_file_instance,
    check_item_instance,
    file_instance_data,
    file_notification_data,
    item_notification_data,
)


def test_notification_payloads_follow_the_spec() -> None:
    assert file_notification_data('a=1\nb="x"\n') == b'"a=1\\nb=\\"x\\"\\n"'
    assert json.loads(file_notification_data("名=值")) == "名=值"
    assert item_notification_data("0.5") == b"0.5"


def test_file_instance_data_is_the_parsed_map() -> None:
    data = file_instance_data("redis.properties", "host=127.0.0.1\nport=8080\n")
    assert json.loads(data) == {"host": "127.0.0.1", "port": "8080"}
    assert file_instance_data("app.yaml", "a: 1") == b"{}"


def test_self_check_compares_numbers_numerically_and_trims_strings() -> None:
    stored = "host=127.0.0.1\nport=8080\nrate=0.50\n"
    ok = check_file_instance(
        "h_0_x", "r.properties", stored, b'{"port":8080,"host":" 127.0.0.1 ","rate":0.5}'
    )
    assert ok.ok and ok.mismatched == []
    bad = check_file_instance("h_0_x", "r.properties", stored, b'{"port":8081,"gone":"1"}')
    assert bad.mismatched == ["port", "gone"]
    broken = check_file_instance("h_0_x", "r.properties", stored, b"not json")
    assert not broken.ok and broken.error == "instance data is not JSON"


def test_item_self_check() -> None:
    assert check_item_instance("i", "0.5", b" 0.5 ").ok
    assert check_item_instance("i", "0.5", b"0.6").mismatched == ["value"]


def test_public_names_are_exported() -> None:
    exported = {name for name in dir(disconf_core) if not name.startswith("_")}
    modules = {
        "converters",
        "exceptions",
        "hashing",
        "instances",
        "formats",
        "schema",
        "names",
        "properties",
        "zkpaths",
        "annotations",
        "standby",
        "notification",
    }
    assert sorted(disconf_core.__all__) == disconf_core.__all__
    assert set(disconf_core.__all__) == exported - modules
