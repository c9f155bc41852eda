"""The node data trailer (disconf_core.notification): what a client applies without a download."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from disconf_core import ConfigType, file_notification_data
from disconf_core.notification import (
    content_from_node,
    fetch_marked,
    file_node_data,
    item_node_data,
    read_trailer,
    trailer,
)
from disconf_web.services.configs import MAX_NOTIFICATION_BYTES, notification_data

FILE, ITEM = ConfigType.FILE, ConfigType.ITEM


@given(st.text())
def test_a_whole_file_is_applied_and_stays_a_json_string(content: str) -> None:
    data = notification_data(FILE, content).encode("utf-8")  # st.text(): no lone surrogates
    assert json.loads(data) == content  # the trailer is JSON whitespace: spec payload intact
    assert read_trailer(data)[0] == file_notification_data(content)
    assert content_from_node(FILE, data) == content.encode("utf-8")


def test_a_file_without_trailer_is_fetched() -> None:
    """The original server (and older versions of ours) write the bare payload."""
    assert content_from_node(FILE, file_notification_data("a=1\n")) is None


def test_a_digest_mismatch_is_fetched() -> None:
    good = file_node_data(b'"a=1\\n"', complete=True)
    assert content_from_node(FILE, good) == b"a=1\n"
    assert content_from_node(FILE, b'"a=2' + good[4:]) is None  # same trailer, other payload
    forged = b'"a=2\\n"' + trailer(b'"a=1\\n"', complete=True)
    assert content_from_node(FILE, forged) is None


def test_truncated_data_is_fetched() -> None:
    data = file_node_data(b'"a=1\\nb=2\\n"', complete=True)
    for cut in range(len(data)):
        assert content_from_node(FILE, data[:cut]) is None


def test_a_cut_payload_carries_the_fetch_mark() -> None:
    big = "k=" + "x" * MAX_NOTIFICATION_BYTES
    data = notification_data(FILE, big).encode()
    assert read_trailer(data)[1] == b"dcF"
    assert content_from_node(FILE, data) is None
    item = notification_data(ITEM, big).encode()
    assert read_trailer(item)[1] == b"dcF"
    assert content_from_node(ITEM, item) is None
    # a server writing no trailer cuts items to the limit: never applied at that length
    assert content_from_node(ITEM, big.encode()[:MAX_NOTIFICATION_BYTES]) is None


def test_items_are_applied_raw_unless_marked() -> None:
    assert notification_data(ITEM, "0.75") == "0.75"  # the spec's payload, byte for byte
    assert content_from_node(ITEM, b"0.75") == b"0.75"
    assert content_from_node(ITEM, "中".encode()) == "中".encode()
    assert content_from_node(ITEM, b"") is None
    assert content_from_node(ITEM, None) is None
    assert content_from_node(ITEM, b"\xff") is None
    assert content_from_node(ITEM, item_node_data(b"0.75", complete=False)) is None


def test_fetch_mark_is_the_gray_release_hook() -> None:
    data = notification_data(FILE, "a=1\n").encode()
    marked = fetch_marked(data)
    assert json.loads(marked) == "a=1\n"
    assert content_from_node(FILE, marked) is None
    assert content_from_node(ITEM, fetch_marked(b"0.75")) is None
    assert read_trailer(fetch_marked(b"0.75"))[0] == b"0.75"
