"""Notifications that carry the content: the trailer of a config node's data, and its reader.

The spec's node data (a file's content as a JSON string literal, an item's raw value; see
:mod:`disconf_core.instances`) stays what it is. Behind it the server may append a **trailer**
made only of the four JSON whitespace characters, so the data is still one valid JSON string
literal for a file (``json.loads`` gives exactly the content; unmodified Disconf clients ignore
node data entirely) and an item's value differs only by trailing whitespace:

``"\\n"`` + the record, 4 characters per byte, 2 bits per character, high bits first, with
``" "`` = 0, ``"\\t"`` = 1, ``"\\r"`` = 2, ``"\\n"`` = 3. Records:

* ``b"dcD"`` + 16 bytes: **complete** — the first 16 bytes of the SHA-256 of the payload (the
  node data before the trailer). Written on a file whose payload is the whole content. A client
  that reads the payload, finds the digest equal and decodes the JSON string literal holds the
  whole content of the node's revision and may apply it without an HTTP request;
* ``b"dcF"``: **fetch** — the payload is not to be applied: it was cut to the notification limit
  (``MAX_NOTIFICATION_BYTES``) or the release must be read over HTTP (the hook for gray releases:
  :func:`fetch_marked`); the client downloads as the protocol always did.

A client applies node data (:func:`content_from_node`) only when it is one of:

* a file payload with a *complete* trailer whose digest matches;
* an item's raw value with no trailer, not empty and shorter than the notification limit (a value
  of the limit's length may have been cut by a server that writes no trailer).

Anything else — no trailer on a file (the original server, an older one), a digest that does not
match, a truncated payload, a *fetch* trailer, an empty or deleted node — means "download over
HTTP". Currency comes from the server's delivery: a node never moves back to an older revision
(versioned ``setData``), so the data a watch reads is the latest delivered revision.
"""

from __future__ import annotations

import hashlib
import json

from .names import ConfigType

__all__ = [
    "COMPLETE",
    "FETCH",
    "ITEM_LIMIT",
    "content_from_node",
    "fetch_marked",
    "file_node_data",
    "item_node_data",
    "read_trailer",
    "trailer",
]

COMPLETE = b"dcD"
FETCH = b"dcF"
DIGEST_BYTES = 16
# The server's cut of a notification's payload (disconf_web.services.configs uses the same).
ITEM_LIMIT = 512 * 1024
_SYMBOLS = b" \t\r\n"
_VALUES = {symbol: index for index, symbol in enumerate(_SYMBOLS)}
_SEPARATOR = b"\n"
_COMPLETE_LENGTH = 1 + 4 * (len(COMPLETE) + DIGEST_BYTES)
_FETCH_LENGTH = 1 + 4 * len(FETCH)


def _encode(record: bytes) -> bytes:
    out = bytearray(_SEPARATOR)
    for byte in record:
        out += bytes(_SYMBOLS[(byte >> shift) & 3] for shift in (6, 4, 2, 0))
    return bytes(out)


def _decode(symbols: bytes) -> bytes | None:
    if len(symbols) % 4:
        return None
    out = bytearray()
    for start in range(0, len(symbols), 4):
        byte = 0
        for symbol in symbols[start : start + 4]:
            value = _VALUES.get(symbol)
            if value is None:
                return None
            byte = (byte << 2) | value
        out.append(byte)
    return bytes(out)


def digest(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()[:DIGEST_BYTES]


def trailer(payload: bytes, *, complete: bool) -> bytes:
    """The trailer for ``payload``: *complete* (with its digest) or *fetch*."""
    return _encode(COMPLETE + digest(payload) if complete else FETCH)


def read_trailer(data: bytes) -> tuple[bytes, bytes | None, bytes | None]:
    """``(payload, kind, digest)``: kind is :data:`COMPLETE`, :data:`FETCH` or None (none)."""
    for length, kind in ((_COMPLETE_LENGTH, COMPLETE), (_FETCH_LENGTH, FETCH)):
        if len(data) < length or data[-length : -length + 1] != _SEPARATOR:
            continue
        record = _decode(data[-length + 1 :])
        if record is not None and record.startswith(kind):
            return data[:-length], kind, record[len(kind) :] or None
    return data, None, None


def file_node_data(payload: bytes, *, complete: bool) -> bytes:
    """A file's node data: the spec's payload (a JSON string literal) and its trailer."""
    return payload + trailer(payload, complete=complete)


def item_node_data(value: bytes, *, complete: bool) -> bytes:
    """An item's node data: the raw value; a cut value carries the *fetch* trailer."""
    return value if complete else value + trailer(value, complete=False)


def fetch_marked(data: bytes) -> bytes:
    """``data`` (node data with or without a trailer) turned into "fetch over HTTP".

    The hook for releases a client must read over HTTP (a gray release that targets some
    instances): the server writes this instead of the complete trailer."""
    payload, _kind, _digest = read_trailer(data)
    return payload + trailer(payload, complete=False)


def content_from_node(kind: ConfigType, data: bytes | None) -> bytes | None:
    """The content node data carries whole and current, or None: download it over HTTP."""
    if not data:
        return None
    payload, record, found = read_trailer(data)
    if kind is ConfigType.ITEM:
        if record is not None or len(payload) >= ITEM_LIMIT - 3:
            return None  # marked, or possibly cut by a server that writes no trailer
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return payload
    if record != COMPLETE or found is None or digest(payload) != found:
        return None
    try:
        content = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(content, str):
        return None
    try:
        return content.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: let the server say what the bytes are
        return None
