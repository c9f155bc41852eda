"""``GET /metrics``: Prometheus text, DB-derived notification/publish series, client fetches by
endpoint, latency histogram, instances per config from ZooKeeper, outages, gunicorn workers."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from kazoo.client import KazooClient
from prometheus_client.parser import text_string_to_metric_families

from disconf_web import create_app, shutdown_app
from disconf_web.embedded_zookeeper import free_port
from disconf_web.metrics import CONTENT_TYPE
from disconf_web.migrate import upgrade
from tests.helpers import wait_until
from tests.plugins.web import LiveServer

from .conftest import Tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    return samples.get((metric, tuple(sorted(labels.items()))), 0.0)


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == CONTENT_TYPE
    return parse(response.get_data(as_text=True))


def test_publishes_notifications_fetches_and_latency(
    app: Flask, client: FlaskClient, tokens: Tokens
) -> None:
    before = scrape(client)
    admin = tokens.headers("admin")
    assert client.put(f"{BASE}/items/rate", json={"value": "1"}, headers=admin).status_code == 201
    assert client.put(f"{BASE}/items/rate", json={"value": "2"}, headers=admin).status_code == 200
    assert client.put(f"{BASE}/files/a.properties", data=b"x=1", headers=admin).status_code == 201
    query = {"app": "demo", "env": "dev", "version": "1_0_0"}
    for _ in range(3):
        assert (
            client.get("/api/config/item", query_string={**query, "key": "rate"}).json["status"]
            == 1
        )
    assert client.get("/api/config/item", query_string={**query, "key": "nope"}).json["status"] == 0
    assert client.get("/api/config/file", query_string={**query, "key": "a.properties"}).data
    assert client.get("/api/zoo/hosts").status_code == 200

    after = scrape(client)
    # Database truth: 2 creates + 1 update; ZooKeeper is disabled, so all 3 stay pending.
    assert value(after, "disconf_publishes_total", action="create") == 2
    assert value(after, "disconf_publishes_total", action="update") == 1
    assert value(after, "disconf_notifications_pending") == 3
    assert value(after, "disconf_notifications_delivered_total") == 0
    assert value(after, "disconf_notifications_failed") == 0
    assert value(after, "disconf_notifications_oldest_pending_seconds") >= 0
    assert value(after, "disconf_database_up") == 1
    assert value(after, "disconf_zookeeper_connected") == 0

    def delta(metric: str, /, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    fetches = "disconf_client_fetches_total"
    assert delta(fetches, endpoint="/api/config/item", outcome="found") == 3
    assert delta(fetches, endpoint="/api/config/item", outcome="not_found") == 1
    assert delta(fetches, endpoint="/api/config/file", outcome="found") == 1
    assert delta(fetches, endpoint="/api/zoo/hosts", outcome="ok") == 1
    latency = "disconf_http_request_duration_seconds_count"
    assert delta(latency, endpoint="client_api.config_item", method="GET") == 4
    assert delta("disconf_http_requests_total", endpoint="client_api.config_item", method="GET",
                 status="200") == 4  # fmt: skip
    # Scrapes are not counted, and unknown URLs share one bounded series.
    assert value(after, "disconf_http_requests_total", endpoint="metrics", method="GET",
                 status="200") == 0  # fmt: skip
    client.get("/random/scanner/path/1")
    client.get("/random/scanner/path/2")
    last = scrape(client)
    unmatched = [key for key in last if ("endpoint", "unmatched") in key[1]]
    assert unmatched and all(("endpoint", "unmatched") in key[1] for key in unmatched)
    assert not any("/random" in str(key) for key in last)


def test_instances_per_config_from_zookeeper(
    tmp_path: Path, zk_hosts: str, zk: KazooClient
) -> None:
    url = f"sqlite:///{tmp_path / 'disconf.sqlite'}"
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "ZK_HOSTS": zk_hosts})
    try:
        from .conftest import make_tokens

        admin = make_tokens(app).headers("admin")
        client = app.test_client()
        answer = client.put(f"{BASE}/items/rate", json={"value": "1"}, headers=admin)
        assert answer.status_code == 201
        client.put(f"{BASE}/files/a.properties", data=b"x=1", headers=admin)
        node = "/disconf/demo_1_0_0_dev/item/rate"
        wait_until(lambda: zk.exists(node) is not None, 10)
        for name in ("host1_1_aa", "host2_2_bb"):
            zk.create(f"{node}/{name}", b"1", ephemeral=True)
        wait_until(lambda: value(scrape(client), "disconf_zookeeper_connected") == 1, 10)

        def instances() -> float:
            labels = {"app": "demo", "env": "dev", "version": "1_0_0", "type": "item"}
            return value(scrape(client), "disconf_config_instances", **labels, name="rate")

        wait_until(lambda: instances() == 2, 10)
        samples = scrape(client)
        file_labels = {"app": "demo", "env": "dev", "version": "1_0_0", "type": "file"}
        assert value(samples, "disconf_config_instances", **file_labels, name="a.properties") == 0
        wait_until(lambda: value(scrape(client), "disconf_notifications_pending") == 0, 10)
        assert value(scrape(client), "disconf_notifications_delivered_total") == 2
        zk.delete(f"{node}/host1_1_aa")
        wait_until(lambda: instances() == 1, 10)
    finally:
        shutdown_app(app)


def test_database_down_scrape_still_answers() -> None:
    url = f"mysql+pymysql://root@127.0.0.1:{free_port()}/nowhere?connect_timeout=2"
    app = create_app({"TESTING": True, "DATABASE_URL": url, "ZK_ENABLED": False})
    try:
        samples = scrape(app.test_client())
        assert value(samples, "disconf_database_up") == 0
        assert ("disconf_notifications_pending", ()) not in samples
    finally:
        shutdown_app(app)


@pytest.mark.slow
def test_gunicorn_workers_are_summed(tmp_path: Path, zk_hosts: str) -> None:
    """Several workers serve the fetches; any worker's /metrics answers the total."""
    server = LiveServer(tmp_path / "server", zk_hosts, workers=3)
    try:
        server.start()
        server.publish_item("demo", "dev", "1_0_0", "rate", "1")
        params = {"app": "demo", "env": "dev", "version": "1_0_0", "key": "rate"}
        for _ in range(30):
            # A fresh connection each time, so the requests spread over the workers.
            assert requests.get(server.url + "/api/config/item", params=params, timeout=10).ok
        for _ in range(5):
            text = requests.get(server.url + "/metrics", timeout=10).text
            samples = parse(text)
            found = value(
                samples, "disconf_client_fetches_total", endpoint="/api/config/item",
                outcome="found",
            )  # fmt: skip
            assert found == 30
            assert value(samples, "disconf_publishes_total", action="create") == 1
    finally:
        server.close()
