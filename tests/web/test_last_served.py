"""The last-served store (disconf_web.protocol.last_served): bounded in memory and on disk,
written only on change and atomically, loaded at start, corrupt copies ignored."""

from __future__ import annotations

from pathlib import Path

from disconf_core import content_md5
from disconf_web.protocol import LastServed, Served
from disconf_web.protocol.last_served import ENTRY_OVERHEAD


def served(value: str, credential: str | None = None) -> Served:
    return Served(value, content_md5(value), credential)


def key(name: str) -> tuple[str, str, str, int, str]:
    return ("demo", "dev", "1_0_0", 1, name)


def test_survives_a_restart_through_its_disk_copy(tmp_path: Path) -> None:
    store = LastServed(1 << 20, tmp_path)
    store.put(key("rate"), served("0.5", "hash"))
    store.put(key("中文"), served("ünï"))
    assert not list(tmp_path.glob(".tmp-*"))  # atomic: no temporary file left behind
    again = LastServed(1 << 20, tmp_path)
    assert again.get(key("rate")) == served("0.5", "hash")
    assert again.get(key("中文")) == served("ünï")
    store.discard(key("rate"))
    assert LastServed(1 << 20, tmp_path).get(key("rate")) is None


def test_writes_only_when_the_value_changes(tmp_path: Path) -> None:
    store = LastServed(1 << 20, tmp_path)
    store.put(key("rate"), served("0.5"))
    (copy,) = tmp_path.glob("*.json")
    copy.write_text("marker")  # would be replaced by any further write
    store.put(key("rate"), served("0.5"))
    assert copy.read_text() == "marker"
    store.put(key("rate"), served("0.6"))
    assert "0.6" in copy.read_text()


def test_bounded_in_memory_and_on_disk(tmp_path: Path) -> None:
    bound = 4 * (ENTRY_OVERHEAD + 100)
    store = LastServed(bound, tmp_path)
    for n in range(20):
        store.put(key(f"k{n}"), served(f"{n:0100d}"))
    assert 0 < len(store) <= 4
    assert store.get(key("k19")) is not None and store.get(key("k0")) is None
    assert sum(p.stat().st_size for p in tmp_path.glob("*.json")) <= bound
    store.put(key("huge"), served("x" * bound))  # larger than the bound: not kept at all
    assert store.get(key("huge")) is None
    assert len(LastServed(bound, tmp_path)) <= 4


def test_corrupt_or_tampered_copies_are_ignored(tmp_path: Path) -> None:
    store = LastServed(1 << 20, tmp_path)
    store.put(key("a"), served("1"))
    store.put(key("b"), served("2"))
    first, second = sorted(tmp_path.glob("*.json"))
    first.write_bytes(first.read_bytes()[:10])  # truncated
    second.write_text(second.read_text().replace('"value": "', '"value": "x'))  # MD5 mismatch
    (tmp_path / "other.json").write_text("[]")
    assert len(LastServed(1 << 20, tmp_path)) == 0
    assert not list(tmp_path.glob("*.json"))  # dropped, not kept to be read again


def test_disk_errors_never_fail_a_read(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the directory should be")
    store = LastServed(1 << 20, blocked)
    store.put(key("rate"), served("0.5"))
    assert store.get(key("rate")) == served("0.5")
