"""Java ``.properties`` parsing and writing, with ``java.util.Properties.load`` semantics.

* comments: lines whose first non-blank character is ``#`` or ``!``;
* separators: the first unescaped ``=``, ``:`` or whitespace after the key (``key = v``,
  ``key:v`` and ``key v`` are all the same);
* a line ending in an odd number of backslashes continues on the next line, whose leading
  whitespace is dropped;
* escapes ``\\t \\n \\r \\f \\uXXXX``; any other escaped character stands for itself;
* text is UTF-8 (Java's ``Properties.load(Reader)``), order of first appearance is kept, and a
  repeated key takes its last value, as in Java.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .exceptions import PropertiesError

__all__ = ["dump_properties", "parse_properties"]

_BLANK = " \t\f"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, logical line)`` with continuations joined, comments dropped."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        number = index + 1
        line = lines[index].lstrip(_BLANK)
        index += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line) and index < len(lines):
            line = line[:-1] + lines[index].lstrip(_BLANK)
            index += 1
        if _continues(line):  # a trailing backslash on the last line is dropped, as in Java
            line = line[:-1]
        yield number, line


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _unescape(raw: str, number: int) -> str:
    out: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        index += 1
        if char != "\\":
            out.append(char)
            continue
        if index >= len(raw):
            break
        char = raw[index]
        index += 1
        if char == "u":
            digits = raw[index : index + 4]
            if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise PropertiesError(f"line {number}: malformed \\uxxxx escape {raw!r}")
            out.append(chr(int(digits, 16)))
            index += 4
        else:
            out.append(_ESCAPES.get(char, char))
    # \uD83D\uDE00 pairs come out as two surrogates: join them into one character.
    return "".join(out).encode("utf-16", "surrogatepass").decode("utf-16")


def _split(line: str) -> tuple[str, str]:
    """Split a logical line into raw key and raw value at the first unescaped separator."""
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        if char in "=:" or char in _BLANK:
            break
        index += 1
    key = line[:index]
    rest = line[index:].lstrip(_BLANK)
    if index < len(line) and line[index] in _BLANK and rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(_BLANK)
    elif index < len(line) and line[index] in "=:":
        rest = line[index + 1 :].lstrip(_BLANK)
    return key, rest


def parse_properties(text: str | bytes) -> dict[str, str]:
    """Parse a ``.properties`` document (``bytes`` must be UTF-8) into an ordered dict."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PropertiesError(f"properties text is not UTF-8: {exc}") from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    result: dict[str, str] = {}
    for number, line in _logical_lines(text):
        raw_key, raw_value = _split(line)
        key = _unescape(raw_key, number)
        if key in result:
            del result[key]  # Java keeps the last value; we keep its position too
        result[key] = _unescape(raw_value, number)
    return result


def _escape(text: str, *, is_key: bool) -> str:
    out: list[str] = []
    for position, char in enumerate(text):
        if char == "\\":
            out.append("\\\\")
        elif char == " " and (is_key or position == 0):
            out.append("\\ ")
        elif char in "\t\n\r\f":
            out.append("\\" + {"\t": "t", "\n": "n", "\r": "r", "\f": "f"}[char])
        elif char in "=:#!":
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def dump_properties(values: Mapping[str, str], *, comment: str | None = None) -> str:
    """Write ``values`` as ``.properties`` text (UTF-8 characters kept, order kept)."""
    lines: list[str] = []
    if comment:
        lines.extend(f"# {line}" for line in comment.splitlines())
    for key, value in values.items():
        lines.append(f"{_escape(key, is_key=True)}={_escape(value, is_key=False)}")
    return "\n".join(lines) + ("\n" if lines else "")
