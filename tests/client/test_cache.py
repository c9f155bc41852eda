from __future__ import annotations

from pathlib import Path

import pytest

from disconf_client import LocalSnapshot, SnapshotCorruptError
from disconf_core import ConfigType, InvalidNameError


def test_roundtrip_and_layout(tmp_path: Path) -> None:
    store = LocalSnapshot(tmp_path)
    store.write(ConfigType.FILE, "redis.properties", b"a=1\n")
    store.write(ConfigType.ITEM, "rate", b"0.5")
    assert (tmp_path / "redis.properties").read_bytes() == b"a=1\n"
    assert (tmp_path / "items" / "rate").read_bytes() == b"0.5"
    assert store.read(ConfigType.FILE, "redis.properties") == b"a=1\n"
    assert store.read(ConfigType.ITEM, "rate") == b"0.5"
    assert store.read(ConfigType.FILE, "missing") is None
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_truncated_or_corrupted_is_detected(tmp_path: Path) -> None:
    store = LocalSnapshot(tmp_path)
    store.write(ConfigType.FILE, "a.properties", b"key=value\nother=1\n")
    (tmp_path / "a.properties").write_bytes(b"key=value\not")
    with pytest.raises(SnapshotCorruptError, match="corrupted or truncated"):
        store.read(ConfigType.FILE, "a.properties")
    store.write(ConfigType.FILE, "b", b"x")
    (tmp_path / ".md5" / "file" / "b").unlink()
    with pytest.raises(SnapshotCorruptError, match="no readable MD5"):
        store.read(ConfigType.FILE, "b")


def test_names_validated(tmp_path: Path) -> None:
    with pytest.raises(InvalidNameError, match="'..'"):
        LocalSnapshot(tmp_path).write(ConfigType.FILE, "..", b"x")
