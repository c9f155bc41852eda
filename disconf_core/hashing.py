"""Content hashing. MD5 is what the protocol uses (ETag, snapshot check); it is an integrity
check against truncation and corruption, not a security measure."""

from __future__ import annotations

import hashlib

__all__ = ["content_md5", "quoted_etag", "unquote_etag"]


def content_md5(content: bytes | str) -> str:
    """Lower-case hex MD5 of ``content`` (``str`` is encoded as UTF-8)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def quoted_etag(content: bytes | str) -> str:
    """The ``ETag`` header value for ``content``: the MD5 in double quotes."""
    return f'"{content_md5(content)}"'


def unquote_etag(value: str) -> str:
    """``W/"abc"`` or ``"abc"`` or ``abc`` -> ``abc``."""
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')
