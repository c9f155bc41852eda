"""The name rule of :mod:`disconf_core.names` checked against the real ZooKeeper.

For names drawn from every class of code points (ASCII, both control ranges, the rest of the
BMP below the surrogates, surrogates, private use, U+F900-U+FFEF, the specials, and everything
above U+FFFF), :func:`zookeeper_refusal` says "stored" exactly when ZooKeeper creates the node.
A name that cannot even be sent (a lone surrogate is not UTF-8) counts as refused: nothing can
store it. ``/`` is left out here (it makes a deeper path, not a bad name; see test_names.py).

And the other way round: for any coordinates and file name or item key the rules accept, the
server's notification path (``config_node``) can be created on the real ZooKeeper.
"""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadArgumentsError,
    ConnectionLoss,
    NodeExistsError,
    SessionExpiredError,
)
from kazoo.protocol.serialization import Create
from kazoo.security import OPEN_ACL_UNSAFE

from disconf_core import (
    ConfigType,
    Coordinates,
    config_node,
    validate_config_name,
    zookeeper_refusal,
)
from tests.helpers import wait_until

CLASSES = {
    "ascii": st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="/"),
    "c0": st.characters(min_codepoint=0x00, max_codepoint=0x1F),
    "del+c1": st.characters(min_codepoint=0x7F, max_codepoint=0x9F),
    "bmp-low": st.characters(min_codepoint=0xA0, max_codepoint=0xD7FF),
    "surrogates": st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]),
    "private-use": st.characters(min_codepoint=0xE000, max_codepoint=0xF8FF),
    "bmp-high": st.characters(min_codepoint=0xF900, max_codepoint=0xFFEF),
    "specials": st.characters(min_codepoint=0xFFF0, max_codepoint=0xFFFF),
    "astral": st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
}

NAMES = st.one_of(
    st.sampled_from([".", "..", "...", ".a", "a."]),
    st.text(st.one_of(*CLASSES.values()), min_size=1, max_size=6),
)


# Bound on one create round trip to the local ZooKeeper.
CREATE_TIMEOUT = 10.0


def zookeeper_stores(zk: KazooClient, name: str) -> bool:
    """Create ``/<name>`` on the real ZooKeeper: True if it was stored (then removed again).

    The request is sent as kazoo's ``create`` sends it but without kazoo's client-side path
    normalisation (which itself refuses ``.`` and ``..``), so the server is the one to decide.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not UTF-8, cannot be sent at all
        return False
    for _attempt in range(3):
        result = zk.handler.async_result()
        try:
            zk._call(Create(f"{zk.chroot}/{name}", b"", OPEN_ACL_UNSAFE, 0), result)
            result.get(timeout=CREATE_TIMEOUT)
        except BadArgumentsError:
            return False
        except NodeExistsError:
            pass  # stored by the try before, whose answer was lost with the connection
        except (ConnectionLoss, SessionExpiredError):
            # The test's own session, not the name: a machine that stalled longer than the
            # session timeout expires it (kazoo starts a new one). Ask again once connected.
            wait_until(lambda: zk.connected, 60, message="the test's ZooKeeper session back")
            continue
        zk.retry(zk.delete, f"/{name}")
        return True
    raise AssertionError(f"no answer about {name!r}: the connection was lost three times")


@pytest.mark.parametrize("name", [char for char in ("a", "\x85", "\U0001f600")])
def test_the_probe_itself_tells_stored_from_refused(zk: KazooClient, name: str) -> None:
    assert zookeeper_stores(zk, name) is (name == "a")


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=NAMES)
@example(name="\U0001f600.properties")
@example(name="\ud7ff\uf900\uffef\u00a0")
@example(name="\uf8ff")
@example(name="\ufff0")
@example(name="\x7f")
@example(name="\x9f")
def test_the_rule_accepts_exactly_what_zookeeper_stores(zk: KazooClient, name: str) -> None:
    stored = zookeeper_stores(zk, name)
    event("stored" if stored else "refused")
    assert (zookeeper_refusal(name) is None) is stored, name
    if zookeeper_refusal(name) is not None and name not in (".", ".."):
        with pytest.raises(ValueError, match=r"U\+[0-9A-F]{4}"):
            validate_config_name(name, "file")


SEGMENTS = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True).filter(
    lambda name: name not in (".", "..")
)
STORABLE_NAMES = st.text(
    st.one_of(CLASSES["ascii"], CLASSES["bmp-low"], CLASSES["bmp-high"]), min_size=1, max_size=40
).filter(lambda name: name not in (".", "..") and "\\" not in name)


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(app=SEGMENTS, version=SEGMENTS, env=SEGMENTS, name=STORABLE_NAMES, item=st.booleans())
def test_every_accepted_config_can_be_notified(
    zk: KazooClient, app: str, version: str, env: str, name: str, item: bool
) -> None:
    """Whatever the rules accept (coordinates and a file name or item key), the server's
    notification path for it can be created on the real ZooKeeper."""
    coords = Coordinates(app=app, version=version, env=env)
    kind = ConfigType.ITEM if item else ConfigType.FILE
    validate_config_name(name, kind.segment)
    path = config_node("/disconf", coords, kind, name)
    created = zk.create(path, b"v", makepath=True)
    assert created == path
    zk.delete("/disconf", recursive=True)
