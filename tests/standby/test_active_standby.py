"""ActiveStandby in one process against the real ZooKeeper (several clients = several instances).

Session loss is produced with a loopback TCP proxy between one instance and ZooKeeper.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest
from kazoo.client import KazooClient

from disconf_client.standby import (
    ActiveStandby,
    CoordinatorUnavailableError,
    NotMasterError,
    StandbyError,
    StandbySpec,
    active_standby,
)
from disconf_core import InvalidNameError
from disconf_core.standby import MAX_CONTEXT_BYTES, ContextTooLargeError, StandbyDataError
from tests.helpers import wait_until
from tests.standby.conftest import COORDS, Recorder
from tests.tcp_proxy import TcpProxy

MakeElection = Callable[..., ActiveStandby]


def masters(elections: list[ActiveStandby]) -> list[ActiveStandby]:
    return [election for election in elections if election.is_master]


def test_exactly_one_master_and_clean_handover(
    make_election: MakeElection, recorder: Recorder
) -> None:
    elections = [make_election(label) for label in ("a", "b", "c")]
    first = wait_until(lambda: masters(elections), 10, message="a master")[0]
    wait_until(
        lambda: len(first.contenders()) == 3,
        10,
        message="three contenders",
        retry_on=(CoordinatorUnavailableError,),
    )
    contenders = first.contenders()
    assert [c.is_master for c in contenders] == [True, False, False]
    assert contenders[0].token == first.token
    assert all(c.name == "job" and c.pid and c.host and c.since for c in contenders)
    assert [c.token for c in contenders] == sorted(c.token for c in contenders)

    first_label = "abc"[elections.index(first)]
    first_token = first.token
    assert first_token is not None
    started = time.monotonic()
    first.stop()
    second = wait_until(lambda: masters(elections), 5, message="a new master")[0]
    print(f"\nclean handover took {time.monotonic() - started:.3f}s")
    assert second is not first and not first.is_master
    assert second.token is not None and second.token > first_token
    second_label = "abc"[elections.index(second)]
    wait_until(lambda: "master" in recorder.of(second_label), 5)
    sequence = recorder.sequence()
    # the old master's on_lose_master ran before the new master's on_become_master
    lost_at = sequence.index((first_label, "lost", None))
    assert lost_at < sequence.index((second_label, "master", second.token))
    assert len(masters(elections)) == 1


def test_context_travels_to_the_next_master(make_election: MakeElection) -> None:
    elections = [make_election(label) for label in ("a", "b")]
    first = wait_until(lambda: masters(elections), 10)[0]
    assert first.context is None
    first.save_context({"checkpoint": 41, "name": "日本"})
    first.save_context({"checkpoint": 42, "name": "日本"})
    token = first.token
    first.stop()
    second = wait_until(lambda: masters(elections), 5)[0]
    context = second.context
    assert context is not None
    assert context.value == {"checkpoint": 42, "name": "日本"}
    assert context.token == token
    second.save_context(b"\x00\xffraw")
    loaded = second.load_context()
    assert loaded is not None and loaded.value == b"\x00\xffraw"
    assert loaded.token == second.token


def test_context_errors(make_election: MakeElection) -> None:
    elections = [make_election(label) for label in ("a", "b")]
    master = wait_until(lambda: masters(elections), 10)[0]
    standby = next(e for e in elections if e is not master)
    master.save_context(b"x" * MAX_CONTEXT_BYTES)  # exactly the limit is fine
    with pytest.raises(ContextTooLargeError, match="524,289 bytes"):
        master.save_context(b"x" * (MAX_CONTEXT_BYTES + 1))
    with pytest.raises(StandbyDataError, match="'object'"):
        master.save_context(object())  # type: ignore[arg-type]
    with pytest.raises(NotMasterError, match="only the master"):
        standby.save_context({"a": 1})
    loaded = master.load_context()
    assert loaded is not None and loaded.size == MAX_CONTEXT_BYTES


def test_a_deposed_master_cannot_overwrite_the_context(
    make_election: MakeElection, zk: KazooClient
) -> None:
    elections = [make_election(label) for label in ("a", "b")]
    master = wait_until(lambda: masters(elections), 10)[0]
    master.save_context({"by": "old"})
    node = master._master_node
    assert node is not None
    data = b'{"format":"json","token":0,"saved_at":0,"host":"h","pid":1,"size":11}\n{"by":"old2"}'
    # an operator (or an expired session) removes the lock node: ZooKeeper itself refuses the
    # write, whatever the deposed process still believes
    zk.delete(node)
    with pytest.raises(NotMasterError, match="is gone"):
        master._write_context(node, data)
    new = wait_until(lambda: [e for e in masters(elections) if e is not master], 5)[0]
    wait_until(lambda: not master.is_master, 5)
    context = new.context
    assert context is not None and context.value == {"by": "old"}


def test_raising_hooks_are_logged_and_the_recipe_goes_on(
    make_election: MakeElection, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(*_args: object) -> None:
        raise RuntimeError("hook failure")

    caplog.set_level(logging.ERROR, logger="disconf_client.standby")
    first = make_election("a", on_become_master=boom, on_lose_master=boom)
    wait_until(lambda: first.is_master, 10)
    second = make_election("b", on_become_standby=boom)
    wait_until(lambda: "hook failure" in caplog.text and "on_become_standby" in caplog.text, 5)
    first.stop()
    wait_until(lambda: second.is_master, 5)
    assert "on_become_master raised" in caplog.text
    assert "on_lose_master raised" in caplog.text


def test_master_config_is_loaded_before_on_become_master(
    make_election: MakeElection, recorder: Recorder
) -> None:
    election = make_election(
        "a",
        load_master_config=lambda: recorder.add("a", "load-master"),
        load_standby_config=lambda: recorder.add("a", "load-standby"),
    )
    wait_until(lambda: "master" in recorder.of("a"), 10)
    assert recorder.of("a")[:2] == ["load-master", "master"]
    other = make_election("b", load_standby_config=lambda: recorder.add("b", "load-standby"))
    wait_until(lambda: "standby" in recorder.of("b"), 10)
    assert recorder.of("b") == ["load-standby", "standby"]
    assert election.is_master and not other.is_master


def test_a_failing_master_config_hands_the_lock_on(
    make_election: MakeElection, recorder: Recorder
) -> None:
    calls = threading.Event()

    def broken() -> None:
        calls.set()
        raise OSError("job.properties unavailable")

    first = make_election("a", load_master_config=broken)
    wait_until(calls.is_set, 10)
    second = make_election("b")
    wait_until(lambda: second.is_master, 10, message="the healthy instance becomes master")
    assert not first.is_master and "master" not in recorder.of("a")


def test_suspended_master_steps_down_at_once_and_competes_again(
    make_election: MakeElection, proxy: TcpProxy, chroot: str, recorder: Recorder
) -> None:
    flaky = make_election("a", hosts=proxy.address + chroot, session_timeout=4.0)
    wait_until(lambda: flaky.is_master, 10)
    old_token = flaky.token
    assert old_token is not None
    steady = make_election("b", session_timeout=4.0)
    wait_until(lambda: "standby" in recorder.of("b"), 10)

    proxy.cut()
    wait_until(lambda: not flaky.is_master, 5, message="the suspended master steps down")
    wait_until(lambda: "lost" in recorder.of("a"), 5)
    proxy.restore()  # well within the 4 s session: the session survives
    wait_until(lambda: steady.is_master, 10, message="the standby takes over")
    new_token = steady.token
    assert new_token is not None and new_token > old_token
    wait_until(lambda: recorder.of("a")[-1] == "standby", 10, message="a rejoins as standby")
    sequence = recorder.sequence()
    assert sequence.index(("a", "lost", None)) < sequence.index(("b", "master", new_token))
    assert not flaky.is_master
    assert [c.is_master for c in steady.contenders()] == [True, False]


def test_after_lost_it_never_believes_it_is_master(
    make_election: MakeElection, proxy: TcpProxy, chroot: str, recorder: Recorder
) -> None:
    flaky = make_election("a", hosts=proxy.address + chroot, session_timeout=2.0)
    wait_until(lambda: flaky.is_master, 10)
    steady = make_election("b", session_timeout=2.0)
    wait_until(lambda: "standby" in recorder.of("b"), 10)

    proxy.cut()
    wait_until(lambda: not flaky.is_master, 5)
    # the standby only wins once ZooKeeper expired the flaky session (its node is gone)
    wait_until(lambda: steady.is_master, 15, message="takeover after the session expired")
    assert not flaky.is_master
    proxy.restore()
    wait_until(
        lambda: len(steady.contenders()) == 2,
        15,
        message="a rejoins with a new session",
        retry_on=(CoordinatorUnavailableError,),
    )
    assert recorder.of("a").count("master") == 1
    assert not flaky.is_master and steady.is_master


def test_several_elections_share_one_client(
    make_election: MakeElection, zk: KazooClient, recorder: Recorder
) -> None:
    jobs = make_election("jobs", client=zk, name="jobs")
    reports = make_election("reports", client=zk, name="reports")
    wait_until(lambda: jobs.is_master and reports.is_master, 10)
    other = make_election("other", name="jobs")
    jobs.stop()
    wait_until(lambda: other.is_master, 5)
    assert reports.is_master and zk.connected  # a shared client is not stopped


def test_resign_hands_over_and_rejoins(make_election: MakeElection, recorder: Recorder) -> None:
    first = make_election("a")
    wait_until(lambda: first.is_master, 10)
    second = make_election("b")
    wait_until(lambda: "standby" in recorder.of("b"), 10)
    assert first.resign() is True
    wait_until(lambda: second.is_master, 5)
    wait_until(lambda: recorder.of("a")[-1] == "standby", 5)
    assert second.resign() is True
    wait_until(lambda: first.is_master, 5)
    assert not second.is_master


def test_constructor_refuses_bad_arguments(zk: KazooClient, zk_hosts: str) -> None:
    with pytest.raises(StandbyError, match="exactly one of zk_hosts= or client="):
        ActiveStandby("job", coords=COORDS)
    with pytest.raises(StandbyError, match="exactly one"):
        ActiveStandby("job", coords=COORDS, zk_hosts=zk_hosts, client=zk)
    with pytest.raises(StandbyError, match="'soon'"):
        ActiveStandby("job", coords=COORDS, client=zk, session_timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(StandbyError, match="0.1"):
        ActiveStandby("job", coords=COORDS, client=zk, session_timeout=0.1)
    with pytest.raises(InvalidNameError, match="'bad/name'"):
        ActiveStandby("bad/name", coords=COORDS, client=zk)
    stopped = ActiveStandby("job", coords=COORDS, client=zk)
    stopped.stop()
    with pytest.raises(StandbyError, match="was stopped"):
        stopped.start()


def test_decorator_attaches_metadata_and_for_object_wires_hooks(
    zk: KazooClient, recorder: Recorder
) -> None:
    @active_standby("billing-job")
    class BillingJob:
        def on_become_master(self, token: int) -> None:
            recorder.add("job", "master", token)

        def on_lose_master(self) -> None:
            recorder.add("job", "lost")

    @active_standby
    class Reporter:
        pass

    assert BillingJob.__disconf_standby__ == StandbySpec("billing-job")  # type: ignore[attr-defined]
    assert Reporter.__disconf_standby__.name == "Reporter"  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="already bound"):
        active_standby("again")(BillingJob)
    with pytest.raises(InvalidNameError):
        active_standby("no/slash")(type("X", (), {}))
    with pytest.raises(TypeError, match="not decorated"):
        ActiveStandby.for_object(object(), coords=COORDS, client=zk)
    with pytest.raises(TypeError, match="do not pass it"):
        ActiveStandby.for_object(BillingJob(), coords=COORDS, client=zk, on_lose_master=print)

    election = ActiveStandby.for_object(BillingJob(), coords=COORDS, client=zk).start()
    try:
        assert election.name == "billing-job"
        assert election.path == "/disconf/billing_1_0_0_test/standby/billing-job"
        wait_until(lambda: recorder.of("job") == ["master"], 10)
    finally:
        election.stop()
    assert recorder.of("job") == ["master", "lost"]


def test_a_standby_is_queued_before_its_standby_config_and_hook_run(
    make_election: MakeElection, zk: KazooClient, recorder: Recorder
) -> None:
    """``load_standby_config`` and ``on_become_standby`` run once the standby's lock node is in
    the queue: never in a gap where it holds no node (it would then not be listed as a
    contender, and a takeover could skip it)."""
    first = make_election("a")
    wait_until(lambda: first.is_master, 10)
    seen: list[int] = []
    make_election("b", load_standby_config=lambda: seen.append(len(zk.get_children(first.path))))
    wait_until(lambda: "standby" in recorder.of("b"), 10)
    assert seen == [2]  # the master's node and ours
    assert len(first.contenders()) == 2
