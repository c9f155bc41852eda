"""Several first publishes into one new app x env x version at once, and a triple whose
ZooKeeper node name collides with it racing them (SQLite, MySQL through PyMySQL and
mysqlclient): every publish of the same triple succeeds, the colliding one gets the 409 naming
the other, and nothing answers 503 (the database's deadlock between the racing claims of the
node name and of the new config rows is retried, not reported)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from disconf_web.extensions import Database
from disconf_web.services.transactions import DEADLOCK_ATTEMPTS, run_transaction

from .conftest import Tokens

PUBLISHERS = 6
# demo x dev x "x_1" and demo_x x dev x "1" both spell the node demo_x_1_dev.
SAME = "/api/v1/apps/demo/envs/dev/versions/x_1/items"
COLLIDING = "/api/v1/apps/demo_x/envs/dev/versions/1/items/k"


def test_concurrent_first_publishes_into_one_new_version(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    admin = tokens.headers("admin")
    assert client.post("/api/v1/apps", json={"name": "demo_x"}, headers=admin).status_code == 201
    urls = [f"{SAME}/k{n}" for n in range(PUBLISHERS)] + [COLLIDING]
    answers: dict[str, tuple[int, str]] = {}
    barrier = threading.Barrier(len(urls))

    def publish(url: str) -> None:
        own = app.test_client()
        barrier.wait(30)
        response = own.put(url, json={"value": "v"}, headers=admin)
        answers[url] = (response.status_code, response.get_data(as_text=True))

    threads = [threading.Thread(target=publish, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    assert len(answers) == len(urls), answers
    collider_status, collider_body = answers.pop(COLLIDING)
    statuses = sorted({status for status, _ in answers.values()})
    if collider_status == 201:  # the colliding triple claimed the node first
        assert statuses == [409], answers
        assert all("'demo_x'" in body for _, body in answers.values()), answers
    else:
        assert (collider_status, statuses) == (409, [201]), (collider_status, answers)
        assert "app 'demo' env 'dev' version 'x_1'" in collider_body, collider_body
    listing = client.get("/api/v1/apps/demo/envs/dev/versions/x_1/configs", headers=admin)
    names = sorted(row["name"] for row in listing.get_json()["configs"])
    assert names == ([] if collider_status == 201 else [f"k{n}" for n in range(PUBLISHERS)])


class _DriverError(Exception):
    """What PyMySQL and mysqlclient raise: the server's error number first."""


def _operational(number: int) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("INSERT ...", {}, _DriverError(number, "message"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_run_transaction_retries_only_deadlocks_and_a_bounded_number_of_times(
    migrated_url: str,
) -> None:
    database = Database(migrated_url)
    calls: list[int] = []

    def deadlock() -> None:
        calls.append(1213)
        raise _operational(1213)

    def lock_wait_timeout() -> None:
        calls.append(1205)
        raise _operational(1205)

    try:
        with database.new_session() as session:
            with pytest.raises(sa.exc.OperationalError):
                run_transaction(session, deadlock, conflict="c")
            assert calls == [1213] * DEADLOCK_ATTEMPTS
            calls.clear()
            with pytest.raises(sa.exc.OperationalError):
                run_transaction(session, lock_wait_timeout, conflict="c")
            assert calls == [1205]
            outcomes = iter([_operational(1213), None])

            def deadlock_once() -> str:
                error = next(outcomes)
                if error is not None:
                    raise error
                return "done"

            assert run_transaction(session, deadlock_once, conflict="c") == "done"
    finally:
        database.dispose()
