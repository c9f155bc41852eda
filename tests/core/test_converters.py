from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from disconf_core import (
    content_md5,
    quoted_etag,
    to_bool,
    to_decimal,
    to_duration,
    to_float,
    to_int,
    to_list,
    to_str,
    unquote_etag,
)


def test_to_int() -> None:
    assert to_int(" 8080 ") == 8080
    assert to_int("-3") == -3
    for bad in ["8080.0", "0x1F", "", "eight", "1 2"]:
        with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(")):
            to_int(bad)


def test_to_float_and_decimal() -> None:
    assert to_float("0.5") == 0.5 and to_float("1e3") == 1000.0
    for bad in ["nan", "inf", "", "x"]:
        with pytest.raises(ValueError):
            to_float(bad)
    assert to_decimal(" 0.10 ") == Decimal("0.10")
    assert str(to_decimal("0.10")) == "0.10"
    for bad in ["NaN", "Infinity", "1,5"]:
        with pytest.raises(ValueError, match="decimal"):
            to_decimal(bad)


def test_to_bool_is_strict() -> None:
    for text in ["true", "YES", " on ", "1", "y"]:
        assert to_bool(text) is True
    for text in ["false", "No", "off", "0", "n"]:
        assert to_bool(text) is False
    with pytest.raises(ValueError, match="'maybe'"):
        to_bool("maybe")


def test_to_list_and_str() -> None:
    assert to_list("a, b,,c ") == ["a", "b", "c"]
    assert to_list("a;b", ";") == ["a", "b"]
    assert to_list("") == []
    assert to_str("  keep  ") == "  keep  "


def test_to_duration() -> None:
    assert to_duration("30s") == timedelta(seconds=30)
    assert to_duration("5m") == timedelta(minutes=5)
    assert to_duration("1h30m") == timedelta(hours=1, minutes=30)
    assert to_duration("250ms") == timedelta(milliseconds=250)
    assert to_duration("2") == timedelta(seconds=2)
    assert to_duration("1.5h") == timedelta(minutes=90)
    for bad in ["", "5x", "m5", "-1s", "ten seconds"]:
        with pytest.raises(ValueError, match="duration"):
            to_duration(bad)


def test_hashing() -> None:
    assert content_md5("") == "d41d8cd98f00b204e9800998ecf8427e"
    assert content_md5("中") == content_md5("中".encode())
    assert quoted_etag("a") == '"0cc175b9c0f1b6a831c399e269772661"'
    assert unquote_etag('W/"abc"') == "abc" and unquote_etag("abc") == "abc"
