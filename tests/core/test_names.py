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


@pytest.mark.parametrize("prefix", ["", "/", "/a//b", "/a/../b"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid ZooKeeper prefix"):
        normalize_prefix(prefix)


def test_config_type_numbers_are_the_originals() -> None:
    assert ConfigType.FILE == 0 and ConfigType.ITEM == 1
    assert ConfigType.FILE.segment == "file" and ConfigType.ITEM.segment == "item"
