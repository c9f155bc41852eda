"""The master/standby data formats, shared by the client recipe and the server's console/API.

An election lives at ``<prefix>/<app>_<version>_<env>/standby/<name>`` (see
:func:`disconf_core.standby_node`). Under it::

    <election>/<32 hex>__lock__<10-digit sequence>   EPHEMERAL_SEQUENTIAL, one per contender
    <election>/context                               PERSISTENT, the master's saved context

* A contender node is a kazoo ``Lock`` node. Its data (:func:`contender_data`) is a JSON object
  ``{"name": <election>, "host": <hostname>, "pid": <int>, "since": <epoch seconds>}``. The
  contender with the **lowest sequence number** is the master; that sequence number is the
  master's **fencing token** (:func:`contender_token`). Tokens of successive masters strictly
  increase, because a newer contender's node is always created after the older one's.
* The context node holds :func:`encode_context`'s output: one JSON header line
  (``{"format": "json"|"bytes", "token": ..., "saved_at": ..., "host": ..., "pid": ...,
  "size": ...}``) then the payload. An empty node means "no context saved yet". The payload is
  at most :data:`MAX_CONTEXT_BYTES` (512 KiB); ZooKeeper's default node limit is 1 MiB.

Pure: no I/O, no kazoo. :func:`parse_contenders` turns ``(node name, data)`` pairs read from
ZooKeeper into ordered :class:`Contender` rows, tolerating foreign or damaged nodes (a node whose
data is not ours still counts as a contender: it holds its place in the lock queue).

The root of the master/standby exceptions, :class:`StandbyError`, lives here so that the data
errors (:class:`StandbyDataError`, :class:`ContextTooLargeError`) and the client recipe's errors
(:mod:`disconf_client.standby.errors`, which draws the whole tree) share it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal, TypeAlias

from .exceptions import DisconfError

__all__ = [
    "CONTEXT_NODE",
    "MAX_CONTEXT_BYTES",
    "Contender",
    "ContextTooLargeError",
    "JSONValue",
    "SavedContext",
    "StandbyDataError",
    "StandbyError",
    "contender_data",
    "contender_token",
    "decode_context",
    "encode_context",
    "parse_contender_data",
    "parse_contenders",
]

CONTEXT_NODE = "context"
MAX_CONTEXT_BYTES = 512 * 1024

JSONValue: TypeAlias = "None | bool | int | float | str | list[JSONValue] | dict[str, JSONValue]"

_TOKEN = re.compile(r"__lock__(-?\d{10})$")


class StandbyError(DisconfError):
    """Root of every master/standby error (the tree: :mod:`disconf_client.standby.errors`)."""


class StandbyDataError(StandbyError, ValueError):
    """A contender node's or context node's data is malformed, or a context cannot be encoded."""


class ContextTooLargeError(StandbyDataError):
    """A context larger than :data:`MAX_CONTEXT_BYTES` was refused; ``size`` is its size."""

    def __init__(self, size: int, limit: int = MAX_CONTEXT_BYTES) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"master/standby context of {size:,} bytes refused: the limit is {limit:,} bytes "
            f"({limit // 1024} KiB); save a smaller checkpoint (e.g. an offset or an object key)"
        )


@dataclass(frozen=True)
class Contender:
    """One contender of an election, as listed for diagnostics (console, admin API)."""

    node: str
    token: int
    name: str | None
    host: str | None
    pid: int | None
    since: float | None
    is_master: bool

    def to_json(self) -> dict[str, JSONValue]:
        """Every field, in declaration order."""
        return asdict(self)


@dataclass(frozen=True)
class SavedContext:
    """A context saved by a master: ``value`` is ``bytes`` or the decoded JSON value."""

    value: bytes | JSONValue
    token: int
    saved_at: float
    host: str
    pid: int
    size: int


def contender_token(node: str) -> int | None:
    """The fencing token (sequence number) of a lock node name, or None if it is not one."""
    match = _TOKEN.search(node)
    return int(match.group(1)) if match else None


def contender_data(name: str, host: str, pid: int, since: float) -> bytes:
    """The data a contender writes into its lock node."""
    document = {"name": name, "host": host, "pid": pid, "since": round(since, 6)}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_contender_data(data: bytes) -> tuple[str, str, int, float]:
    """``(name, host, pid, since)`` from a contender node's data; StandbyDataError if malformed."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise StandbyDataError(f"contender data {data[:80]!r} is not a JSON object") from exc
    if not isinstance(document, dict):
        raise StandbyDataError(f"contender data {data[:80]!r} is not a JSON object")
    name, host, pid, since = (document.get(key) for key in ("name", "host", "pid", "since"))
    if not isinstance(name, str) or not isinstance(host, str):
        raise StandbyDataError(f"contender data {data[:80]!r}: 'name' and 'host' must be strings")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid < 0:
        raise StandbyDataError(f"contender data {data[:80]!r}: bad 'pid' {pid!r}")
    if not isinstance(since, (int, float)) or isinstance(since, bool):
        raise StandbyDataError(f"contender data {data[:80]!r}: bad 'since' {since!r}")
    return name, host, pid, float(since)


def parse_contenders(nodes: Iterable[tuple[str, bytes | None]]) -> list[Contender]:
    """Order ``(child name, data)`` pairs of an election node into contenders, master first.

    Children that are not lock nodes (``context``) are skipped. A lock node whose data cannot be
    parsed (another implementation, or a node that vanished: data ``None``) is kept with
    ``None`` fields, because it still holds its place in the queue.
    """
    rows: list[tuple[int, str, bytes | None]] = []
    for node, data in nodes:
        token = contender_token(node)
        if token is not None:
            rows.append((token, node, data))
    rows.sort()
    contenders: list[Contender] = []
    for index, (token, node, data) in enumerate(rows):
        name: str | None = None
        host: str | None = None
        pid: int | None = None
        since: float | None = None
        if data is not None:
            try:
                name, host, pid, since = parse_contender_data(data)
            except StandbyDataError:
                pass
        contenders.append(Contender(node, token, name, host, pid, since, index == 0))
    return contenders


def encode_context(
    value: bytes | JSONValue, *, token: int, saved_at: float, host: str, pid: int
) -> bytes:
    """The context node's data; :class:`ContextTooLargeError` over :data:`MAX_CONTEXT_BYTES`."""
    fmt: Literal["bytes", "json"]
    if isinstance(value, (bytes, bytearray, memoryview)):
        payload = bytes(value)
        fmt = "bytes"
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise StandbyDataError(
                f"context of type {type(value).__name__!r} cannot be saved: it must be bytes or "
                f"a JSON-serialisable value ({exc})"
            ) from exc
        payload = text.encode("utf-8")
        fmt = "json"
    if len(payload) > MAX_CONTEXT_BYTES:
        raise ContextTooLargeError(len(payload))
    header = {
        "format": fmt,
        "token": token,
        "saved_at": round(saved_at, 6),
        "host": host,
        "pid": pid,
        "size": len(payload),
    }
    return json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n" + payload


def decode_context(data: bytes | None) -> SavedContext | None:
    """The saved context, or None for an empty/missing node; StandbyDataError if malformed."""
    if not data:
        return None
    head, sep, payload = data.partition(b"\n")
    try:
        header = json.loads(head.decode("utf-8")) if sep else None
    except (UnicodeDecodeError, ValueError):
        header = None
    if not isinstance(header, dict):
        raise StandbyDataError(f"context data {data[:80]!r} has no valid header line")
    fmt, token, saved_at = header.get("format"), header.get("token"), header.get("saved_at")
    host, pid, size = header.get("host"), header.get("pid"), header.get("size")
    if (
        fmt not in ("bytes", "json")
        or not isinstance(token, int)
        or not isinstance(saved_at, (int, float))
        or not isinstance(host, str)
        or not isinstance(pid, int)
        or size != len(payload)
    ):
        raise StandbyDataError(f"context header {head[:200]!r} is malformed or truncated")
    value: bytes | JSONValue
    if fmt == "bytes":
        value = payload
    else:
        try:
            value = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise StandbyDataError(f"context payload {payload[:80]!r} is not valid JSON") from exc
    return SavedContext(value, token, float(saved_at), host, pid, len(payload))
