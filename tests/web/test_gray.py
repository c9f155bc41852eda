"""Gray releases (issue 12) on real ZooKeeper and MariaDB, with several live clients.

* by instance id, by label, by address (an unmodified client's plain HTTP fetch, and
  ``X-Forwarded-For`` believed only from a trusted proxy), by percentage: exactly the targets
  get the gray content; every instance re-fetches, the others call no callback;
* publishing main (and rollback, delete) during a gray release is a 409 naming it;
* abort returns the targets to main, promote makes it the next revision for everyone; both are
  in the history and the audit log; the self-check says who runs gray, who main;
* both protocol adapters answer the same bytes; gray and main never share an ETag or a
  last-served copy.

The clients run in this process with a transport that hands their requests to the app (through
the WSGI fast path, as a server would), counting their downloads.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from kazoo.client import KazooClient
from werkzeug.test import EnvironBuilder, run_wsgi_app

from disconf_client import DisconfClient, MockTransport, disconf_file
from disconf_client.settings import load_settings
from disconf_client.transport import Request, Response
from disconf_core.notification import FETCH, read_trailer
from disconf_web import create_app, get_db, shutdown_app
from disconf_web.fastpath import ClientFastPath
from disconf_web.gray.targeting import (
    GrayRule,
    Requester,
    client_address,
    parse_labels,
    trusted_proxies,
    variant_key,
)
from disconf_web.migrate import upgrade
from disconf_web.models import AuditEvent, Config, ConfigRevision
from disconf_web.protocol import get_protocol
from disconf_web.settings import SettingsError
from tests.helpers import wait_until

from .conftest import Tokens, make_tokens

BASE = "/api/v1/apps/demo/envs/dev/versions/1_0_0"
NODE = "/disconf/demo_1_0_0_dev"
Q = "app=demo&env=dev&version=1_0_0"
PROXY = "10.9.9.9"


@pytest.fixture
def zk_app(make_mysql_database: Callable[[], str], zk_hosts: str) -> Iterator[Flask]:
    url = make_mysql_database()
    upgrade(url)
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "ZK_ENABLED": True,
            "ZK_HOSTS": zk_hosts,
            "GRAY_TRUSTED_PROXIES": PROXY,
        }
    )
    try:
        yield app
    finally:
        shutdown_app(app)


@pytest.fixture
def web(zk_app: Flask) -> FlaskClient:
    return zk_app.test_client()


@pytest.fixture
def tokens(zk_app: Flask) -> Tokens:
    return make_tokens(zk_app)


class Live:
    """One live client: its bound class, its change events and its downloads."""

    def __init__(self, client: DisconfClient, cls: type, transport: Any) -> None:
        self.client, self.cls, self.transport = client, cls, transport
        self.events: list[Any] = []
        client.add_listener(self.events.append)

    @property
    def downloads(self) -> int:
        return int(self.transport.downloads)


def _transport(web: FlaskClient) -> MockTransport:
    lock = threading.Lock()

    def handle(request: Request) -> Response:
        with lock:
            if request.path.startswith("/api/config/"):
                transport.downloads += 1
            answer = web.get(
                request.path, query_string=request.params, headers=dict(request.headers)
            )
        return Response(answer.status_code, dict(answer.headers), answer.data)

    transport = MockTransport(handle)
    transport.downloads = 0  # type: ignore[attr-defined]
    return transport


def _shop_class() -> type:
    @disconf_file("shop.properties")
    class Shop:
        port: int
        host: str = "localhost"

    return Shop


def _live(web: FlaskClient, zk_hosts: str, tmp_path: Path, label: str, **settings: Any) -> Live:
    cls = _shop_class()
    transport = _transport(web)
    client = DisconfClient(
        [cls],
        app="demo",
        env="dev",
        version="1_0_0",
        servers="http://app.invalid",
        zk_hosts=zk_hosts,
        zk_prefix="/disconf",
        download_dir=str(tmp_path / label),
        retry_times=1,
        retry_sleep=0.1,
        resync_jitter=0,
        properties_file=None,
        transport=transport,
        **settings,
    ).start()
    return Live(client, cls, transport)


def _put(web: FlaskClient, tokens: Tokens, body: str) -> Any:
    return web.put(
        f"{BASE}/files/shop.properties", data=body.encode(), headers=tokens.headers("admin")
    )


def _gray(web: FlaskClient, tokens: Tokens, action: str = "", **body: Any) -> Any:
    path = f"{BASE}/files/shop.properties/gray" + (f"/{action}" if action else "")
    return web.post(path, json=body, headers=tokens.headers("editor"))


def _instance_rows(web: FlaskClient, tokens: Tokens) -> list[Any] | None:
    """The config's instance nodes as the admin API's self-check lists them."""
    answer = web.get(f"{BASE}/files/shop.properties/instances", headers=tokens.headers("viewer"))
    rows: list[Any] = answer.get_json()["instances"]
    return rows if len(rows) == 3 else None


def _on_main(row: Any) -> bool:
    return row is not None and row["ok"]


def _port(live: Live) -> int:
    return int(live.cls.port)  # type: ignore[attr-defined]


def _refetched(lives: list[Live], before: list[int]) -> bool:
    return all(live.downloads > count for live, count in zip(lives, before, strict=True))


def test_gray_by_instance_id_reaches_its_target_then_abort_converges(
    web: FlaskClient, tokens: Tokens, zk_app: Flask, zk_hosts: str, zk: KazooClient, tmp_path: Path
) -> None:
    assert _put(web, tokens, "port=8080\nhost=a\n").status_code == 201
    lives = [_live(web, zk_hosts, tmp_path, name) for name in ("a", "b", "c")]
    try:
        a, b, c = lives
        before = [live.downloads for live in lives]
        started = _gray(
            web,
            tokens,
            content="port=9090\nhost=a\n",
            target={"instances": [a.client.instance_name]},
            comment="canary on a",
        )
        assert started.status_code == 201, started.get_data(as_text=True)
        release = started.get_json()
        assert release["status"] == "active" and release["notification"] == "delivered"
        # The node is marked "fetch": every instance downloads, none applies node data.
        data, _stat = zk.get(f"{NODE}/file/shop.properties")
        assert read_trailer(data)[1] == FETCH
        wait_until(lambda: _port(a) == 9090, message="the targeted instance to run gray")
        wait_until(lambda: len(a.events) == 1, message="the targeted instance's callback")
        wait_until(lambda: _refetched(lives, before), message="every instance to re-fetch")
        assert (_port(b), _port(c)) == (8080, 8080)

        # Main cannot change meanwhile: publish, rollback and delete are 409 naming it.
        refused = _put(web, tokens, "port=7070\nhost=a\n")
        assert refused.status_code == 409
        assert f"gray release #{release['id']}" in refused.get_json()["error"]
        rollback = web.post(
            f"{BASE}/files/shop.properties/rollback",
            json={"revision": 1},
            headers=tokens.headers("admin"),
        )
        assert rollback.status_code == 409
        deleted = web.delete(f"{BASE}/files/shop.properties", headers=tokens.headers("admin"))
        assert deleted.status_code == 409
        # Copies and bundle imports onto it are refused too (another version as the source).
        other = "/api/v1/apps/demo/envs/dev/versions/2_0"
        assert (
            web.put(
                f"{other}/files/shop.properties",
                data=b"port=6060\nhost=a\n",
                headers=tokens.headers("admin"),
            ).status_code
            == 201
        )
        copied = web.post(
            f"{other}/copy", json={"to_version": "1_0_0"}, headers=tokens.headers("admin")
        )
        assert copied.status_code == 409 and f"#{release['id']}" in copied.get_json()["error"]
        bundle = web.get(f"{other}/bundle", headers=tokens.headers("admin")).get_json()
        imported = web.post(f"{BASE}/bundle", json=bundle, headers=tokens.headers("admin"))
        assert imported.status_code == 409, imported.get_data(as_text=True)
        assert f"#{release['id']}" in imported.get_json()["error"]
        # One gray release per config at a time.
        again = _gray(web, tokens, content="port=1\nhost=a\n", target={"percent": 5})
        assert again.status_code == 409 and f"#{release['id']}" in again.get_json()["error"]

        # The self-check: a runs gray (targeted, applied), b and c main (not targeted).
        def check() -> dict[str, Any]:
            answer = web.get(f"{BASE}/files/shop.properties/gray", headers=tokens.headers("viewer"))
            assert answer.status_code == 200
            body: dict[str, Any] = answer.get_json()
            return body

        def settled() -> dict[str, Any] | None:
            body = check()
            rows = body["instances"] or []
            return body if len(rows) == 3 and body["counts"]["applied"] == 3 else None

        body = wait_until(settled, message="the instance nodes to report their values")
        # By now (a's instance node is written a second or two after it applied) b and c have
        # long handled their re-fetch: unchanged content, no callback.
        assert len(a.events) == 1 and b.events == [] and c.events == []
        rows = {row["name"]: row for row in body["instances"]}
        assert rows[a.client.instance_name] == {
            "name": a.client.instance_name,
            "variant": "gray",
            "targeted": True,
            "applied": True,
        }
        for other in (b, c):
            assert rows[other.client.instance_name]["variant"] == "main"
            assert rows[other.client.instance_name]["targeted"] is False
        # The main self-check (the API's .../instances, the console's column) is gray-aware:
        # a runs gray and is not counted as mismatched.
        selfcheck = web.get(
            f"{BASE}/files/shop.properties/instances", headers=tokens.headers("viewer")
        ).get_json()
        assert selfcheck["gray"] == {"release": release["id"], "instances": 1}
        assert selfcheck["counts"] == {"instances": 3, "mismatched": 0}
        assert {row["name"]: (row["variant"], row["ok"]) for row in selfcheck["instances"]} == {
            a.client.instance_name: ("gray", True),
            b.client.instance_name: ("main", True),
            c.client.instance_name: ("main", True),
        }

        # Abort: the target returns to main; the others re-fetch and call nothing.
        before = [live.downloads for live in lives]
        aborted = _gray(web, tokens, "abort", comment="bad canary")
        assert aborted.status_code == 200, aborted.get_data(as_text=True)
        assert aborted.get_json()["status"] == "aborted"
        wait_until(lambda: _port(a) == 8080, message="the target to return to main")
        wait_until(lambda: len(a.events) == 2, message="the target's callback")
        wait_until(lambda: _refetched(lives, before), message="every instance to re-fetch")
        wait_until(
            lambda: all(_on_main(row) for row in (_instance_rows(web, tokens) or [None])),
            message="every instance node to report main",
        )
        assert len(a.events) == 2 and b.events == [] and c.events == []
        assert (
            web.get(
                f"{BASE}/files/shop.properties/gray", headers=tokens.headers("viewer")
            ).status_code
            == 404
        )
        assert _gray(web, tokens, "abort").status_code == 404
    finally:
        for live in lives:
            live.client.close()
    history = web.get(
        f"{BASE}/files/shop.properties/gray/history", headers=tokens.headers("viewer")
    ).get_json()["releases"]
    assert [(r["status"], r["comment"], r["end_comment"]) for r in history] == [
        ("aborted", "canary on a", "bad canary")
    ]
    with get_db(zk_app).new_session() as session:
        actions = session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.action.like("config.gray%"))
            .order_by(AuditEvent.id)
        ).all()
        assert actions == ["config.gray_start", "config.gray_abort"]
        config = session.scalar(sa.select(Config).where(Config.name == "shop.properties"))
        assert config is not None and (config.value, config.revision) == ("port=8080\nhost=a\n", 1)
    assert _put(web, tokens, "port=7070\nhost=a\n").status_code == 200  # main is free again


def test_gray_by_label_then_promote_converges_everyone(
    web: FlaskClient, tokens: Tokens, zk_app: Flask, zk_hosts: str, tmp_path: Path
) -> None:
    assert _put(web, tokens, "port=8080\nhost=a\n").status_code == 201
    zone_a = _live(web, zk_hosts, tmp_path, "a", labels={"zone": "a", "tier": "web"})
    zone_b = _live(web, zk_hosts, tmp_path, "b", labels={"zone": "b"})
    plain = _live(web, zk_hosts, tmp_path, "p")
    lives = [zone_a, zone_b, plain]
    try:
        before = [live.downloads for live in lives]
        started = _gray(
            web, tokens, content="port=9191\nhost=a\n", target={"labels": {"zone": "a"}}
        )
        assert started.status_code == 201, started.get_data(as_text=True)
        gray_id = started.get_json()["id"]
        wait_until(lambda: _port(zone_a) == 9191, message="zone a to run gray")
        wait_until(lambda: len(zone_a.events) == 1, message="zone a's callback")
        wait_until(lambda: _refetched(lives, before), message="every instance to re-fetch")
        assert (_port(zone_b), _port(plain)) == (8080, 8080)
        assert zone_b.events == [] and plain.events == []

        # Our client writes its labels into its file instance nodes: the gray page knows who
        # is targeted (the unlabelled client too: it writes its schema, so it is ours).
        def settled() -> dict[str, Any] | None:
            body: dict[str, Any] = web.get(
                f"{BASE}/files/shop.properties/gray", headers=tokens.headers("viewer")
            ).get_json()
            rows = body["instances"] or []
            return body if len(rows) == 3 and body["counts"]["applied"] == 3 else None

        rows = {
            row["name"]: (row["variant"], row["targeted"], row["applied"])
            for row in wait_until(settled, message="the instance nodes to report")["instances"]
        }
        assert rows == {
            zone_a.client.instance_name: ("gray", True, True),
            zone_b.client.instance_name: ("main", False, True),
            plain.client.instance_name: ("main", False, True),
        }

        promoted = _gray(web, tokens, "promote", comment="looks good")
        assert promoted.status_code == 200, promoted.get_data(as_text=True)
        assert promoted.get_json()["status"] == "promoted"
        for live in lives:
            wait_until(lambda live=live: _port(live) == 9191, message="everyone on the release")
        for live in (zone_b, plain):
            wait_until(lambda live=live: len(live.events) == 1, message="their callbacks")
        assert len(zone_a.events) == 1  # it had the content already: no second callback
    finally:
        for live in lives:
            live.client.close()
    with get_db(zk_app).new_session() as session:
        config = session.scalar(sa.select(Config).where(Config.name == "shop.properties"))
        assert config is not None and (config.value, config.revision) == ("port=9191\nhost=a\n", 2)
        revision = session.scalar(
            sa.select(ConfigRevision).where(
                ConfigRevision.config_id == config.id, ConfigRevision.number == 2
            )
        )
        assert revision is not None
        assert revision.comment == f"gray release #{gray_id} promoted: looks good"
        actions = session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.action.like("config.%"))
            .order_by(AuditEvent.id)
        ).all()
        assert actions[-3:] == ["config.gray_start", "config.update", "config.gray_promote"]
    history = web.get(
        f"{BASE}/files/shop.properties/gray/history", headers=tokens.headers("viewer")
    ).get_json()["releases"]
    assert [r["status"] for r in history] == ["promoted"]


def _bucket(release_id: int, instance: str) -> int:
    """The documented stable choice: SHA-256 of "<release id>/<instance id>", first 8 bytes
    big-endian, modulo 10,000, compared with the percentage x 100."""
    digest = hashlib.sha256(f"{release_id}/{instance}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def test_gray_by_percentage_is_stable_by_instance_id(
    web: FlaskClient, tokens: Tokens, zk_hosts: str, tmp_path: Path
) -> None:
    assert _put(web, tokens, "port=8080\nhost=a\n").status_code == 201
    lives = [_live(web, zk_hosts, tmp_path, f"n{index}") for index in range(4)]
    try:
        started = _gray(web, tokens, content="port=9292\nhost=a\n", target={"percent": 50})
        assert started.status_code == 201, started.get_data(as_text=True)
        gray_id = started.get_json()["id"]
        expected = {
            live.client.instance_name: _bucket(gray_id, live.client.instance_name) < 5000
            for live in lives
        }
        for live in lives:
            want = 9292 if expected[live.client.instance_name] else 8080
            wait_until(lambda live=live, want=want: _port(live) == want, message="its variant")
        for live in lives:
            if expected[live.client.instance_name]:
                wait_until(lambda live=live: len(live.events) == 1, message="its callback")
        for live in lives:
            assert len(live.events) == (1 if expected[live.client.instance_name] else 0)
        # Many instance ids over plain HTTP: each gets the same answer every time; the share
        # is the one the documented hash gives.
        chosen = 0
        for index in range(200):
            instance = f"host{index}_1_x"
            headers = {"X-Disconf-Instance": instance}
            url = f"/api/config/file?{Q}&key=shop.properties"
            first = web.get(url, headers=headers).data
            assert web.get(url, headers=headers).data == first
            assert (first == b"port=9292\nhost=a\n") == (_bucket(gray_id, instance) < 5000)
            chosen += first == b"port=9292\nhost=a\n"
        assert 0 < chosen < 200
    finally:
        for live in lives:
            live.client.close()


def _item(web: FlaskClient, address: str, **headers: str) -> Any:
    return web.get(
        f"/api/config/item?{Q}&key=rate",
        headers=headers,
        environ_base={"REMOTE_ADDR": address},
    )


def test_gray_by_address_for_unmodified_clients_and_trusted_proxies(
    web: FlaskClient, tokens: Tokens, zk_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = web.put(f"{BASE}/items/rate", json={"value": "1"}, headers=tokens.headers("admin"))
    assert answer.status_code == 201
    main_tag = _item(web, "10.0.0.7").headers["ETag"]
    started = web.post(
        f"{BASE}/items/rate/gray",
        json={"value": "2", "target": {"hosts": ["10.0.0.7", "web-3"]}},
        headers=tokens.headers("admin"),
    )
    assert started.status_code == 201, started.get_data(as_text=True)
    gray_id = started.get_json()["id"]
    # A plain fetch (no identity headers: an unmodified Disconf client) by source address.
    targeted = _item(web, "10.0.0.7")
    assert targeted.get_json()["value"] == "2"
    assert targeted.headers["ETag"] != main_tag
    assert _item(web, "10.0.0.8").get_json()["value"] == "1"
    assert _item(web, "10.0.0.8").headers["ETag"] == main_tag
    # A conditional read with the main ETag from a targeted address gets the gray content.
    assert _item(web, "10.0.0.7", **{"If-None-Match": main_tag}).status_code == 200
    assert _item(web, "10.0.0.7", **{"If-None-Match": targeted.headers["ETag"]}).status_code == 304
    # X-Forwarded-For counts only from the trusted proxy.
    forwarded = {"X-Forwarded-For": "10.0.0.7"}
    assert _item(web, PROXY, **forwarded).get_json()["value"] == "2"
    assert _item(web, "10.0.0.8", **forwarded).get_json()["value"] == "1"
    assert _item(web, PROXY, **{"X-Forwarded-For": "10.0.0.7, 10.0.0.8"}).get_json()["value"] == "1"
    # A host name matches our client's instance id's host part (no DNS lookup).
    assert (
        _item(web, "10.0.0.8", **{"X-Disconf-Instance": "web-3_77_ab"}).get_json()["value"] == "2"
    )
    # The Flask adapter sends exactly the fast path's bytes, gray or main.
    fast = zk_app.wsgi_app
    assert isinstance(fast, ClientFastPath)
    for address in ("10.0.0.7", "10.0.0.8"):
        environ = EnvironBuilder(
            path="/api/config/item",
            query_string=f"{Q}&key=rate",
            environ_base={"REMOTE_ADDR": address},
        ).get_environ()
        through_fast = run_wsgi_app(fast, dict(environ), buffered=True)
        through_flask = run_wsgi_app(fast.wrapped, dict(environ), buffered=True)
        assert b"".join(through_fast[0]) == b"".join(through_flask[0])
        assert through_fast[1] == through_flask[1]
    # Gray and main are remembered under their own last-served keys.
    protocol = get_protocol(zk_app)
    key = ("demo", "dev", "1_0_0", 1, "rate")
    main = protocol.last_served.get(key)
    gray = protocol.last_served.get(variant_key(key, gray_id))
    assert main is not None and main.value == "1"
    assert gray is not None and gray.value == "2"
    # The database stops answering: each request still gets the variant it was served.
    statement = protocol.statement

    def down(values: dict[str, Any]) -> None:
        raise sa.exc.TimeoutError("the database does not answer")

    with monkeypatch.context() as patched:
        patched.setattr(statement, "first", down)
        assert _item(web, "10.0.0.7").get_json()["value"] == "2"
        assert _item(web, "10.0.0.8").get_json()["value"] == "1"
    # The admin API's own read shows main; abort ends it for everyone.
    aborted = web.post(f"{BASE}/items/rate/gray/abort", json={}, headers=tokens.headers("admin"))
    assert aborted.status_code == 200
    assert _item(web, "10.0.0.7").get_json()["value"] == "1"


def test_gray_start_is_validated(web: FlaskClient, tokens: Tokens) -> None:
    assert _put(web, tokens, "port=8080\nhost=a\n").status_code == 201
    for target in (
        None,
        {},
        {"percent": 0},
        {"percent": 101},
        {"percent": True},
        {"instances": []},
        {"instances": [1]},
        {"labels": {"zone": "a b"}},
        {"hosts": ["a"], "percent": 5},
        {"colour": "grey"},
    ):
        answer = _gray(web, tokens, content="port=1\nhost=a\n", target=target)
        assert answer.status_code == 400, (target, answer.get_data(as_text=True))
    same = _gray(web, tokens, content="port=8080\nhost=a\n", target={"percent": 5})
    assert same.status_code == 400 and "same as its main" in same.get_json()["error"]
    # The gray content passes the publish guard like a publish: a syntax error is a 422.
    shop_json = web.put(f"{BASE}/files/shop.json", data=b"{}", headers=tokens.headers("admin"))
    assert shop_json.status_code == 201
    syntax = web.post(
        f"{BASE}/files/shop.json/gray",
        json={"content": '{"a": 1,\n "b" 2}', "target": {"percent": 5}},
        headers=tokens.headers("admin"),
    )
    assert syntax.status_code == 422 and "line 2" in syntax.get_json()["error"]
    viewer = web.post(
        f"{BASE}/files/shop.properties/gray",
        json={"content": "port=1\nhost=a\n", "target": {"percent": 5}},
        headers=tokens.headers("viewer"),
    )
    assert viewer.status_code == 403
    missing = web.post(
        f"{BASE}/files/nothing.properties/gray",
        json={"content": "x=1\n", "target": {"percent": 5}},
        headers=tokens.headers("admin"),
    )
    assert missing.status_code == 404


def test_client_address_and_labels_parsing() -> None:
    trusted = trusted_proxies({"GRAY_TRUSTED_PROXIES": "10.9.9.9, 192.168.0.0/24"})
    assert client_address("10.0.0.1", "1.2.3.4", trusted) == "10.0.0.1"
    assert client_address("10.9.9.9", "1.2.3.4", trusted) == "1.2.3.4"
    assert client_address("10.9.9.9", "6.6.6.6, 1.2.3.4, 192.168.0.5", trusted) == "1.2.3.4"
    assert client_address("10.9.9.9", "garbage", trusted) == "10.9.9.9"
    assert client_address("10.9.9.9", None, trusted) == "10.9.9.9"
    assert client_address("10.9.9.9", "1.2.3.4", trusted_proxies({})) == "10.9.9.9"
    with pytest.raises(SettingsError, match="DISCONF_GRAY_TRUSTED_PROXIES"):
        trusted_proxies({"GRAY_TRUSTED_PROXIES": "not-an-address"})
    assert parse_labels("zone=a, tier=web,bad,x=a b") == {"zone": "a", "tier": "web"}
    assert parse_labels(None) == {}
    assert Requester(address="1.2.3.4").identity == "1.2.3.4"
    settings = load_settings(app="demo", servers="h:1", environ={"DISCONF_LABELS": "zone=a,x=1"})
    assert settings.labels == {"zone": "a", "x": "1"}
    assert load_settings(app="demo", servers="h:1", labels={"zone": "b"}).labels == {"zone": "b"}
    with pytest.raises(Exception, match="label"):
        load_settings(app="demo", servers="h:1", environ={"DISCONF_LABELS": "zone"})


@given(
    instance=st.one_of(st.none(), st.text(max_size=80)),
    labels=st.one_of(st.none(), st.text(max_size=200)),
    remote=st.one_of(st.none(), st.text(max_size=40), st.ip_addresses().map(str)),
    forwarded=st.one_of(st.none(), st.text(max_size=200)),
)
@settings(max_examples=300, deadline=None)
def test_any_identity_headers_choose_a_variant_without_error(
    instance: str | None, labels: str | None, remote: str | None, forwarded: str | None
) -> None:
    """Whatever a request sends, choosing its variant never raises (no 500 on the hot path)."""
    trusted = trusted_proxies({"GRAY_TRUSTED_PROXIES": "0.0.0.0/0,::/0"})
    who = Requester(
        instance=instance or None,
        labels=parse_labels(labels),
        address=client_address(remote, forwarded, trusted),
    )
    targets = (
        {"instances": ["a_1_x"]},
        {"hosts": ["10.0.0.7", "web-3"]},
        {"labels": {"zone": "a"}},
        {"percent": 33.3},
        {},
    )
    for target in targets:
        assert GrayRule(7, target).selects(who) in (True, False)


# Bound on each racing thread (it waits at most for the other transaction's commit).
RACE_TIMEOUT = 30.0


def test_a_publish_racing_a_gray_start_never_commits_past_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gray start holds the config row (its transaction open, release row written) while a
    publish of that config runs through the publisher: the publish's early check sees no
    release yet, but it waits for the config row (on SQLite: the database's write lock) and is
    then refused with 409 naming the release. Main keeps its revision and the release runs."""
    from disconf_web import services
    from disconf_web.gray import releases as gray
    from disconf_web.publisher import get_publisher

    database = get_db(app)
    change = _demo_file(database)
    inside, go = threading.Event(), threading.Event()
    _hold_after_audit(monkeypatch, gray, inside, go)
    outcome: dict[str, str] = {}

    def start() -> None:
        with database.new_session() as session:
            release, _ids = gray.start(
                session,
                gray.ConfigRef(**change),
                zk_prefix="/disconf",
                value="port=2\n",
                target={"percent": 50},
                actor="t",
                comment="canary",
            )
            outcome["started"] = f"#{release.id}"

    def publish() -> None:
        with app.app_context(), database.new_session() as session:
            try:
                get_publisher(app).publish_config(
                    session, content="port=3\n", actor="t", comment="racing", **change
                )
                outcome["published"] = "yes"
            except services.Conflict as exc:
                outcome["conflict"] = str(exc)
            except sa.exc.OperationalError as exc:
                outcome["database"] = str(exc)

    starter = threading.Thread(target=start)
    starter.start()
    assert inside.wait(RACE_TIMEOUT), "the gray start never reached its audit"
    publisher = threading.Thread(target=publish)
    publisher.start()
    publisher.join(timeout=0.5)  # let the publish reach the database while the start is open
    go.set()
    starter.join(timeout=RACE_TIMEOUT)
    publisher.join(timeout=RACE_TIMEOUT)
    assert not starter.is_alive() and not publisher.is_alive()
    assert "started" in outcome, outcome
    assert set(outcome) == {"started", "conflict"}, outcome
    assert f"gray release {outcome['started']}" in outcome["conflict"]
    with database.new_session() as session:
        config = session.scalar(sa.select(Config).where(Config.name == "shop.properties"))
        assert config is not None and (config.value, config.revision) == ("port=1\n", 1)
        assert gray.active_gray(session, config.id) is not None


def test_a_gray_start_racing_a_publish_waits_and_starts_on_the_new_revision(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other order: a publish holds the config row (its transaction open, revision 2
    written) while a gray start of that config runs: the start waits for the row (on SQLite:
    the database's write lock), then starts on revision 2 (``base_revision``)."""
    from disconf_web.gray import releases as gray
    from disconf_web.publisher import get_publisher
    from disconf_web.services import configs as config_services

    database = get_db(app)
    change = _demo_file(database)
    inside, go = threading.Event(), threading.Event()
    _hold_after_audit(monkeypatch, config_services, inside, go)
    outcome: dict[str, Any] = {}

    def publish() -> None:
        with app.app_context(), database.new_session() as session:
            published = get_publisher(app).publish_config(
                session, content="port=3\n", actor="t", comment="first", **change
            )
            outcome["revision"] = published.result.config.revision

    def start() -> None:
        with database.new_session() as session:
            try:
                release, _ids = gray.start(
                    session,
                    gray.ConfigRef(**change),
                    zk_prefix="/disconf",
                    value="port=2\n",
                    target={"percent": 50},
                    actor="t",
                    comment="canary",
                )
                outcome["base"] = release.base_revision
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                outcome["error"] = repr(exc)

    publisher = threading.Thread(target=publish)
    publisher.start()
    assert inside.wait(RACE_TIMEOUT), "the publish never reached its audit"
    starter = threading.Thread(target=start)
    starter.start()
    starter.join(timeout=0.5)  # let the start reach the database while the publish is open
    go.set()
    publisher.join(timeout=RACE_TIMEOUT)
    starter.join(timeout=RACE_TIMEOUT)
    assert not starter.is_alive() and not publisher.is_alive()
    assert outcome == {"revision": 2, "base": 2}, outcome


def _demo_file(database: Any) -> dict[str, Any]:
    """App demo, env dev and file shop.properties (port=1) at 1_0_0; the change's arguments."""
    from disconf_core import ConfigType
    from disconf_web import services

    coords = services.coordinates("demo", "dev", "1_0_0")
    change: dict[str, Any] = {"coords": coords, "kind": ConfigType.FILE, "name": "shop.properties"}
    with database.new_session() as session:
        services.create_app_record(session, name="demo", actor="t")
        services.create_env(session, name="dev", actor="t")
        services.publish_config(session, content="port=1\n", actor="t", **change)
    return change


def _hold_after_audit(
    monkeypatch: pytest.MonkeyPatch, module: Any, inside: threading.Event, go: threading.Event
) -> None:
    """``module.audit`` writes its event, then signals ``inside`` and waits for ``go``: the
    transaction holds its locks at that point."""
    real_audit = module.audit

    def held_audit(*args: Any, **kwargs: Any) -> None:
        real_audit(*args, **kwargs)
        inside.set()
        go.wait(RACE_TIMEOUT)

    monkeypatch.setattr(module, "audit", held_audit)
