"""Scale-out on loopback, with real processes: a 3-node ZooKeeper ensemble, two ``disconf-web
serve`` processes on one MySQL database, ``DisconfClient`` instances; then the failures: the
ZooKeeper leader, all of ZooKeeper, the database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
import sqlalchemy as sa

from bench.harness import WebServer
from disconf_web.embedded_zookeeper import ZooKeeperEnsemble
from tests.helpers import wait_until
from tests.tcp_proxy import TcpProxy

from .conftest import APP, ENV, VERSION, Watched, proxied

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

MakeWeb = Callable[..., WebServer]
Watch = Callable[[str, str], Watched]
QUERY = {"app": APP, "env": ENV, "version": VERSION}


def read_item(server: WebServer, key: str) -> requests.Response:
    return requests.get(server.url + "/api/config/item", params={**QUERY, "key": key}, timeout=10)


def read_file(server: WebServer, name: str) -> requests.Response:
    return requests.get(server.url + "/api/config/file", params={**QUERY, "key": name}, timeout=10)


def metric(server: WebServer, name: str) -> float:
    for line in requests.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.split(" ")[1])
    raise AssertionError(f"{name} not in /metrics")


def test_two_web_processes_and_zookeeper_leader_loss(
    ensemble: ZooKeeperEnsemble, mysql_url: str, make_web: MakeWeb, watch: Watch
) -> None:
    web1 = make_web(mysql_url, ensemble.hosts)
    web2 = make_web(mysql_url, ensemble.hosts)
    web1.ensure_app_env(APP, ENV)
    web1.publish_item(APP, ENV, VERSION, "rate", "1")
    client = watch(web2.url, "rate")
    assert client.value == "1"

    # Published through web 1, the same revision is read through web 2 at once (no wait).
    for i in range(5):
        assert web1.publish_item(APP, ENV, VERSION, "rate", f"v{i}") == "delivered"
        answer = read_item(web2, "rate")
        assert answer.json() == {"status": 1, "message": "", "value": f"v{i}"}
    web1.publish_file(APP, ENV, VERSION, "app.properties", "a=1\n")
    assert read_file(web2, "app.properties").content == b"a=1\n"
    wait_until(lambda: client.value == "v4", 20)

    leader = ensemble.leader()
    assert leader is not None
    leader.stop()
    # The ensemble re-elects; publishes (through either web process) keep reaching the client.
    for i, web in enumerate((web1, web2, web1)):
        web.publish_item(APP, ENV, VERSION, "rate", f"after-{i}")
        wait_until(lambda i=i: client.value == f"after-{i}", 60)
    wait_until(lambda: "after-2" in client.seen, 30)  # the callback runs after the swap
    wait_until(lambda: metric(web1, "disconf_notifications_pending") == 0, 30)


def test_all_of_zookeeper_down_then_back(
    ensemble: ZooKeeperEnsemble, mysql_url: str, make_web: MakeWeb, watch: Watch
) -> None:
    web1 = make_web(mysql_url, ensemble.hosts)
    web2 = make_web(mysql_url, ensemble.hosts)
    web1.ensure_app_env(APP, ENV)
    for key in ("a", "b"):
        web1.publish_item(APP, ENV, VERSION, key, "0")
    clients = [watch(web.url, key) for web in (web1, web2) for key in ("a", "b")]
    assert all(c.value == "0" for c in clients)

    ensemble.stop()
    wait_until(lambda: not any(c.client.zk_connected for c in clients), 30)
    # Clients keep serving their last values; the admin API still accepts changes.
    states = [web1.publish_item(APP, ENV, VERSION, "a", f"a{i}") for i in range(3)]
    states += [web2.publish_item(APP, ENV, VERSION, "b", f"b{i}") for i in range(3)]
    assert states == ["pending"] * 6
    assert all(c.value == "0" for c in clients)
    assert metric(web1, "disconf_notifications_pending") == 6
    assert read_item(web2, "a").json()["value"] == "a2"  # the database has them

    ensemble.start()
    # Every client converges to the latest revision; every notification is delivered.
    for c in clients:
        wait_until(lambda c=c: c.value == ("a2" if c.key == "a" else "b2"), 90)
    wait_until(lambda: metric(web2, "disconf_notifications_pending") == 0, 60)
    assert metric(web2, "disconf_notifications_delivered_total") >= 8


def test_database_down(
    ensemble: ZooKeeperEnsemble,
    mysql_url: str,
    mysql_proxy: TcpProxy,
    make_web: MakeWeb,
    watch: Watch,
) -> None:
    url = proxied(mysql_url, mysql_proxy)
    web1 = make_web(url, ensemble.hosts, workers=1)
    web2 = make_web(url, ensemble.hosts, workers=1)
    web1.ensure_app_env(APP, ENV)
    web1.publish_item(APP, ENV, VERSION, "rate", "7")
    web1.publish_file(APP, ENV, VERSION, "app.properties", "a=1\n")
    client = watch(web2.url, "rate")
    for web in (web1, web2):  # each web process serves them once (what it can fall back to)
        assert read_item(web, "rate").json()["value"] == "7"
        assert read_file(web, "app.properties").content == b"a=1\n"

    engine = sa.create_engine(mysql_url)
    try:
        with engine.connect() as connection:
            before = connection.execute(sa.text("SELECT COUNT(*) FROM config_revisions")).scalar()
        mysql_proxy.cut()
        for web in (web1, web2):
            # Reads of already-published configs keep working from the web tier's cache.
            item = read_item(web, "rate")
            assert item.json() == {"status": 1, "message": "", "value": "7"}
            assert item.headers["ETag"]
            assert read_file(web, "app.properties").content == b"a=1\n"
            # Writes get a clear 503 JSON error.
            answer = web.api(
                "PUT", f"/apps/{APP}/envs/{ENV}/versions/{VERSION}/items/rate", json={"value": "8"}
            )
            assert answer.status_code == 503
            assert "database unavailable" in answer.json()["error"]
            # Not ready for writes, still ready for client reads (it holds last-served values).
            assert requests.get(web.url + "/readyz/writes", timeout=30).status_code == 503
            assert requests.get(web.url + "/readyz", timeout=30).status_code == 200
        assert client.value == "7"
        mysql_proxy.restore()
        # Nothing half-written: no revision, the old value; and writes work again.
        with engine.connect() as connection:
            after = connection.execute(sa.text("SELECT COUNT(*) FROM config_revisions")).scalar()
        assert after == before
        wait_until(lambda: read_item(web2, "rate").json()["value"] == "7", 30)
        wait_until(lambda: web1.api("GET", f"/apps/{APP}").status_code == 200, 30)
        web1.publish_item(APP, ENV, VERSION, "rate", "9")
        wait_until(lambda: client.value == "9", 30)
    finally:
        engine.dispose()
