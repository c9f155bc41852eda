"""A real ``disconf-web serve`` node restarted while its database hangs still starts, is ready
for client reads and answers the values it served before (its last-served copy on disk), while
writes answer 503. The database hangs in two ways: a proxy that accepts and never answers, and
the same proxy process paused (SIGSTOP)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from bench.harness import WebServer
from tests.web.fault_proxy import FaultProxy

from .conftest import APP, ENV, VERSION, proxied

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

QUERY = {"app": APP, "env": ENV, "version": VERSION}
# Short database bounds keep the test quick (the readiness poll waits 2 s per request).
BOUNDS = {
    "DISCONF_DB_CONNECT_TIMEOUT": "0.5",
    "DISCONF_DB_READ_TIMEOUT": "1",
    "DISCONF_DB_WRITE_TIMEOUT": "1",
    "DISCONF_DB_POOL_TIMEOUT": "1",
}


@pytest.fixture
def fault_proxy(mysql_url: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(sa.make_url(mysql_url).port or 3306)
    try:
        yield proxy
    finally:
        proxy.stop()


def read(web: WebServer, path: str, key: str) -> requests.Response:
    return requests.get(web.url + path, params={**QUERY, "key": key}, timeout=30)


@pytest.mark.parametrize("kind", ["black-hole", "paused"])
def test_a_node_restarted_while_the_database_hangs_serves_what_it_served(
    kind: str,
    mysql_url: str,
    fault_proxy: FaultProxy,
    zk_hosts: str,
    make_web: Callable[..., WebServer],
    tmp_path: Path,
) -> None:
    web = make_web(proxied(mysql_url, fault_proxy), zk_hosts, workers=1)
    web.extra_env.update(BOUNDS, DISCONF_LAST_SERVED_DIR=str(tmp_path / "last-served"))
    web.stop()
    web.start()
    web.ensure_app_env(APP, ENV)
    web.publish_item(APP, ENV, VERSION, "rate", "7")
    web.publish_file(APP, ENV, VERSION, "app.properties", "a=1\n")
    assert read(web, "/api/config/item", "rate").json()["value"] == "7"
    assert read(web, "/api/config/file", "app.properties").content == b"a=1\n"

    if kind == "black-hole":
        fault_proxy.black_hole()
    else:
        fault_proxy.pause()
    try:
        web.stop()
        web.start()  # waits for /readyz 200: ready for client reads without a database
        item = read(web, "/api/config/item", "rate")
        assert item.status_code == 200
        assert item.content == b'{"status":1,"message":"","value":"7"}'
        assert read(web, "/api/config/file", "app.properties").content == b"a=1\n"
        assert requests.get(web.url + "/readyz/writes", timeout=30).status_code == 503
        answer = requests.put(
            f"{web.url}/api/v1/apps/{APP}/envs/{ENV}/versions/{VERSION}/items/rate",
            json={"value": "8"},
            headers={"Authorization": f"Bearer {web.admin_token}"},
            timeout=30,
        )
        assert answer.status_code == 503
        assert "database unavailable" in answer.json()["error"]
    finally:
        fault_proxy.restore()


def test_concurrent_requests_while_the_database_hangs_are_all_answered(
    mysql_url: str,
    fault_proxy: FaultProxy,
    zk_hosts: str,
    make_web: Callable[..., WebServer],
    tmp_path: Path,
) -> None:
    """Many requests at once against a hung database never pile up on the worker threads: every
    one is answered (reads with the last-served value, writes 503, probes) within the bounds."""
    web = make_web(proxied(mysql_url, fault_proxy), zk_hosts, workers=1)
    web.extra_env.update(BOUNDS, DISCONF_LAST_SERVED_DIR=str(tmp_path / "last-served"))
    web.stop()
    web.start()
    web.ensure_app_env(APP, ENV)
    web.publish_item(APP, ENV, VERSION, "rate", "7")
    assert read(web, "/api/config/item", "rate").json()["value"] == "7"
    fault_proxy.black_hole()
    try:

        def write() -> int:
            return requests.put(
                f"{web.url}/api/v1/apps/{APP}/envs/{ENV}/versions/{VERSION}/items/rate",
                json={"value": "8"},
                headers={"Authorization": f"Bearer {web.admin_token}"},
                timeout=120,
            ).status_code

        def item() -> bytes:
            return requests.get(
                web.url + "/api/config/item", params={**QUERY, "key": "rate"}, timeout=120
            ).content

        def ready() -> int:
            return requests.get(web.url + "/readyz", timeout=120).status_code

        with ThreadPoolExecutor(max_workers=24) as pool:
            writes = [pool.submit(write) for _ in range(8)]
            items = [pool.submit(item) for _ in range(24)]
            probes = [pool.submit(ready) for _ in range(8)]
            assert [f.result(timeout=180) for f in writes] == [503] * 8
            assert {f.result(timeout=180) for f in items} == {
                b'{"status":1,"message":"","value":"7"}'
            }
            assert [f.result(timeout=180) for f in probes] == [200] * 8
    finally:
        fault_proxy.restore()
