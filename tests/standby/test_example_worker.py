"""``examples/standby/worker.py`` itself survives what production does to it.

Three copies of the example's worker run against their own ZooKeeper while the test silences
the master's ZooKeeper connection (a proxy that accepts and never answers, until a standby took
over), pauses the next master (SIGSTOP, then SIGCONT once a standby took over), SIGKILLs the
next one, and stops and restarts ZooKeeper. After each event exactly one master carries the
checkpoint on (the saved context in ZooKeeper keeps advancing), and every worker not killed is
still running; at the end each exits cleanly on SIGTERM with no traceback on stderr.

Before the fix, a master whose ``save_context`` was in flight when its connection died got
``StandbyError(ConnectionLoss)``, which the example did not catch: the process died with a
traceback. A silenced connection makes that deterministic (the write is sent, never answered,
and failed by kazoo when it gives the connection up); after a SIGSTOP it depends on which
thread runs first on SIGCONT.

Every process is started and stopped by PID; every wait is a bounded ``wait_until``; no time is
asserted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.retry import KazooRetry

from disconf_core import Coordinates, standby_node
from disconf_core.standby import StandbyDataError, decode_context
from disconf_web.embedded_zookeeper import EmbeddedZooKeeper
from tests.helpers import started_kazoo, wait_until
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "examples" / "standby" / "worker.py"
SESSION_TIMEOUT = 2.0
# the election the example joins
CONTEXT_PATH = (
    standby_node("/disconf", Coordinates("demo", "1_0_0", "dev"), "demo-job") + "/context"
)
TAKEOVER = SESSION_TIMEOUT * 2 + 20  # a generous test bound, not an assertion on time


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    killed: bool = False
    paused: bool = False

    def records(self) -> list[dict[str, Any]]:
        lines = self.stdout.read_bytes().splitlines() if self.stdout.exists() else []
        return [json.loads(line) for line in lines if line.strip()]

    def role(self) -> str | None:
        roles = [r["event"] for r in self.records() if r["event"] in ("master", "standby", "lost")]
        return roles[-1] if roles else None

    def alive(self) -> bool:
        return self.process.poll() is None


class Workers:
    def __init__(self, hosts: str, directory: Path) -> None:
        self.hosts = hosts
        self.directory = directory
        self.members: list[Worker] = []

    def spawn(self, name: str, hosts: str | None = None) -> Worker:
        stdout, stderr = self.directory / f"{name}.out", self.directory / f"{name}.err"
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            process = subprocess.Popen(
                [sys.executable, str(WORKER), "--zk", hosts or self.hosts, "--name", name]
                + ["--session-timeout", str(SESSION_TIMEOUT)],
                cwd=ROOT,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        worker = Worker(name, process, stdout, stderr)
        self.members.append(worker)
        return worker

    def running(self) -> list[Worker]:
        return [w for w in self.members if not w.killed]

    def masters(self) -> list[Worker]:
        return [w for w in self.running() if w.alive() and not w.paused and w.role() == "master"]

    def one_master(self, besides: Worker | None = None) -> Worker:
        def found() -> Worker | None:
            masters = self.masters()
            if len(masters) == 1 and masters[0] is not besides:
                return masters[0]
            return None

        master = wait_until(found, TAKEOVER, message=f"one master other than {besides}")
        assert master is not None
        return master

    def stop(self) -> None:
        for worker in self.members:
            if worker.alive():
                os.kill(worker.process.pid, signal.SIGCONT)
                worker.process.terminate()
                try:
                    worker.process.wait(15)
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    worker.process.wait(10)

    def diagnostics(self) -> str:
        parts = []
        for worker in self.members:
            err = worker.stderr.read_text(errors="replace")[-3000:]
            parts.append(f"--- {worker.name} rc={worker.process.poll()}\n{err}")
        return "\n".join(parts)


@pytest.fixture
def zookeeper(tmp_path: Path) -> Iterator[EmbeddedZooKeeper]:
    server = EmbeddedZooKeeper(tmp_path / "zk")
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def reader(zookeeper: EmbeddedZooKeeper) -> Iterator[KazooClient]:
    retry = KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=0.5)
    with started_kazoo(zookeeper.hosts, connection_retry=retry) as client:
        yield client


def checkpoint(reader: KazooClient) -> int:
    """The ``next_item`` of the saved context (-1: none yet, or ZooKeeper unreachable)."""
    try:
        data, _stat = reader.get(CONTEXT_PATH)
        saved = decode_context(data)
    except (KazooException, StandbyDataError):
        return -1
    if saved is None or not isinstance(saved.value, dict):
        return -1
    return int(saved.value["next_item"])


def advances(reader: KazooClient, beyond: int) -> int:
    return wait_until(
        lambda: max(0, checkpoint(reader) - beyond),
        TAKEOVER,
        message=f"the checkpoint advancing beyond {beyond}",
    )


def test_the_example_worker_survives_pauses_kills_and_zookeeper_restarts(
    zookeeper: EmbeddedZooKeeper, reader: KazooClient, tmp_path: Path
) -> None:
    workers = Workers(zookeeper.hosts, tmp_path)
    proxy = TcpProxy(zookeeper.port)
    try:
        silenced = workers.spawn("w1", hosts=proxy.address)
        master = workers.one_master()
        assert master is silenced
        for name in ("w2", "w3"):
            workers.spawn(name)
        wait_until(
            lambda: sum(w.role() == "standby" for w in workers.running()) == 2,
            30,
            message="two standbys",
        )
        advances(reader, 0)

        # 0. the master's connection goes silent until a standby took over, then comes back
        proxy.freeze()
        master = workers.one_master(besides=silenced)
        proxy.restore()
        wait_until(lambda: silenced.role() == "standby", TAKEOVER, message="silenced: standby")
        assert silenced.alive(), workers.diagnostics()
        advances(reader, checkpoint(reader))

        # 1. the master is paused until a standby took over, then resumed (twice)
        for _round in range(2):
            os.kill(master.process.pid, signal.SIGSTOP)
            paused, paused.paused = master, True
            master = workers.one_master(besides=paused)
            os.kill(paused.process.pid, signal.SIGCONT)
            paused.paused = False
            wait_until(lambda p=paused: p.role() == "standby", TAKEOVER, message="resumed: standby")
            assert paused.alive(), workers.diagnostics()
            advances(reader, checkpoint(reader))

        # 2. the master is killed
        os.kill(master.process.pid, signal.SIGKILL)
        master.process.wait(10)
        master.killed = True
        master = workers.one_master(besides=master)
        advances(reader, checkpoint(reader))

        # 3. ZooKeeper stops and starts again under them
        before = checkpoint(reader)
        zookeeper.stop()
        wait_until(lambda: not workers.masters(), TAKEOVER, message="no master without ZooKeeper")
        zookeeper.start(timeout=60)
        workers.one_master()
        advances(reader, before)
        wait_until(
            lambda: sum(w.role() == "standby" for w in workers.running()) == 1,
            TAKEOVER,
            message="the other survivor is a standby again",
        )

        survivors = workers.running()
        assert len(survivors) == 2 and all(w.alive() for w in survivors), workers.diagnostics()
        for worker in survivors:
            worker.process.terminate()
            assert worker.process.wait(15) == 0, workers.diagnostics()
            assert "Traceback" not in worker.stderr.read_text(errors="replace"), (
                workers.diagnostics()
            )
    finally:
        workers.stop()
        proxy.close()
