"""Config file formats: which one a file name has, and parsing with line and column on errors.

The server's publish guard parses a file whose format it knows before storing it
(:func:`check_syntax`), and reads the keys a client would read (:func:`parse_mapping` +
:func:`lookup`), with the same rules as the client's binding:

* formats by extension: ``.properties``, ``.yaml``/``.yml``, ``.json``, ``.toml``, ``.ini``;
  any other name has no known format and is not parsed (``None``);
* a leading UTF-8 byte order mark is ignored; an empty JSON document is an empty mapping;
* ``.properties`` follows :mod:`disconf_core.properties`; INI keys keep their case, sections
  become nested mappings (``section.key``) and ``[DEFAULT]`` keys sit at the top level;
* a key is looked up as-is first (``.properties`` keys contain dots), then as a dotted path.

Positions are 1-based (line and column of the first character the parser could not read).
Pure: no I/O.
"""

from __future__ import annotations

import configparser
import json
import re
import sys
from collections.abc import Mapping
from typing import Any

import yaml

from .exceptions import DisconfError, PropertiesError
from .properties import parse_properties

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "FORMATS",
    "MISSING",
    "FormatSyntaxError",
    "check_syntax",
    "format_of",
    "lookup",
    "parse_mapping",
]

FORMATS = {
    ".properties": "properties",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".toml": "toml",
    ".ini": "ini",
}


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What :func:`lookup` returns for a key the document does not have."""


class FormatSyntaxError(DisconfError, ValueError):
    """A document that its format's parser refuses; ``line``/``column`` are 1-based."""

    def __init__(self, name: str, fmt: str, message: str, line: int, column: int) -> None:
        self.name = name
        self.format = fmt
        self.problem = message
        self.line = line
        self.column = column
        super().__init__(f"{name}: not valid {fmt} at line {line}, column {column}: {message}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "line": self.line,
            "column": self.column,
            "message": self.problem,
        }


def format_of(name: str) -> str | None:
    """The format of a file name (``"yaml"`` for ``app.yml``), or None when it has none."""
    dot = name.rfind(".")
    return FORMATS.get(name[dot:].lower()) if dot >= 0 else None


def _position(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")
_INI_LINE = re.compile(r"\[line\s+(\d+)\]|line (\d+)")


def _properties(name: str, text: str) -> dict[str, str]:
    try:
        return parse_properties(text)
    except PropertiesError as exc:
        message = str(exc)
        match = re.match(r"line (\d+): (.*)", message, re.S)
        line = int(match.group(1)) if match else 1
        detail = match.group(2) if match else message
        source = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
        column = source.find("\\u") + 1 if "\\u" in source else 1
        raise FormatSyntaxError(name, "properties", detail, line, max(column, 1)) from exc


def _yaml(name: str, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "cannot parse"
        raise FormatSyntaxError(name, "yaml", problem, line, column) from exc
    except yaml.YAMLError as exc:  # no position (e.g. a reader error on odd characters)
        mark = getattr(exc, "position", None)
        line, column = _position(text, int(mark)) if isinstance(mark, int) else (1, 1)
        raise FormatSyntaxError(name, "yaml", str(exc), line, column) from exc


def _json(name: str, text: str) -> Any:
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatSyntaxError(name, "json", exc.msg, exc.lineno, exc.colno) from exc
    except RecursionError as exc:
        raise FormatSyntaxError(name, "json", "nested too deeply", 1, 1) from exc


def _toml(name: str, text: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line = getattr(exc, "lineno", None)
        column = getattr(exc, "colno", None)
        match = _TOML_AT.search(message)
        if (line is None or column is None) and match:
            line, column = int(match.group(1)), int(match.group(2))
        detail = getattr(exc, "msg", None) or _TOML_AT.sub("", message).strip()
        raise FormatSyntaxError(name, "toml", str(detail), line or 1, column or 1) from exc


def _ini(name: str, text: str) -> dict[str, Any]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep the keys' case
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        if line is None:
            match = _INI_LINE.search(str(exc))
            line = int(match.group(1) or match.group(2)) if match else 1
        source = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
        column = len(source) - len(source.lstrip()) + 1
        problem = str(exc).splitlines()[0]
        if isinstance(exc, configparser.MissingSectionHeaderError):
            problem = "a key before the first [section] header"
        elif isinstance(exc, configparser.DuplicateOptionError):
            problem = f"key {exc.option!r} repeated in section [{exc.section}]"
        elif isinstance(exc, configparser.DuplicateSectionError):
            problem = f"section [{exc.section}] repeated"
        elif isinstance(exc, configparser.ParsingError):
            problem = "a line that is neither a [section], a key = value nor a comment"
        raise FormatSyntaxError(name, "ini", problem, line, column) from exc
    result: dict[str, Any] = dict(parser.defaults())
    for section in parser.sections():
        result[section] = {key: parser.get(section, key) for key in parser.options(section)}
    return result


_PARSERS = {"properties": _properties, "yaml": _yaml, "json": _json, "toml": _toml, "ini": _ini}


def parse_mapping(name: str, text: str, fmt: str | None = None) -> Mapping[str, Any] | None:
    """Parse ``text`` as ``fmt`` (default: the format of ``name``) into a mapping.

    Returns None for a name of no known format; raises :class:`FormatSyntaxError` (with line
    and column) for a document its parser refuses or whose top level is not a mapping.
    """
    fmt = fmt or format_of(name)
    parser = _PARSERS.get(fmt or "")
    if parser is None:
        return None
    text = text.removeprefix("\ufeff")
    document = parser(name, text)
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise FormatSyntaxError(
            name, str(fmt), f"the top level must be a mapping, not {type(document).__name__}", 1, 1
        )
    return document


def check_syntax(name: str, text: str) -> FormatSyntaxError | None:
    """The syntax error of a file of a known format, or None (valid, or no known format)."""
    try:
        parse_mapping(name, text)
    except FormatSyntaxError as exc:
        return exc
    return None


def lookup(document: Mapping[str, Any], key: str) -> Any:
    """``document[key]``, else the dotted path ``a.b.c`` through nested mappings, else MISSING."""
    if key in document:
        return document[key]
    node: Any = document
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node
