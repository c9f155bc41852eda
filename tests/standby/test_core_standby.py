"""disconf_core.standby: the contender and context data formats (pure, no ZooKeeper)."""

from __future__ import annotations

import json

import pytest

from disconf_core import DisconfError
from disconf_core.standby import (
    MAX_CONTEXT_BYTES,
    Contender,
    ContextTooLargeError,
    StandbyDataError,
    contender_data,
    contender_token,
    decode_context,
    encode_context,
    parse_contender_data,
    parse_contenders,
)

UUID = "0123456789abcdef0123456789abcdef"


def test_contender_data_round_trip() -> None:
    data = contender_data("billing-job", "host-1", 4242, 1700000000.123456789)
    assert json.loads(data) == {
        "name": "billing-job",
        "host": "host-1",
        "pid": 4242,
        "since": 1700000000.123457,
    }
    assert parse_contender_data(data) == ("billing-job", "host-1", 4242, 1700000000.123457)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff", "not a JSON object"),
        (b"[1]", "not a JSON object"),
        (b"plain identifier", "not a JSON object"),
        (b'{"name":"j","host":1,"pid":1,"since":1}', "must be strings"),
        (b'{"name":"j","host":"h","pid":"7","since":1}', "bad 'pid' '7'"),
        (b'{"name":"j","host":"h","pid":true,"since":1}', "bad 'pid' True"),
        (b'{"name":"j","host":"h","pid":1,"since":"now"}', "bad 'since' 'now'"),
    ],
)
def test_parse_contender_data_refuses_malformed_data(data: bytes, message: str) -> None:
    with pytest.raises(StandbyDataError, match=message):
        parse_contender_data(data)


def test_contender_token() -> None:
    assert contender_token(f"{UUID}__lock__0000000042") == 42
    assert contender_token(f"{UUID}__lock__-2147483648") == -(2**31)  # as kazoo: int32 wrap
    assert contender_token("context") is None
    assert contender_token(f"{UUID}__lock__42") is None


def test_parse_contenders_orders_by_token_and_tolerates_foreign_nodes() -> None:
    good = contender_data("job", "h2", 2, 2.0)
    rows = parse_contenders(
        [
            (f"{UUID}__lock__0000000007", good),
            ("context", b"whatever"),
            (f"ffff{UUID[4:]}__lock__0000000003", b"someone else's identifier"),
            (f"eeee{UUID[4:]}__lock__0000000009", None),
        ]
    )
    assert [row.token for row in rows] == [3, 7, 9]
    assert rows[0] == Contender(
        f"ffff{UUID[4:]}__lock__0000000003", 3, None, None, None, None, is_master=True
    )
    assert rows[1].host == "h2" and rows[1].pid == 2 and not rows[1].is_master
    assert rows[1].to_json() == {
        "node": f"{UUID}__lock__0000000007",
        "token": 7,
        "name": "job",
        "host": "h2",
        "pid": 2,
        "since": 2.0,
        "is_master": False,
    }
    assert parse_contenders([]) == []


@pytest.mark.parametrize(
    "value", [{"offset": 12, "names": ["a", "日本"]}, [1, 2.5, None, True], "text", 0, None]
)
def test_json_context_round_trip(value: object) -> None:
    data = encode_context(value, token=5, saved_at=10.5, host="h", pid=9)  # type: ignore[arg-type]
    saved = decode_context(data)
    assert saved is not None
    assert (saved.value, saved.token, saved.saved_at, saved.host, saved.pid) == (
        value,
        5,
        10.5,
        "h",
        9,
    )


def test_bytes_context_round_trip_and_limit() -> None:
    payload = bytes(range(256)) * (MAX_CONTEXT_BYTES // 256)
    assert len(payload) == MAX_CONTEXT_BYTES
    saved = decode_context(encode_context(payload, token=1, saved_at=0, host="h", pid=1))
    assert saved is not None and saved.value == payload and saved.size == MAX_CONTEXT_BYTES
    with pytest.raises(ContextTooLargeError, match=r"524,289 bytes refused.*524,288") as info:
        encode_context(payload + b"x", token=1, saved_at=0, host="h", pid=1)
    assert info.value.size == MAX_CONTEXT_BYTES + 1
    assert isinstance(info.value, DisconfError) and isinstance(info.value, ValueError)
    big_json = {"blob": "x" * MAX_CONTEXT_BYTES}
    with pytest.raises(ContextTooLargeError, match="524,299 bytes"):
        encode_context(big_json, token=1, saved_at=0, host="h", pid=1)


@pytest.mark.parametrize("value", [object(), {1, 2}, float("nan"), {"k": b"bytes inside"}])
def test_unserialisable_context_is_refused_by_type(value: object) -> None:
    with pytest.raises(StandbyDataError, match=repr(type(value).__name__)):
        encode_context(value, token=1, saved_at=0, host="h", pid=1)  # type: ignore[arg-type]


def test_decode_context_empty_and_malformed() -> None:
    assert decode_context(b"") is None
    assert decode_context(None) is None
    with pytest.raises(StandbyDataError, match="no valid header"):
        decode_context(b"just some bytes")
    with pytest.raises(StandbyDataError, match="malformed or truncated"):
        good = encode_context({"a": 1}, token=1, saved_at=0, host="h", pid=1)
        decode_context(good[:-1])
    with pytest.raises(StandbyDataError, match="not valid JSON"):
        header = b'{"format":"json","token":1,"saved_at":0,"host":"h","pid":1,"size":3}'
        decode_context(header + b"\n{x}")
