"""How long an AUTO client start takes when the server list is down (issue 10, issue 14).

Two cases, each a client of 4 file configs with a local snapshot and the default retry settings
(3 tries per server, 2 s between tries):

* ``refused``: 2 servers whose ports refuse connections. Target: under 0.5 s (a refused
  connection on every server means "down": start from the snapshot at once).
* ``black_hole``: 1 server that accepts connections and never answers, ``http_timeout`` 1 s.
  Target: one timeout in all, one connection (the dead server is remembered for the start).

``python -m bench.client_start [--runs N]`` prints one JSON object: per case the start times
(seconds) and, for the black hole, the connections it accepted per start.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from disconf_client import ClientSettings, DisconfClient, LoadMode, disconf_file, field
from disconf_client.cache import LocalSnapshot
from disconf_core import ConfigType

__all__ = ["main"]

_CONFIGS = 4
_HOLD = 60.0  # the black hole holds a connection at most this long


def _classes() -> list[type]:
    classes: list[type] = []
    for number in range(_CONFIGS):
        holder = type(f"Part{number}", (), {"__annotations__": {"value": str}})
        holder.value = field(key="value", default="default")  # type: ignore[attr-defined]
        classes.append(disconf_file(holder, filename=f"part{number}.properties"))
    return classes


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _BlackHole:
    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.accepted: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        deadline = time.monotonic() + _HOLD
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()
        for conn in self.accepted:
            conn.close()


def _start_once(classes: list[type], servers: tuple[str, ...], **settings: Any) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-client-start-") as directory:
        snapshot = LocalSnapshot(Path(directory))
        for number in range(_CONFIGS):
            snapshot.write(ConfigType.FILE, f"part{number}.properties", b"value=snap\n")
        client = DisconfClient(
            classes,
            settings=ClientSettings(
                app="bench",
                servers=servers,
                mode=LoadMode.AUTO,
                download_dir=Path(directory),
                **settings,
            ),
        )
        began = time.perf_counter()
        client.start()
        elapsed = time.perf_counter() - began
        client.close()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    classes = _classes()
    refused = [
        _start_once(classes, tuple(f"http://127.0.0.1:{_refused_port()}" for _ in range(2)))
        for _ in range(args.runs)
    ]
    hole_times: list[float] = []
    hole_connections: list[int] = []
    for _ in range(args.runs):
        hole = _BlackHole()
        try:
            hole_times.append(_start_once(classes, (hole.url,), http_timeout=1.0))
            hole_connections.append(len(hole.accepted))
        finally:
            hole.close()
    print(
        json.dumps(
            {
                "configs": _CONFIGS,
                "refused": {"seconds": refused, "median": statistics.median(refused)},
                "black_hole": {
                    "http_timeout": 1.0,
                    "seconds": hole_times,
                    "median": statistics.median(hole_times),
                    "connections": hole_connections,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
