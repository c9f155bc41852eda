"""The client read cache (disconf_web.protocol.read_cache) and the read generation it relies on.

* The freshness gate: a request that arrives while a generation read is in flight is never
  answered by that read (it may have started before the request), even when a publish commits
  meanwhile; concurrent requests share one read.
* Every write path of the API bumps the generation, in the write's transaction, and a cached
  read right after it answers the new state (value, 404, 403).
* The engine hook: ORM commits and Core ``engine.begin()`` blocks bump, rollbacks and writes to
  tables the hot query does not read do not; a schema without the table still accepts writes
  and reads (the cache stays off).
* A failed gate read never lets a kept row through; an outage still answers last-served values.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from disconf_core import content_md5
from disconf_web import create_app, get_db, services, shutdown_app
from disconf_web.extensions import Database
from disconf_web.migrate import upgrade
from disconf_web.models import ReadGeneration
from disconf_web.protocol import get_protocol
from disconf_web.protocol.queries import ONE, READ_TABLES
from disconf_web.protocol.read_cache import FreshnessGate, ReadCache
from disconf_web.settings import DEFAULTS, SettingsError, check_settings
from tests.helpers import wait_until

from .conftest import Tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"
Q = "app=demo&env=dev&version=1_0_0"
ITEM = f"/api/config/item?{Q}&key=rate"
FILE = f"/api/config/file?{Q}&key=a.properties"
BOUND = 20.0  # seconds: every wait of these tests


def generation(app: Flask) -> int:
    with get_db(app).engine.connect() as connection:
        value = connection.execute(sa.select(ReadGeneration.value)).scalar_one()
    return int(value)


def put_item(client: FlaskClient, tokens: Tokens, value: str) -> None:
    answer = client.put(
        f"{BASE}/items/rate", json={"value": value}, headers=tokens.headers("admin")
    )
    assert answer.status_code in (200, 201), answer.get_data(as_text=True)


def item_value(client: FlaskClient, **headers: str) -> Any:
    return client.get(ITEM, headers=headers).json


def cache_of(app: Flask) -> ReadCache:
    cache = get_protocol(app).read_cache
    assert cache is not None
    return cache


# -- the gate on its own ---------------------------------------------------------------------


class HeldReads:
    """A generation source whose reads can be held: ``hold()`` makes the next read wait after
    reading its value, until ``release()``."""

    def __init__(self, read: Callable[[], int]) -> None:
        self.read = read
        self.calls = 0
        self.entered = threading.Event()
        self._release = threading.Event()
        self._release.set()

    def hold(self) -> None:
        self.entered.clear()
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    def __call__(self) -> int:
        self.calls += 1
        value = self.read()
        self.entered.set()
        assert self._release.wait(BOUND), "a held read was never released"
        return value


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    return thread, result


def test_a_request_arriving_during_a_read_waits_for_the_next_one() -> None:
    values = iter([1, 2])
    source = HeldReads(lambda: next(values))
    gate = FreshnessGate(source, wait_bound=BOUND)
    source.hold()
    early, early_result = _in_thread(gate.current)
    assert source.entered.wait(BOUND)  # round 1 read its value (1) and is held
    late, late_result = _in_thread(gate.current)
    wait_until(lambda: gate.waiting == 1, timeout=BOUND, message="the late request to wait")
    source.release()
    early.join(BOUND)
    late.join(BOUND)
    assert early_result == [1]
    assert late_result == [2]  # not round 1's value: that read started before it arrived
    assert gate.reads == 2


def test_concurrent_requests_share_one_read() -> None:
    values = iter([1, 2, 3])
    source = HeldReads(lambda: next(values))
    gate = FreshnessGate(source, wait_bound=BOUND)
    source.hold()
    first, _ = _in_thread(gate.current)
    assert source.entered.wait(BOUND)
    waiting = [_in_thread(gate.current) for _ in range(8)]
    wait_until(lambda: gate.waiting == 8, timeout=BOUND, message="eight requests to wait")
    source.release()
    first.join(BOUND)
    for thread, result in waiting:
        thread.join(BOUND)
        assert result == [2]  # all eight served by round 2
    assert source.calls == 2 and gate.reads == 2


def test_a_failed_read_answers_none_and_the_next_request_reads_again() -> None:
    calls: list[int] = []

    def read() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("SELECT", {}, Exception("database is down"))
        return 7

    gate = FreshnessGate(read, wait_bound=BOUND)
    assert gate.current() is None
    assert gate.current() == 7
    assert len(calls) == 2


def test_a_request_that_waited_while_a_read_ran_is_answered_by_it_without_another() -> None:
    values = iter([1, 2])
    gate = FreshnessGate(lambda: next(values), wait_bound=BOUND)
    arrived = time.monotonic()  # it arrived, then waited in the worker's queue ...
    assert gate.current() == 1  # ... while another request's read started and completed
    assert gate.current(arrived) == 1
    assert gate.reads == 1  # no read of its own
    assert gate.current(time.monotonic()) == 2  # one that arrived after that read: a new read
    assert gate.reads == 2


def test_a_request_that_arrived_before_the_read_in_flight_began_joins_it() -> None:
    values = iter([1, 2])
    second_may_end = threading.Event()

    def read() -> int:
        value = next(values)
        if value == 2:  # round 2 ends only after the joined request has its answer
            assert second_may_end.wait(BOUND), "round 2 was never let go"
        return value

    source = HeldReads(read)
    gate = FreshnessGate(source, wait_bound=BOUND)
    queued_since = time.monotonic()  # arrived before the read below starts
    source.hold()
    first, first_result = _in_thread(gate.current)
    assert source.entered.wait(BOUND)
    joined, joined_result = _in_thread(lambda: gate.current(queued_since))
    late, late_result = _in_thread(gate.current)  # arrived after the read began
    wait_until(lambda: gate.waiting == 2, timeout=BOUND, message="two requests to wait")
    source.release()
    first.join(BOUND)
    joined.join(BOUND)  # answered by round 1 while round 2 is still reading
    assert first_result == [1] and joined_result == [1]
    second_may_end.set()
    late.join(BOUND)
    assert late_result == [2]
    assert gate.reads == 2


def test_under_load_a_round_waits_for_the_other_app_threads_then_reads_once() -> None:
    source = HeldReads(lambda: source.calls)
    gate = FreshnessGate(source, wait_bound=4 * BOUND, gather=2 * BOUND, batch=3)
    source.hold()
    first, _ = _in_thread(gate.current)
    assert source.entered.wait(BOUND)
    second, _ = _in_thread(gate.current)  # arrives during round 1: round 2 answers it
    wait_until(lambda: gate.waiting == 1, timeout=BOUND, message="a request to wait")
    source.release()
    first.join(BOUND)
    second.join(BOUND)
    assert gate.reads == 2  # round 2 answered one request: no gathering yet
    source.hold()
    starter, starter_result = _in_thread(gate.current)
    # round 3 answers one request, and so did round 2: it reads at once, without gathering
    # (which would hold it 2 * BOUND): an idle server never waits
    assert source.entered.wait(BOUND)
    source.release()
    starter.join(BOUND)
    assert starter_result == [3] and gate.reads == 3
    # now a busy round: two requests arrive while round 4 reads
    source.hold()
    busy, _ = _in_thread(gate.current)
    assert source.entered.wait(BOUND)
    waiters = [_in_thread(gate.current) for _ in range(2)]
    wait_until(lambda: gate.waiting == 2, timeout=BOUND, message="two requests to wait")
    source.release()
    busy.join(BOUND)
    for thread, _result in waiters:
        thread.join(BOUND)
    assert gate.reads == 5  # round 5 answered both: the last round answered more than one
    # round 6 gathers: it starts only when the third of three requests has arrived
    source.hold()
    gathered = [_in_thread(gate.current) for _ in range(2)]
    wait_until(lambda: gate.waiting >= 1, timeout=BOUND, message="a request to wait")
    assert source.calls == 5  # held: two of three are here, no read yet
    third = _in_thread(gate.current)
    assert source.entered.wait(BOUND)
    source.release()
    for thread, result in [*gathered, third]:
        thread.join(BOUND)
        assert result == [6]  # the sixth read answered all three
    assert gate.reads == 6


# -- the gate inside the protocol, racing a publish -----------------------------------------


def test_a_publish_during_an_in_flight_gate_read_is_never_hidden(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    """The gate's read returned the old generation but is held; a publish commits; a request
    arriving now must not be answered by that round: it gets the new value."""
    put_item(client, tokens, "1")
    assert item_value(client)["value"] == "1"  # kept
    assert item_value(client)["value"] == "1"  # served from the cache
    protocol = get_protocol(app)
    gate = cache_of(app).gate
    source = HeldReads(gate.read)
    gate.read = source
    source.hold()
    early, early_answer = _in_thread(lambda: item_value(client))
    assert source.entered.wait(BOUND)  # round read the generation of value "1", held
    put_item(client, tokens, "2")  # commits (bumps the generation) while the round is held
    late, late_answer = _in_thread(lambda: item_value(client))
    wait_until(lambda: gate.waiting == 1, timeout=BOUND, message="the late request to wait")
    source.release()
    early.join(BOUND)
    late.join(BOUND)
    assert early_answer[0]["value"] == "1"  # it arrived before the publish: either is correct
    assert late_answer == [{"status": 1, "message": "", "value": "2"}]
    assert source.calls == 2
    assert protocol.read_cache is not None and len(protocol.read_cache) == 1


def test_kept_rows_answer_the_same_bytes_as_fresh_ones(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    put_item(client, tokens, "0.5")
    admin = tokens.headers("admin")
    assert client.put(f"{BASE}/files/a.properties", data=b"a=1\n", headers=admin).status_code == 201
    tag = '"' + content_md5(b"a=1\n") + '"'
    urls = [(ITEM, {}), (FILE, {}), (FILE, {"If-None-Match": tag})]
    fresh = [client.get(url, headers=h) for url, h in urls]
    gate = cache_of(app).gate
    reads = gate.reads
    kept = [client.get(url, headers=h) for url, h in urls]
    assert gate.reads > reads  # the second round was validated by the gate...
    assert len(cache_of(app)) == 2  # ... and answered from the two kept rows
    for one, other in zip(fresh, kept, strict=True):
        assert (one.status, list(one.headers), one.data) == (
            other.status,
            list(other.headers),
            other.data,
        )


# -- every write path bumps ------------------------------------------------------------------


def test_every_write_path_bumps_the_generation_and_the_next_read_sees_it(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    admin, editor = tokens.headers("admin"), tokens.headers("editor")
    item = f"{BASE}/items/rate"
    other = "/api/config/item?app=demo&env=dev&version=2_0_0&key=rate"
    steps: list[tuple[str, Callable[[], Any], Callable[[], bool]]] = []

    def step(name: str, write: Callable[[], Any], then: Callable[[], bool]) -> None:
        steps.append((name, write, then))

    step(
        "publish",
        lambda: client.put(item, json={"value": "1"}, headers=admin),
        lambda: item_value(client)["value"] == "1",
    )
    step(
        "publish again",
        lambda: client.put(item, json={"value": "2"}, headers=admin),
        lambda: item_value(client)["value"] == "2",
    )
    step(
        "rollback",
        lambda: client.post(f"{item}/rollback", json={"revision": 1}, headers=admin),
        lambda: item_value(client)["value"] == "1",
    )
    step(
        "copy",
        lambda: client.post(f"{BASE}/copy", json={"to_version": "2_0_0"}, headers=editor),
        lambda: client.get(other).get_json()["value"] == "1",
    )
    step(
        "bundle import",
        lambda: client.post(
            f"{BASE}/bundle", json=_bundle({"b.properties": "b=1\n"}), headers=admin
        ),
        lambda: client.get(f"/api/config/file?{Q}&key=b.properties").data == b"b=1\n",
    )

    def start_gray(content: str) -> Any:
        target = {"instances": ["canary"]}
        body = {"content": content, "target": target, "comment": "c"}
        return client.post(f"{BASE}/files/b.properties/gray", json=body, headers=editor)

    def canary_reads(content: bytes) -> bool:
        canary = {"X-Disconf-Instance": "canary"}
        return client.get(f"/api/config/file?{Q}&key=b.properties", headers=canary).data == content

    step("gray start", lambda: start_gray("b=2\n"), lambda: canary_reads(b"b=2\n"))
    step(
        "gray abort",
        lambda: client.post(f"{BASE}/files/b.properties/gray/abort", json={}, headers=editor),
        lambda: canary_reads(b"b=1\n"),
    )
    step("gray start again", lambda: start_gray("b=3\n"), lambda: canary_reads(b"b=3\n"))
    step(
        "gray promote",
        lambda: client.post(f"{BASE}/files/b.properties/gray/promote", json={}, headers=editor),
        lambda: client.get(f"/api/config/file?{Q}&key=b.properties").data == b"b=3\n",
    )
    credential: dict[str, str] = {}

    def set_credential() -> Any:
        answer = client.put("/api/v1/apps/demo/read-credential", headers=admin)
        credential["token"] = answer.get_json()["token"]
        return answer

    step("read credential set", set_credential, lambda: client.get(ITEM).status_code == 403)
    step(
        "read credential rotated",
        lambda: client.put("/api/v1/apps/demo/read-credential", headers=admin),
        lambda: (
            client.get(ITEM, headers={"X-Disconf-Read-Token": credential["token"]}).status_code
            == 403
        ),
    )
    step(
        "read credential cleared",
        lambda: client.delete("/api/v1/apps/demo/read-credential", headers=admin),
        lambda: item_value(client)["value"] == "1",
    )
    step(
        "delete",
        lambda: client.delete(item, headers=admin),
        lambda: item_value(client)["message"] == "cannot find this config",
    )
    step(
        "app creation",
        lambda: client.post("/api/v1/apps", json={"name": "shop"}, headers=admin),
        lambda: True,
    )
    step(
        "env creation",
        lambda: client.post("/api/v1/envs", json={"name": "prod"}, headers=admin),
        lambda: True,
    )
    for name, write, then in steps:
        # warm the cache: every read below runs twice, so the second is a kept-row candidate
        for url in (ITEM, other, f"/api/config/file?{Q}&key=b.properties"):
            client.get(url)
            client.get(url, headers={"X-Disconf-Instance": "canary"})
        before = generation(app)
        answer = write()
        assert answer.status_code in (200, 201, 204), f"{name}: {answer.get_data(as_text=True)}"
        assert generation(app) > before, f"{name} did not bump the read generation"
        assert then(), f"{name}: the next read answered the previous state"
    assert len(cache_of(app)) > 0  # the reads above did use the cache


def _bundle(files: dict[str, str]) -> dict[str, Any]:
    return {
        "format": "disconf-bundle",
        "format_version": 1,
        "manifest": [
            {"kind": "file", "name": name, "md5": content_md5(value.encode())}
            for name, value in files.items()
        ],
        "files": files,
    }


# -- the engine hook -------------------------------------------------------------------------


def test_the_watched_tables_are_the_hot_querys_tables() -> None:
    assert READ_TABLES == {"configs", "apps", "envs", "app_read_credentials", "gray_releases"}
    assert {c.table.name for c in ONE.selected_columns} <= READ_TABLES


def test_commits_bump_rollbacks_and_other_tables_do_not(app: Flask, tokens: Tokens) -> None:
    database = get_db(app)
    apps = sa.table("apps", sa.column("description"))
    start = generation(app)
    with database.engine.begin() as connection:  # Core, compiled
        connection.execute(sa.update(apps).values(description="core"))
    assert generation(app) == start + 1
    with database.engine.begin() as connection:  # Core, textual
        connection.execute(sa.text("UPDATE apps SET description = 'text'"))
    assert generation(app) == start + 2
    with database.engine.connect() as connection:  # commit as you go
        connection.execute(sa.update(apps).values(description="again"))
        connection.commit()
        connection.execute(sa.select(sa.literal(1)))
        connection.commit()  # a commit with nothing written since: no bump
    assert generation(app) == start + 3
    with pytest.raises(RuntimeError), database.engine.begin() as connection:
        connection.execute(sa.update(apps).values(description="rolled back"))
        raise RuntimeError("roll back")
    with database.engine.begin() as connection:  # reads only
        connection.execute(sa.select(sa.literal(1)))
    with database.new_session() as session:  # ORM: a write to a table the hot query never reads
        services.create_user(session, name="u2", password="password-1", role="viewer", actor="t")
    assert generation(app) == start + 3
    with database.new_session() as session:  # ORM: a service write to a watched table
        services.create_env(session, name="qa", actor="admin")
    assert generation(app) == start + 4
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.update(apps).values(description="autocommit"))  # no commit event
    assert generation(app) == start + 5
    with database.engine.begin() as connection:  # a savepoint rolled back: still counted
        nested = connection.begin_nested()
        connection.execute(sa.update(apps).values(description="nested"))
        nested.rollback()
    assert generation(app) == start + 6


def test_a_schema_without_the_generation_table_still_writes_and_reads(
    database_url: str, tmp_path: Any
) -> None:
    """Migration 0008 not applied (a node that could not migrate): writes commit without the
    bump and client reads run the untagged query (the cache stays off)."""
    upgrade(database_url, "0007")
    flask_app = create_app(
        {"TESTING": True, "DATABASE_URL": database_url, "ZK_ENABLED": False, "ZK_HOSTS": "zk:1"}
    )
    try:
        from .conftest import make_tokens

        tokens = make_tokens(flask_app)
        client = flask_app.test_client()
        put_item(client, tokens, "1")
        assert item_value(client)["value"] == "1"
        put_item(client, tokens, "2")
        assert item_value(client)["value"] == "2"
        assert len(cache_of(flask_app)) == 0
        assert cache_of(flask_app).tagging() is False
    finally:
        shutdown_app(flask_app)


# -- failures --------------------------------------------------------------------------------


@pytest.fixture
def side_engine(migrated_url: str) -> Iterator[sa.Engine]:
    """A plain engine without the hook: it changes rows without bumping the generation, so a
    kept row served anyway would show as the old value."""
    engine = sa.create_engine(migrated_url)
    try:
        yield engine
    finally:
        engine.dispose()


def test_a_failed_gate_read_never_serves_a_kept_row(
    app: Flask, client: FlaskClient, tokens: Tokens, side_engine: sa.Engine
) -> None:
    put_item(client, tokens, "1")
    assert item_value(client)["value"] == "1"  # kept
    with side_engine.begin() as connection:  # behind the hook's back
        connection.execute(sa.text("UPDATE configs SET value = 'changed' WHERE name = 'rate'"))
    assert item_value(client)["value"] == "1"  # the documented limit: unbumped writes

    def failing() -> int:
        raise sa.exc.OperationalError("SELECT", {}, Exception("database is down"))

    cache_of(app).gate.read = failing
    assert item_value(client)["value"] == "changed"  # the query ran: no kept row unvalidated
    assert item_value(client)["value"] == "changed"  # and again (the gate is bypassed now)


def test_an_outage_still_answers_the_last_served_value(
    app: Flask, client: FlaskClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_item(client, tokens, "0.5")
    assert item_value(client)["value"] == "0.5"
    assert item_value(client)["value"] == "0.5"
    database: Database = get_db(app)
    protocol = get_protocol(app)
    protocol.close()  # the gate's connection too goes through the (failing) pool now

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise sa.exc.OperationalError("SELECT", {}, Exception("database is down"))

    monkeypatch.setattr(database.reader, "raw_connection", down)
    answer = client.get(ITEM)
    assert answer.status_code == 200
    assert answer.data == b'{"status":1,"message":"","value":"0.5"}'
    never = client.get(f"/api/config/file?{Q}&key=never.properties")
    assert never.status_code == 503


def test_a_round_gathers_as_many_requests_as_a_worker_has_app_threads() -> None:
    from disconf_web.protocol.read_cache import GATHER_BATCH
    from disconf_web.serving import THREADS

    assert GATHER_BATCH == THREADS


@pytest.mark.parametrize("value", ["-1", "64MB", "1.5", 1.5, True, None])
def test_a_bad_cache_size_is_a_settings_error_naming_it(value: Any) -> None:
    config = dict(DEFAULTS, TESTING=True, READ_CACHE_MAX_BYTES=value)
    with pytest.raises(SettingsError, match=r"DISCONF_READ_CACHE_MAX_BYTES=.* is not a size"):
        check_settings(config)


@pytest.mark.parametrize(("value", "size"), [("0", 0), (0, 0), ("1048576", 1048576)])
def test_a_cache_size_of_zero_turns_the_cache_off(value: Any, size: int) -> None:
    config = dict(DEFAULTS, TESTING=True, READ_CACHE_MAX_BYTES=value)
    check_settings(config)
    assert config["READ_CACHE_MAX_BYTES"] == size
