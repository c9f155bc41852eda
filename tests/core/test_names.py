from __future__ import annotations

import pytest

from disconf_core import (
    ConfigType,
    Coordinates,
    InvalidNameError,
    app_node,
    config_node,
    normalize_prefix,
    standby_node,
    validate_config_name,
    validate_segment,
    zookeeper_refusal,
)


@pytest.mark.parametrize("name", ["demo", "a", "A-b_c.1", "1_0_0_0", "x" * 64])
def test_valid_segments(name: str) -> None:
    assert validate_segment(name, "app") == name


@pytest.mark.parametrize(
    "name", ["", ".", "..", "a/b", "a b", "x" * 65, "ü", "a\nb", "a:b", None, 5]
)
def test_invalid_segments_name_the_value(name: object) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_segment(name, "env")
    assert "invalid env name" in str(info.value)
    assert repr(name)[:20] in str(info.value)


@pytest.mark.parametrize("name", ["redis.properties", "数据库.yaml", "a b.txt", "x" * 255, ".env"])
def test_valid_config_names(name: str) -> None:
    assert validate_config_name(name) == name


@pytest.mark.parametrize(
    "name, reason",
    [
        ("", "empty"),
        (".", "reserved"),
        ("..", "reserved"),
        ("../etc/passwd", "'/'"),
        ("a\\b", "'/'"),
        ("a\x00b", "control"),
        ("tab\tname", "control"),
        ("x" * 256, "longer than 255"),
    ],
)
def test_invalid_config_names(name: str, reason: str) -> None:
    with pytest.raises(InvalidNameError, match=reason):
        validate_config_name(name, "file")


def test_coordinates_validate_and_build_the_original_node_name() -> None:
    coords = Coordinates(app="demo", version="1_0_0_0", env="prod")
    assert coords.node_name == "demo_1_0_0_0_prod"  # app, VERSION, env
    with pytest.raises(InvalidNameError, match="invalid version name '../x'"):
        Coordinates(app="demo", version="../x", env="prod")


def test_zookeeper_paths_match_the_spec() -> None:
    coords = Coordinates("demo", "1_0_0_0", "prod")
    assert app_node("/disconf", coords) == "/disconf/demo_1_0_0_0_prod"
    assert (
        config_node("/disconf", coords, ConfigType.FILE, "redis.properties")
        == "/disconf/demo_1_0_0_0_prod/file/redis.properties"
    )
    assert (
        config_node("disconf/", coords, ConfigType.ITEM, "discountRate")
        == "/disconf/demo_1_0_0_0_prod/item/discountRate"
    )
    assert standby_node("/a/b", coords, "job") == "/a/b/demo_1_0_0_0_prod/standby/job"
    with pytest.raises(InvalidNameError):
        config_node("/disconf", coords, ConfigType.FILE, "../x")


@pytest.mark.parametrize("prefix", ["", "/", "/a//b", "/a/../b", "/a/\U0001f600", "/dis\x85conf"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid ZooKeeper prefix"):
        normalize_prefix(prefix)


def test_config_type_numbers_are_the_originals() -> None:
    assert ConfigType.FILE == 0 and ConfigType.ITEM == 1
    assert ConfigType.FILE.segment == "file" and ConfigType.ITEM.segment == "item"


@pytest.mark.parametrize(
    "name, shown",
    [
        ("\U0001f600.properties", "'😀' (U+1F600) at position 0"),
        ("a\x85", "'\\x85' (U+0085) at position 1"),
        ("k\ue000", "'\\ue000' (U+E000) at position 1"),
        ("k\uf8ff", "(U+F8FF)"),
        ("k\ufff0", "(U+FFF0)"),
        ("k\uffff", "(U+FFFF)"),
        ("k\ud800", "(U+D800)"),
        ("\x7f", "(U+007F)"),
    ],
)
def test_names_zookeeper_refuses_are_refused_naming_field_and_character(
    name: str, shown: str
) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_config_name(name, "item")
    message = str(info.value)
    assert message.startswith(f"invalid item key {name!r}")
    assert shown in message
    with pytest.raises(InvalidNameError, match="invalid file name"):
        validate_config_name(name, "file")


@pytest.mark.parametrize("name", ["\u00a0nbsp", "\ud7ff", "\uf900", "\uffef", "\ufdd0", "ÿ"])
def test_names_at_the_edges_of_the_refused_ranges_are_accepted(name: str) -> None:
    assert validate_config_name(name, "file") == name
    assert zookeeper_refusal(name) is None


def test_a_stored_name_zookeeper_refuses_can_still_be_looked_up() -> None:
    assert validate_config_name("\U0001f600", "file", storable=False) == "\U0001f600"
    with pytest.raises(InvalidNameError, match="'/'"):
        validate_config_name("a/b", "file", storable=False)
    with pytest.raises(InvalidNameError, match=r"U\+DC00.*lone surrogate"):
        validate_config_name("a\udc00", "file", storable=False)


def test_segments_name_the_offending_character() -> None:
    with pytest.raises(InvalidNameError, match=r"'😀' \(U\+1F600\) at position 3"):
        validate_segment("col\U0001f600", "app")


@pytest.mark.parametrize(
    "name, reason",
    [(".", "relative"), ("..", "relative"), ("a/b", "'/'"), ("a\x00", "U+0000")],
)
def test_zookeeper_refusal_reasons(name: str, reason: str) -> None:
    refusal = zookeeper_refusal(name)
    assert refusal is not None and reason in refusal


def test_a_prefix_with_a_character_zookeeper_refuses_names_it() -> None:
    with pytest.raises(ValueError, match=r"segment 'dis\\x85conf'.*\(U\+0085\)"):
        normalize_prefix("/dis\x85conf")
