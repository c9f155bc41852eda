"""The self-check column against a real ZooKeeper, and without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kazoo.client import KazooClient

from disconf_core import ConfigType, Coordinates, config_node, file_instance_data
from disconf_web import shutdown_app
from disconf_web.embedded_zookeeper import free_port
from tests.web.fault_proxy import FaultProxy

from .conftest import Console, make_app, publish, seed

V = "/apps/demo/envs/dev/versions/1_0"


def test_instances_and_mismatches(tmp_path: Path, zk_hosts: str, zk: KazooClient) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'z.sqlite'}", ZK_ENABLED=True, ZK_HOSTS=zk_hosts)
    try:
        seed(app)
        content = "a=1\nb=<b>\n"
        publish(app, "a.properties", content)
        publish(app, "flag", "on", kind="item")
        coords = Coordinates(app="demo", version="1_0", env="dev")
        node = config_node("/disconf", coords, ConfigType.FILE, "a.properties")
        zk.create(
            node + "/good_1",
            file_instance_data("a.properties", content),
            ephemeral=True,
            makepath=True,
        )  # noqa: E501
        zk.create(node + "/stale_2", b'{"a":"1","b":"old<i>"}', ephemeral=True, makepath=True)
        item = config_node("/disconf", coords, ConfigType.ITEM, "flag")
        zk.create(item + "/host_3", b"off", ephemeral=True, makepath=True)
        client = Console(app)
        assert client.login("viewer").status_code == 302
        page = client.get(V).text
        assert "2 instances, 1 mismatched" in page
        assert "1 instance, 1 mismatched" in page
        assert "good_1" in page and "stale_2" in page and "in sync" in page
        assert "old&lt;i&gt;" in page and "old<i>" not in page
        assert "self-check unavailable" not in page
    finally:
        shutdown_app(app)


def test_zookeeper_down_shows_unavailable(tmp_path: Path, as_role: Any) -> None:
    app = make_app(
        f"sqlite:///{tmp_path / 'd.sqlite'}", ZK_ENABLED=True,
        ZK_HOSTS=f"127.0.0.1:{free_port()}", ZK_TIMEOUT=2.0,
    )  # fmt: skip
    try:
        seed(app)
        publish(app, "a.properties", "a=1\n")
        client = Console(app)
        client.login("editor")
        page = client.get(V)
        assert page.status_code == 200
        assert "Self-check unavailable" in page.text and "is not connected" in page.text
        # publishing still works: the notification is left pending for the sweeper
        edit = client.get(V + "/files/a.properties").text
        md5 = edit.split('name="base_md5" value="')[1][:32]
        done = client.post(V + "/files/a.properties",
                           {"content": "a=2\n", "base_md5": md5, "action": "publish"})  # fmt: skip
        assert done.status_code == 302
        assert "retried in the background" in client.get(V).text
    finally:
        shutdown_app(app)


def test_zookeeper_black_hole_shows_unavailable(tmp_path: Path) -> None:
    """A ZooKeeper that accepts connections and never answers: the page answers, saying the
    self-check is unavailable, instead of waiting."""
    proxy = FaultProxy(free_port())
    proxy.black_hole()
    app = make_app(
        f"sqlite:///{tmp_path / 'b.sqlite'}", ZK_ENABLED=True,
        ZK_HOSTS=f"127.0.0.1:{proxy.port}", ZK_TIMEOUT=2.0,
    )  # fmt: skip
    try:
        seed(app)
        publish(app, "a.properties", "a=1\n")
        client = Console(app)
        client.login("viewer")
        page = client.get(V)
        assert page.status_code == 200
        assert "Self-check unavailable" in page.text and "is not connected" in page.text
    finally:
        shutdown_app(app)
        proxy.stop()


def test_zookeeper_disabled_shows_unavailable(as_role: Any, app: Any) -> None:
    publish(app, "a.properties", "a=1\n")
    page = as_role("viewer").get(V).text
    assert "self-check unavailable" in page and "DISCONF_ZK_ENABLED=false" in page


def _start_gray(app: Any, kind: ConfigType, name: str, value: str, target: Any) -> int:
    from disconf_web import get_db
    from disconf_web.gray import releases as gray

    with get_db(app).new_session() as session:
        release, _ids = gray.start(
            session,
            gray.ConfigRef(Coordinates(app="demo", version="1_0", env="dev"), kind, name),
            zk_prefix="/disconf",
            value=value,
            target=target,
            actor="admin",
            comment="canary",
        )
        return int(release.id)


def test_the_self_check_is_gray_aware(tmp_path: Path, zk_hosts: str, zk: KazooClient) -> None:
    """While a gray release runs, an instance running the gray content (or targeted by its id)
    is compared with the gray content and shown as running gray, not as mismatched; the others
    are compared with main. A targeted instance still on main has not applied it: mismatched."""
    app = make_app(f"sqlite:///{tmp_path / 'g.sqlite'}", ZK_ENABLED=True, ZK_HOSTS=zk_hosts)
    try:
        seed(app)
        main, canary = "a=1\n", "a=2\n"
        publish(app, "a.properties", main)
        publish(app, "flag", "on", kind="item")
        coords = Coordinates(app="demo", version="1_0", env="dev")
        node = config_node("/disconf", coords, ConfigType.FILE, "a.properties")
        for name, content in [
            ("host_1_on", canary),  # targeted, applied
            ("host_2_late", main),  # targeted, not applied yet
            ("host_3_main", main),  # not targeted
            ("host_4_odd", "a=3\n"),  # not targeted, holds neither
        ]:
            data = file_instance_data("a.properties", content)
            zk.create(f"{node}/{name}", data, ephemeral=True, makepath=True)
        item = config_node("/disconf", coords, ConfigType.ITEM, "flag")
        zk.create(item + "/host_5_gray", b"off", ephemeral=True, makepath=True)
        zk.create(item + "/host_6_main", b"on", ephemeral=True, makepath=True)
        client = Console(app)
        assert client.login("viewer").status_code == 302
        assert "4 instances, 2 mismatched" in client.get(V).text  # before: plain main check

        file_release = _start_gray(
            app,
            ConfigType.FILE,
            "a.properties",
            canary,
            {"instances": ["host_1_on", "host_2_late"]},
        )
        # A label target cannot be told from the id: the held value says who runs gray.
        item_release = _start_gray(app, ConfigType.ITEM, "flag", "off", {"labels": {"zone": "a"}})
        page = client.get(V).text
        assert f"4 instances, 2 mismatched, 2 on gray release #{file_release}" in page
        assert f"2 instances, 0 mismatched, 1 on gray release #{item_release}" in page
        assert 'host_1_on <span class="muted">(gray)</span>' in page
        assert 'host_5_gray <span class="muted">(gray)</span>' in page
        assert "host_3_main <span" not in page
    finally:
        shutdown_app(app)
