"""Server-side diffs for the console (``difflib``), as rows the templates render escaped.

Nothing here produces HTML: the Jinja templates (autoescaped) turn the rows into markup, so a
``<script>`` in a config value is shown as text.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

__all__ = ["DiffRow", "SideRow", "side_by_side", "unified"]


@dataclass(frozen=True)
class DiffRow:
    """One line of a unified diff: ``kind`` is ``hunk``, ``add``, ``del`` or ``ctx``."""

    kind: str
    text: str
    old_no: int | None = None
    new_no: int | None = None


@dataclass(frozen=True)
class SideRow:
    """One row of a side-by-side diff: ``kind`` is ``equal``, ``replace``, ``delete``,
    ``insert`` or ``skip`` (unchanged lines left out)."""

    kind: str
    old_no: int | None
    old: str | None
    new_no: int | None
    new: str | None


def _lines(text: str | None) -> list[str]:
    return [] if not text else text.splitlines()


def unified(old: str | None, new: str | None, context: int = 3) -> list[DiffRow]:
    """Unified diff rows of ``old`` -> ``new`` ([] when equal)."""
    a, b = _lines(old), _lines(new)
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        rows.append(
            DiffRow(
                "hunk",
                f"@@ -{first[1] + 1},{last[2] - first[1]} +{first[3] + 1},{last[4] - first[3]} @@",
            )
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for offset, line in enumerate(a[i1:i2]):
                    rows.append(DiffRow("ctx", line, i1 + offset + 1, j1 + offset + 1))
                continue
            for offset, line in enumerate(a[i1:i2]):
                rows.append(DiffRow("del", line, i1 + offset + 1, None))
            for offset, line in enumerate(b[j1:j2]):
                rows.append(DiffRow("add", line, None, j1 + offset + 1))
    if not rows and old != new:
        # Only the trailing newline (or whitespace at the end) differs.
        rows.append(DiffRow("hunk", "(only the line endings or the final newline differ)"))
    return rows


def side_by_side(old: str | None, new: str | None, context: int = 3) -> list[SideRow]:
    """Side-by-side rows of ``old`` -> ``new``; long unchanged runs become one ``skip`` row."""
    a, b = _lines(old), _lines(new)
    rows: list[SideRow] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    groups = matcher.get_grouped_opcodes(context)
    previous_end = 0
    for group in groups:
        if group[0][1] > previous_end:
            rows.append(SideRow("skip", None, None, None, None))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for k in range(i2 - i1):
                    rows.append(SideRow("equal", i1 + k + 1, a[i1 + k], j1 + k + 1, b[j1 + k]))
                continue
            span = max(i2 - i1, j2 - j1)
            for k in range(span):
                has_old, has_new = i1 + k < i2, j1 + k < j2
                kind = "replace" if has_old and has_new else ("delete" if has_old else "insert")
                rows.append(
                    SideRow(
                        kind,
                        i1 + k + 1 if has_old else None,
                        a[i1 + k] if has_old else None,
                        j1 + k + 1 if has_new else None,
                        b[j1 + k] if has_new else None,
                    )
                )
        previous_end = group[-1][2]
    if rows and previous_end < len(a):
        rows.append(SideRow("skip", None, None, None, None))
    return rows
