"""Strict converters from configuration strings to Python values.

Each is a small function ``str -> T`` that strips surrounding whitespace and raises
``ValueError`` naming the offending value; nothing is guessed (``to_bool("maybe")`` fails,
``to_int("8080.0")`` fails). Binding code wraps the error with the key it was converting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import TypeVar

__all__ = [
    "to_bool",
    "to_decimal",
    "to_duration",
    "to_float",
    "to_int",
    "to_list",
    "to_str",
]

_N = TypeVar("_N", float, Decimal)

_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def to_str(value: str) -> str:
    """Strings are kept as they are (no stripping: whitespace may be meaningful)."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def to_int(value: str) -> int:
    """``" 8080 "`` -> 8080; ``"8080.0"``, ``"0x1F"``, ``""`` are refused."""
    text = str(value).strip()
    if not re.fullmatch(r"[+-]?\d+(_\d+)*", text):
        raise ValueError(f"not an integer: {value!r}")
    return int(text)


def _finite(
    value: str,
    parse: Callable[[str], _N],
    error: type[Exception],
    what: str,
    finite: Callable[[_N], bool],
) -> _N:
    """``parse`` of the stripped ``value``; ``ValueError`` naming it when it is not ``what`` or
    not finite."""
    try:
        result = parse(str(value).strip())
    except error:
        raise ValueError(f"not a {what}: {value!r}") from None
    if not finite(result):
        raise ValueError(f"not a finite {what}: {value!r}")
    return result


def to_float(value: str) -> float:
    """``"0.5"``, ``"1e3"`` -> float; ``"nan"``, ``"inf"`` and ``""`` are refused."""
    return _finite(value, float, ValueError, "number", math.isfinite)


def to_decimal(value: str) -> Decimal:
    """``"0.10"`` -> ``Decimal("0.10")`` exactly; non-finite values are refused."""
    return _finite(value, Decimal, InvalidOperation, "decimal number", Decimal.is_finite)


def to_bool(value: str) -> bool:
    """``true/yes/on/1/y`` and ``false/no/off/0/n`` (any case); anything else is refused."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean (true/false, yes/no, on/off, 1/0): {value!r}")


def to_list(value: str, separator: str = ",") -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: items stripped, empty items dropped."""
    return [part.strip() for part in str(value).split(separator) if part.strip()]


def to_duration(value: str) -> timedelta:
    """``"30s"``, ``"5m"``, ``"1h30m"``, ``"250ms"``, ``"2d"``; a bare number means seconds."""
    text = str(value).strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return timedelta(seconds=float(text))
    if not text or not re.fullmatch(f"(?:{_DURATION.pattern})+", text):
        raise ValueError(f"not a duration (e.g. 30s, 5m, 1h30m, 250ms): {value!r}")
    total = timedelta()
    for amount, unit in _DURATION.findall(text):
        total += _UNITS[unit] * float(amount)
    return total
