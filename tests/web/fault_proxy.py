"""A TCP proxy process in front of a database that a test can turn into a black hole or pause.

Run as ``python -m tests.web.fault_proxy <target port>``: it listens on a free loopback port,
prints that port on its first line and forwards every connection to ``127.0.0.1:<target port>``.

* ``SIGUSR1``: black hole. Connections stay open and accepted, new ones are accepted too, but
  nothing is forwarded in either direction (what is sent is read and dropped): the peer
  "accepts and never answers". Acknowledged with a ``black-hole`` line once in force.
* ``SIGUSR2``: forward again (connections opened during the black hole stay dead; clients open
  new ones). Acknowledged with a ``forwarding`` line.
* ``SIGSTOP`` / ``SIGCONT`` (sent by the test): the whole process is paused; the kernel still
  completes new TCP handshakes into the listen backlog, and nothing answers.

:class:`FaultProxy`'s methods return once the fault is in force (the line read, every thread
stopped), so a test's next request meets the fault, not the database as it was a moment before.

The test that starts it stops it by PID (:class:`FaultProxy`).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.helpers import Budget

#: How long the proxy may take to start or to acknowledge a signal (a :class:`Budget`).
ACKNOWLEDGE_TIMEOUT = 20.0

_forwarding = threading.Event()
_forwarding.set()


def _pump(source: socket.socket, sink: socket.socket | None) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            if sink is not None and _forwarding.is_set():
                sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _switch(forward: bool) -> None:
    if forward:
        _forwarding.set()
    else:
        _forwarding.clear()
    print("forwarding" if forward else "black-hole", flush=True)  # the test waits for it


def _serve(target_port: int) -> None:
    # The handlers first: a test may signal as soon as it has read the port (SIGUSR1's default
    # action would kill the proxy, and the "black hole" would refuse connections).
    signal.signal(signal.SIGUSR1, lambda *_: _switch(False))
    signal.signal(signal.SIGUSR2, lambda *_: _switch(True))
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    print(listener.getsockname()[1], flush=True)
    while True:
        client, _address = listener.accept()
        if not _forwarding.is_set():
            threading.Thread(target=_pump, args=(client, None), daemon=True).start()
            continue
        try:
            upstream = socket.create_connection(("127.0.0.1", target_port), timeout=5)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


class FaultProxy:
    """The proxy process, for tests: ``black_hole()``, ``pause()``, ``restore()``, ``stop()``."""

    def __init__(self, target_port: int, *, start_timeout: float = ACKNOWLEDGE_TIMEOUT) -> None:
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.web.fault_proxy", str(target_port)],
            cwd=root,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            bufsize=0,  # unbuffered: select() sees every line not yet read
        )
        assert self.process.stdout is not None
        line = self._line(Budget(start_timeout))
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"fault proxy did not start within {start_timeout}s")
        self.port = int(line)
        self.paused = False

    def black_hole(self) -> None:
        """Returns once the proxy forwards nothing more."""
        os.kill(self.process.pid, signal.SIGUSR1)
        self._acknowledged("black-hole")

    def pause(self) -> None:
        """Returns once every thread of the proxy is stopped."""
        os.kill(self.process.pid, signal.SIGSTOP)
        self.paused = True
        budget = Budget(ACKNOWLEDGE_TIMEOUT)
        while not self._stopped():
            if budget.expired():
                raise RuntimeError(f"fault proxy not stopped {budget.describe()} after SIGSTOP")
            time.sleep(0.005)

    def restore(self) -> None:
        """Returns once the proxy forwards again."""
        if self.paused:
            os.kill(self.process.pid, signal.SIGCONT)
            self.paused = False
        os.kill(self.process.pid, signal.SIGUSR2)
        self._acknowledged("forwarding")

    def _acknowledged(self, word: str, timeout: float = ACKNOWLEDGE_TIMEOUT) -> None:
        """Read the proxy's output up to the line ``word`` (its signal handler ran)."""
        budget = Budget(timeout)
        while True:
            line = self._line(budget)
            if not line:
                raise RuntimeError(f"fault proxy said no {word!r} within {budget.describe()}")
            if line.strip() == word.encode():
                return

    def _line(self, budget: Budget) -> bytes:
        """The proxy's next output line; empty if it exited or said nothing within ``budget``
        (looked at in short slices, so a stall of the machine is not counted)."""
        assert self.process.stdout is not None
        while not budget.expired():
            ready, _, _ = select.select([self.process.stdout], [], [], min(0.5, budget.left()))
            if ready:
                return self.process.stdout.readline()
        return b""

    def _stopped(self) -> bool:
        """Every thread of the proxy is in the stopped state (``T`` in /proc)."""
        tasks = Path(f"/proc/{self.process.pid}/task")
        for task in tasks.iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue  # a thread that just ended
            if stat.rsplit(")", 1)[1].split()[0] != "T":
                return False
        return True

    def stop(self) -> None:
        if self.process.poll() is None:
            if self.paused:
                os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
