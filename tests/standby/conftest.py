"""Fixtures for the master/standby tests: coordinates, recorded elections, a cuttable proxy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from disconf_client.standby import ActiveStandby
from disconf_core import Coordinates
from tests.tcp_proxy import TcpProxy

COORDS = Coordinates("billing", "1_0_0", "test")


@dataclass
class Recorder:
    """Hook calls of several elections, in the order they happened: (label, event, token)."""

    events: list[tuple[str, str, int | None, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, label: str, event: str, token: int | None = None) -> None:
        with self.lock:
            self.events.append((label, event, token, time.time()))

    def of(self, label: str) -> list[str]:
        with self.lock:
            return [event for who, event, _token, _at in self.events if who == label]

    def sequence(self) -> list[tuple[str, str, int | None]]:
        with self.lock:
            return [(who, event, token) for who, event, token, _at in self.events]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def chroot(zk_hosts: str) -> str:
    return zk_hosts[zk_hosts.index("/") :]


@pytest.fixture
def make_election(zk_hosts: str, recorder: Recorder) -> Iterator[Callable[..., ActiveStandby]]:
    """``make_election(label, hosts=None, **kwargs)``: a started election recording its hooks."""
    created: list[ActiveStandby] = []

    def make(label: str, hosts: str | None = None, **kwargs: Any) -> ActiveStandby:
        kwargs.setdefault("session_timeout", 2.0)
        kwargs.setdefault("on_become_master", lambda token: recorder.add(label, "master", token))
        kwargs.setdefault("on_become_standby", lambda: recorder.add(label, "standby"))
        kwargs.setdefault("on_lose_master", lambda: recorder.add(label, "lost"))
        if "client" not in kwargs:
            kwargs["zk_hosts"] = hosts or zk_hosts
        election = ActiveStandby(kwargs.pop("name", "job"), coords=COORDS, **kwargs)
        created.append(election)
        return election.start()

    try:
        yield make
    finally:
        for election in created:
            election.stop()


@pytest.fixture
def proxy(zk_proxy: TcpProxy) -> TcpProxy:
    """The standby tests' name for ``zk_proxy`` (tests/conftest.py)."""
    return zk_proxy
