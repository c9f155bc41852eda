"""The admin API's master/standby view, against real ZooKeeper and real ActiveStandby contenders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from kazoo.client import KazooClient

from disconf_client.standby import ActiveStandby, CoordinatorUnavailableError
from disconf_core import Coordinates
from disconf_web import create_app, get_notifier, shutdown_app
from disconf_web.migrate import upgrade
from tests.helpers import wait_until
from tests.web.conftest import Tokens, make_tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0/standby"
COORDS = Coordinates("demo", "1_0_0", "dev")


def make_web(tmp_path: Path, zk_hosts: str, enabled: bool = True) -> Flask:
    url = f"sqlite:///{tmp_path / 'disconf.sqlite'}"
    upgrade(url)
    return create_app(
        {"TESTING": True, "DATABASE_URL": url, "ZK_HOSTS": zk_hosts, "ZK_ENABLED": enabled}
    )


@pytest.fixture
def web(tmp_path: Path, zk_hosts: str) -> Iterator[tuple[Flask, Tokens]]:
    app = make_web(tmp_path, zk_hosts)
    try:
        tokens = make_tokens(app)
        get_notifier(app).ensure_started()
        wait_until(lambda: get_notifier(app).connected, 20)
        yield app, tokens
    finally:
        shutdown_app(app)


def test_lists_elections_contenders_and_context(
    web: tuple[Flask, Tokens], zk_hosts: str, zk: KazooClient
) -> None:
    app, tokens = web
    client = app.test_client()
    assert client.get(BASE, headers=tokens.headers("viewer")).get_json()["elections"] == []

    jobs = [
        ActiveStandby("job", coords=COORDS, zk_hosts=zk_hosts, session_timeout=2).start()
        for _ in range(2)
    ]
    report = ActiveStandby("report", coords=COORDS, client=zk).start()
    try:
        master = wait_until(lambda: [j for j in jobs if j.is_master], 10)[0]
        wait_until(
            lambda: report.is_master and len(master.contenders()) == 2,
            10,
            retry_on=(CoordinatorUnavailableError,),
        )
        master.save_context({"offset": 7})

        body = client.get(BASE, headers=tokens.headers("viewer")).get_json()
        assert body["path"] == "/disconf/demo_1_0_0_dev/standby"
        assert [e["name"] for e in body["elections"]] == ["job", "report"]
        job = body["elections"][0]
        assert job["master"]["token"] == master.token
        assert [c["is_master"] for c in job["contenders"]] == [True, False]
        assert all(c["pid"] and c["host"] and c["since"] for c in job["contenders"])
        assert job["context"]["token"] == master.token and job["context"]["format"] == "json"
        assert job["context"]["size"] == len(b'{"offset":7}')
        assert "value" not in job["context"]

        one = client.get(f"{BASE}/job", headers=tokens.headers("admin"))
        assert one.status_code == 200 and one.get_json()["contenders"] == job["contenders"]

        master.stop()
        successor = next(j for j in jobs if j is not master)
        wait_until(lambda: successor.is_master, 5)
        after = client.get(f"{BASE}/job", headers=tokens.headers("admin")).get_json()
        assert [c["token"] for c in after["contenders"]] == [successor.token]
    finally:
        for election in (*jobs, report):
            election.stop()


def test_errors(web: tuple[Flask, Tokens]) -> None:
    app, tokens = web
    client = app.test_client()
    missing = client.get(f"{BASE}/nothing", headers=tokens.headers("admin"))
    assert missing.status_code == 404 and "'nothing'" in missing.get_json()["error"]
    bad = client.get(f"{BASE}/..", headers=tokens.headers("admin"))
    assert bad.status_code in (400, 404)
    assert client.get(BASE).status_code == 401
    assert client.get(BASE, headers=tokens.headers("outsider")).status_code == 403
    bad_env = client.get(
        "/api/v1/apps/demo/envs/d$v/versions/1/standby", headers=tokens.headers("admin")
    )
    assert bad_env.status_code == 400 and "'d$v'" in bad_env.get_json()["error"]


def test_zookeeper_unavailable_is_503(tmp_path: Path, zk_hosts: str) -> None:
    app = make_web(tmp_path, zk_hosts, enabled=False)
    try:
        tokens = make_tokens(app)
        answer = app.test_client().get(BASE, headers=tokens.headers("admin"))
        assert answer.status_code == 503
        assert "ZooKeeper" in answer.get_json()["error"]
    finally:
        shutdown_app(app)
