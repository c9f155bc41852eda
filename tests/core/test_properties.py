from __future__ import annotations

import pytest

from disconf_core import PropertiesError, dump_properties, parse_properties


def test_separators_comments_and_order() -> None:
    text = "# comment\n! also a comment\na=1\nb : 2\nc 3\n  d\t=\t4  \ne\nf=\ng = = x\n\n"
    assert parse_properties(text) == {
        "a": "1",
        "b": "2",
        "c": "3",
        "d": "4  ",
        "e": "",
        "f": "",
        "g": "= x",
    }
    assert list(parse_properties(text)) == ["a", "b", "c", "d", "e", "f", "g"]


def test_continuations_and_escapes() -> None:
    text = (
        "fruits = apple, banana, \\\n"
        "         pear\n"
        "path=c:\\\\dir\\\\file\n"
        "key\\ with\\ spaces = v\n"
        "k\\=eq = x\n"
        "tab=a\\tb\n"
        "uni=\\u4e2d\\u6587\n"
        "emoji=\\uD83D\\uDE00\n"
        "odd=\\q\n"
        "two\\\\\n"
        "next=1\n"
    )
    values = parse_properties(text)
    assert values["fruits"] == "apple, banana, pear"
    assert values["path"] == "c:\\dir\\file"
    assert values["key with spaces"] == "v"
    assert values["k=eq"] == "x"
    assert values["tab"] == "a\tb"
    assert values["uni"] == "中文"
    assert values["emoji"] == "😀"
    assert values["odd"] == "q"
    assert values["two\\"] == ""  # an even number of backslashes does not continue
    assert values["next"] == "1"


def test_comment_lines_do_not_continue_and_crlf() -> None:
    assert parse_properties("# x \\\r\na=1\r\nb=2\r") == {"a": "1", "b": "2"}


def test_utf8_bytes_and_bom() -> None:
    assert parse_properties("\ufeffname=数据库".encode()) == {"name": "数据库"}
    with pytest.raises(PropertiesError, match="not UTF-8"):
        parse_properties(b"name=\xff\xfe")


def test_last_duplicate_wins() -> None:
    assert parse_properties("a=1\nb=2\na=3\n") == {"b": "2", "a": "3"}


def test_malformed_unicode_escape_is_an_error_with_the_line() -> None:
    with pytest.raises(PropertiesError, match="line 2"):
        parse_properties("a=1\nb=\\u12G4\n")


@pytest.mark.parametrize(
    "values",
    [
        {"a": "1", "b c": " lead", "x=y": "p:q", "#k": "!v", "nl": "a\nb", "uni": "中文"},
        {"back\\slash": "c:\\tmp", "ctrl": "\x01", "empty": ""},
    ],
)
def test_dump_round_trips(values: dict[str, str]) -> None:
    assert parse_properties(dump_properties(values, comment="generated")) == values
