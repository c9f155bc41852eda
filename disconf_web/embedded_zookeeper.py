"""Run ZooKeeper from the Debian ``zookeeper`` package's jars, on loopback only.

Used by ``disconf-web quickstart`` (one standalone server it starts and stops itself), by the
test harness (one server per test session, a 3-node ensemble for the scale-out tests) and by
``bench/``. Every server binds 127.0.0.1, is probed for readiness with the ``ruok`` and ``srvr``
four-letter words within a bounded time, and is stopped by its PID.

Error Handling
--------------
* jars missing: :class:`ZooKeeperNotInstalled` says how to install them (``apt-get install
  zookeeper``);
* the JVM exits or never answers within ``timeout``: :class:`ZooKeeperStartError` with the tail of
  its log; the process is killed, never left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from disconf_core import DisconfError

__all__ = [
    "EmbeddedZooKeeper",
    "ZooKeeperEnsemble",
    "ZooKeeperNotInstalled",
    "ZooKeeperStartError",
    "find_zookeeper_classpath",
    "four_letter_word",
    "free_port",
]

DEBIAN_JAR = Path("/usr/share/java/zookeeper.jar")
INSTALL_HINT = (
    "ZooKeeper's jars were not found at /usr/share/java/zookeeper.jar. Install them with "
    "'sudo apt-get install zookeeper' (Debian/Ubuntu), or set DISCONF_ZK_CLASSPATH to a "
    "classpath holding zookeeper.jar and its dependencies, or point DISCONF_ZK_HOSTS at a "
    "running ZooKeeper."
)


class ZooKeeperNotInstalled(DisconfError):
    """The ZooKeeper jars (or java) are not on this machine."""


class ZooKeeperStartError(DisconfError):
    """A ZooKeeper process did not become ready."""


def find_zookeeper_classpath() -> str:
    """The classpath to run ZooKeeper: ``DISCONF_ZK_CLASSPATH`` or the Debian jar."""
    configured = os.environ.get("DISCONF_ZK_CLASSPATH")
    if configured:
        return configured
    if not DEBIAN_JAR.exists():
        raise ZooKeeperNotInstalled(INSTALL_HINT)
    return str(DEBIAN_JAR)


def find_java() -> str:
    java = os.environ.get("DISCONF_JAVA") or shutil.which("java")
    if not java:
        raise ZooKeeperNotInstalled(
            "java was not found on PATH: ZooKeeper needs a Java runtime "
            "('sudo apt-get install default-jre-headless')."
        )
    return java


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def four_letter_word(port: int, word: str, timeout: float = 1.0) -> str:
    """Send a four-letter word (``ruok``, ``srvr``...) and return the answer ('' on failure)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(word.encode("ascii"))
            chunks: list[bytes] = []
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode("utf-8", errors="replace")
    except OSError:
        return ""


class EmbeddedZooKeeper:
    """One ZooKeeper server process (standalone, or one member of an ensemble)."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        port: int | None = None,
        *,
        tick_ms: int = 500,
        server_id: int | None = None,
        peers: Sequence[tuple[int, int, int, int]] = (),
        heap_mb: int = 192,
    ) -> None:
        """``peers``: ``(server id, client port, quorum port, election port)`` of every member."""
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.tick_ms = tick_ms
        self.server_id = server_id
        self.peers = list(peers)
        self.heap_mb = heap_mb
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "zookeeper.log"

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"tickTime={self.tick_ms}",
            f"dataDir={self.data_dir / 'data'}",
            f"clientPort={self.port}",
            "clientPortAddress=127.0.0.1",
            "initLimit=20",
            "syncLimit=10",
            f"minSessionTimeout={self.tick_ms * 2}",
            "maxSessionTimeout=60000",
            "maxClientCnxns=0",
            "4lw.commands.whitelist=ruok,srvr,stat,mntr,cons,wchs",
            "admin.enableServer=false",
            "autopurge.purgeInterval=0",
            "snapCount=100000",
        ]
        if self.peers:
            (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
            (self.data_dir / "data" / "myid").write_text(f"{self.server_id}\n")
            for sid, _client, quorum, election in self.peers:
                lines.append(f"server.{sid}=127.0.0.1:{quorum}:{election}")
        config = self.data_dir / "zoo.cfg"
        config.write_text("\n".join(lines) + "\n")
        return config

    def spawn(self) -> None:
        """Start the JVM without waiting for readiness (ensembles start all members first)."""
        if self.is_running():
            return
        config = self._write_config()
        main = (
            "org.apache.zookeeper.server.quorum.QuorumPeerMain"
            if self.peers
            else "org.apache.zookeeper.server.ZooKeeperServerMain"
        )
        command = [
            find_java(),
            f"-Xmx{self.heap_mb}m",
            "-XX:+UseSerialGC",
            "-Xshare:auto",
            "-Djava.net.preferIPv4Stack=true",
            f"-Dzookeeper.log.dir={self.data_dir}",
            "-Dzookeeper.admin.enableServer=false",
            "-cp",
            find_zookeeper_classpath(),
            main,
            str(config),
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        try:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,
                start_new_session=True,
            )
        finally:
            log.close()

    def serving(self) -> bool:
        """True when the server answers ``imok`` and reports a serving mode."""
        if four_letter_word(self.port, "ruok").strip() != "imok":
            return False
        return "Mode:" in four_letter_word(self.port, "srvr")

    def mode(self) -> str:
        """``standalone``, ``leader``, ``follower`` or '' when not serving."""
        for line in four_letter_word(self.port, "srvr").splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise ZooKeeperStartError(
                    f"ZooKeeper on port {self.port} exited: {self._log_tail()}"
                )
            if self.serving():
                return
            time.sleep(0.1)
        self.stop()
        raise ZooKeeperStartError(
            f"ZooKeeper on port {self.port} not ready after {timeout:.0f}s: {self._log_tail()}"
        )

    def start(self, timeout: float = 30.0) -> EmbeddedZooKeeper:
        self.spawn()
        self.wait_ready(timeout)
        return self

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-2000:]
        return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; always reaps the process."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL (a crash), for failure tests."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def __enter__(self) -> EmbeddedZooKeeper:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ZooKeeperEnsemble:
    """``size`` ZooKeeper servers on loopback forming one quorum."""

    def __init__(self, base_dir: str | os.PathLike[str], size: int = 3, tick_ms: int = 500):
        peers = [(sid, free_port(), free_port(), free_port()) for sid in range(1, size + 1)]
        self.members = [
            EmbeddedZooKeeper(
                Path(base_dir) / f"zk{sid}",
                client,
                tick_ms=tick_ms,
                server_id=sid,
                peers=peers,
            )
            for sid, client, _quorum, _election in peers
        ]

    @property
    def hosts(self) -> str:
        return ",".join(member.hosts for member in self.members)

    def start(self, timeout: float = 60.0) -> ZooKeeperEnsemble:
        for member in self.members:
            member.spawn()
        for member in self.members:
            member.wait_ready(timeout)
        return self

    def leader(self) -> EmbeddedZooKeeper | None:
        for member in self.members:
            if member.mode() == "leader":
                return member
        return None

    def stop(self) -> None:
        for member in self.members:
            member.stop()

    def __enter__(self) -> ZooKeeperEnsemble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
