"""The config page shows who is master: real ActiveStandby elections on a real ZooKeeper."""

from __future__ import annotations

from pathlib import Path

from kazoo.client import KazooClient

from disconf_client import ActiveStandby
from disconf_core import Coordinates, standby_node
from disconf_web import shutdown_app
from tests.helpers import wait_until

from .conftest import Console, make_app, publish, seed

V = "/apps/demo/envs/dev/versions/1_0"
COORDS = Coordinates(app="demo", version="1_0", env="dev")


def test_config_page_shows_master_standbys_and_context(
    tmp_path: Path, zk_hosts: str, zk: KazooClient
) -> None:
    app = make_app(f"sqlite:///{tmp_path / 's.sqlite'}", ZK_ENABLED=True, ZK_HOSTS=zk_hosts)
    elections: list[ActiveStandby] = []
    try:
        seed(app)
        publish(app, "a.properties", "a=1\n")
        client = Console(app)
        assert client.login("viewer").status_code == 302
        assert "No master/standby election" in client.get(V).text

        for host in ("job-a", "job-b<i>"):
            election = ActiveStandby(
                "billing-job", coords=COORDS, zk_hosts=zk_hosts, session_timeout=4, host=host
            )
            elections.append(election.start())
            if host == "job-a":
                wait_until(lambda: elections[0].is_master, 20, message="job-a is master")
                elections[0].save_context({"checkpoint": 42})
        path = standby_node("/disconf", COORDS, "billing-job")
        wait_until(lambda: len(zk.get_children(path)) == 3, 20, message="2 contenders + context")

        page = client.get(V).text
        assert "billing-job" in page
        master_row = page.split("billing-job", 1)[1]
        assert master_row.index("job-a") < master_row.index("job-b")  # master first
        assert "job-b&lt;i&gt;" in page and "job-b<i>" not in page  # escaped
        assert f'<td class="num mono">{elections[0].token}</td>' in page  # the fencing token
        assert "B from token" in page  # the context's size and who saved it

        elections[0].stop()  # clean handover: job-b becomes master
        wait_until(lambda: elections[1].is_master, 20, message="job-b takes over")
        page = client.get(V).text
        after = page.split("billing-job", 1)[1]
        assert after.index("job-b") < after.find("none")  # master, and no standby left
        assert "job-a" not in after.split("</table>", 1)[0]
    finally:
        for election in elections:
            election.stop()
        shutdown_app(app)
