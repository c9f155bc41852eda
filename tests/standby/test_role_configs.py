"""Config per role: the master's configs are bound before on_become_master, the standby's
variant before on_become_standby (a real DisconfClient in LOCAL mode; real ZooKeeper)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from disconf_client import disconf_file
from disconf_client.standby import (
    ActiveStandby,
    RoleClient,
    RoleConfigs,
    StandbyError,
    active_standby,
)
from tests.helpers import wait_until
from tests.standby.conftest import COORDS, Recorder

MakeElection = Callable[..., ActiveStandby]


def make_classes() -> tuple[type, type]:
    @disconf_file("job.properties")
    class JobConfig:
        threads: int = 1

    @disconf_file("job.standby.properties")
    class JobStandbyConfig:
        threads: int = 1

    return JobConfig, JobStandbyConfig


def test_master_and_standby_variants_with_a_real_client(
    make_election: MakeElection, recorder: Recorder, tmp_path: Path
) -> None:
    (tmp_path / "job.properties").write_text("threads=8\n")
    (tmp_path / "job.standby.properties").write_text("threads=0\n")
    job, job_standby = make_classes()
    seen: dict[str, int] = {}

    def roles() -> RoleConfigs:
        return RoleConfigs(
            master=[job], standby=[job_standby], app="billing", mode="local", local_dir=tmp_path
        )

    def on_master(label: str) -> Callable[[int], None]:
        def hook(token: int) -> None:
            seen[label] = job.threads  # type: ignore[attr-defined]
            recorder.add(label, "master", token)

        return hook

    first = make_election("a", role_configs=roles(), on_become_master=on_master("a"))
    wait_until(lambda: "master" in recorder.of("a"), 10)
    assert seen["a"] == 8 and first.role_configs is not None
    assert first.role_configs.role == "master"

    second = make_election("b", role_configs=roles(), on_become_master=on_master("b"))
    wait_until(lambda: "standby" in recorder.of("b"), 10)
    assert second.role_configs is not None and second.role_configs.role == "standby"
    assert job_standby.threads == 0  # type: ignore[attr-defined]
    first.stop()  # closes its client: JobConfig is free for the next master's client
    wait_until(lambda: "master" in recorder.of("b"), 10)
    assert seen["b"] == 8 and second.role_configs.role == "master"


class FakeClient:
    def __init__(self, log: list[str], classes: Sequence[type], fail: bool) -> None:
        self.log, self.names, self.fail = log, [c.__name__ for c in classes], fail

    def start(self) -> FakeClient:
        self.log.append(f"start {self.names}")
        if self.fail:
            raise OSError("server down")
        return self

    def close(self) -> None:
        self.log.append(f"close {self.names}")


def test_role_switches_close_the_other_role_and_failures_propagate() -> None:
    log: list[str] = []
    fail = {"on": False}

    def factory(classes: Sequence[type]) -> RoleClient:
        return FakeClient(log, classes, fail["on"])

    job, job_standby = make_classes()
    roles = RoleConfigs(master=[job], standby=[job_standby], client_factory=factory)
    roles.load_standby()
    roles.load_master()
    roles.load_master()  # already master: nothing to do
    assert log == [
        "start ['JobStandbyConfig']",
        "close ['JobStandbyConfig']",
        "start ['JobConfig']",
    ]
    fail["on"] = True
    with pytest.raises(OSError, match="server down"):
        roles.load_standby()  # the master's configs are released first, whatever happens
    assert log[-3:] == [
        "close ['JobConfig']",
        "start ['JobStandbyConfig']",
        "close ['JobStandbyConfig']",
    ]
    assert roles.role is None
    master_only = RoleConfigs(master=[job], client_factory=factory)
    fail["on"] = False
    master_only.load_standby()  # a master-only config: nothing bound while standby
    assert master_only.role == "standby"
    with pytest.raises(TypeError, match="not both"):
        RoleConfigs(client_factory=factory, app="x")


def test_role_configs_excludes_explicit_loaders(zk: KazooClient) -> None:
    with pytest.raises(StandbyError, match="role_configs= provides the config loaders"):
        ActiveStandby(
            "job", coords=COORDS, client=zk, role_configs=RoleConfigs(), load_master_config=print
        )


def test_decorated_role_configs_are_bound_by_for_object(zk: KazooClient, tmp_path: Path) -> None:
    (tmp_path / "job.properties").write_text("threads=5\n")
    job, _standby = make_classes()

    @active_standby("billing-job", master_configs=[job])
    class BillingJob:
        token: int | None = None

        def on_become_master(self, token: int) -> None:
            self.token = token
            self.threads = job.threads  # type: ignore[attr-defined]

    worker = BillingJob()
    election = ActiveStandby.for_object(
        worker,
        coords=COORDS,
        client=zk,
        disconf={"app": "billing", "mode": "local", "local_dir": tmp_path},
    ).start()
    try:
        wait_until(lambda: worker.token is not None, 10)
        assert worker.threads == 5  # type: ignore[attr-defined]
    finally:
        election.stop()
