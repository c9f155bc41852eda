"""The serving path of ``disconf-web serve`` and ``quickstart`` (issue 14: slow and mute clients;
issue 10: metrics of every worker under quickstart), against the real server process.

Every server runs on 127.0.0.1 and is stopped by PID; every loop has a deadline; no test asserts
a time: the slow-client tests use generous client timeouts and assert that nothing failed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from disconf_web.embedded_zookeeper import find_zookeeper_classpath, free_port
from tests.helpers import service_missing, wait_until
from tests.plugins.web import LiveServer

PARAMS = {"app": "demo", "env": "dev", "version": "1_0_0"}
HELD = 150  # of each kind, as in the reproduction
PROBE_TIMEOUT = 15.0  # generous: a starved server fails it, a busy shared machine does not
CUT_WITHIN = 30.0  # bound of the waits for a cut (the server's timeouts are set to 1 s)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _slowloris(port: int) -> socket.socket:
    """A request line and part of the headers, then nothing."""
    sock = _connect(port)
    sock.sendall(b"GET /api/config/item?app=demo&env=dev HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Sl")
    return sock


def _idle_keepalive(port: int) -> socket.socket:
    """One complete request and its answer, then the connection is held open."""
    sock = _connect(port)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = _read_answer(sock)
    except BaseException:
        sock.close()
        raise
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


def _read_answer(sock: socket.socket, rest: bytearray | None = None) -> bytes:
    """One answer with a Content-Length body (head + body); bytes read past it are kept in
    ``rest`` (pipelined answers) and used first by the next call given the same ``rest``."""
    data = bytearray(rest or b"")
    deadline = time.monotonic() + 30

    def more() -> bool:
        chunk = sock.recv(65536) if time.monotonic() < deadline else b""
        data.extend(chunk)
        return bool(chunk)

    while b"\r\n\r\n" not in data and more():
        pass
    end = data.find(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(data[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(data) < end + length and more():
        pass
    if rest is not None:
        rest[:] = data[end + length :]
    return bytes(data[: end + length])


def _still_open(sock: socket.socket) -> bool:
    """No EOF, no reset, nothing to read: the server still holds the connection."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def _wait_cut(sock: socket.socket) -> bytes:
    """Read until the server closes the connection (at most CUT_WITHIN s); what it sent."""
    sock.settimeout(1.0)
    received = b""
    deadline = time.monotonic() + CUT_WITHIN
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the connection was not cut within {CUT_WITHIN}s: {received!r}")


def _close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        try:
            sock.close()
        except OSError:
            pass


@pytest.fixture
def held_server(tmp_path: Path, zk_hosts: str) -> Iterator[LiveServer]:
    """2 workers; long timeouts so that slow and mute sockets stay held during the probes."""
    server = LiveServer(
        tmp_path / "held",
        zk_hosts,
        workers=2,
        extra_env={
            "DISCONF_HTTP_HEADER_TIMEOUT": "300",
            "DISCONF_HTTP_BODY_TIMEOUT": "300",
            "DISCONF_HTTP_KEEPALIVE": "300",
        },
    )
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.mark.slow
def test_slow_mute_and_idle_clients_do_not_starve_reads_or_writes(held_server: LiveServer) -> None:
    server = held_server
    server.publish_item("demo", "dev", "1_0_0", "rate", "0.5")
    held: list[socket.socket] = []
    try:
        for _ in range(HELD):
            held.append(_slowloris(server.port))
            held.append(_connect(server.port))  # mute: never sends a byte
            held.append(_idle_keepalive(server.port))
        failures: list[str] = []
        for index in range(20):
            if failures:
                break  # one is enough (a starved server would make each probe wait)
            try:
                answer = requests.get(
                    server.url + "/api/config/item",
                    params={**PARAMS, "key": "rate"},
                    timeout=PROBE_TIMEOUT,
                )
                if answer.json() != {"status": 1, "message": "", "value": "0.5"}:
                    failures.append(f"read {index}: {answer.status_code} {answer.text[:200]}")
            except requests.RequestException as exc:
                failures.append(f"read {index}: {exc!r}")
            if index % 4 == 0:
                try:
                    put = requests.put(
                        server.url + "/api/v1/apps/demo/envs/dev/versions/1_0_0/items/rate",
                        json={"value": "0.5"},
                        headers={"Authorization": f"Bearer {server.admin_token}"},
                        timeout=PROBE_TIMEOUT,
                    )
                    if put.status_code not in (200, 201):
                        failures.append(f"write {index}: {put.status_code} {put.text[:200]}")
                except requests.RequestException as exc:
                    failures.append(f"write {index}: {exc!r}")
        assert failures == []
        # The slow and mute clients were held all along (not cut, which would make this easy).
        closed = [index for index, sock in enumerate(held) if not _still_open(sock)]
        assert closed == []
    finally:
        _close_all(held)


@pytest.fixture
def strict_server(tmp_path: Path, zk_hosts: str) -> Iterator[LiveServer]:
    """Header and body timeouts of 1 s, bodies of at most 1,000 bytes (the settings, small)."""
    server = LiveServer(
        tmp_path / "strict",
        zk_hosts,
        workers=1,
        extra_env={
            "DISCONF_HTTP_HEADER_TIMEOUT": "1",
            "DISCONF_HTTP_BODY_TIMEOUT": "1",
            "DISCONF_HTTP_MAX_BODY_BYTES": "1000",
        },
    )
    try:
        server.start()
        yield server
    finally:
        server.close()


def test_slow_clients_are_cut_after_the_header_and_body_timeouts(
    strict_server: LiveServer,
) -> None:
    port = strict_server.port
    socks: list[socket.socket] = []
    try:
        mute = _connect(port)
        socks.append(mute)
        # A slowloris that keeps sending: the header deadline is not reset by each byte.
        trickle = _connect(port)
        socks.append(trickle)
        trickle.sendall(b"GET /healthz HTTP/1.1\r\n")
        trickle.settimeout(0.2)
        cut = b""
        deadline = time.monotonic() + CUT_WITHIN
        finished = False
        while time.monotonic() < deadline and not finished:
            try:
                trickle.sendall(b"X")
                chunk = trickle.recv(65536)
                cut += chunk
                finished = not chunk
            except TimeoutError:
                continue
            except OSError:
                finished = True
        assert finished, "the trickling client was not cut"
        assert cut.startswith(b"HTTP/1.1 408"), cut
        # A body that stops arriving.
        body = _connect(port)
        socks.append(body)
        body.sendall(
            b"PUT /api/v1/apps/demo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"
        )
        assert _wait_cut(body).startswith(b"HTTP/1.1 408")
        assert _wait_cut(mute) == b""  # never sent a byte: closed without an answer
        # A chunked body (no length announced) that grows past the limit: 413, not read on.
        big = _connect(port)
        socks.append(big)
        big.sendall(
            b"PUT /api/v1/apps/demo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"200\r\n"
            + b"x" * 512
            + b"\r\n"
            + b"200\r\n"
            + b"x" * 512
            + b"\r\n"
        )
        assert _wait_cut(big).startswith(b"HTTP/1.1 413")
        # The server still answers normal clients.
        assert requests.get(strict_server.url + "/healthz", timeout=PROBE_TIMEOUT).ok
    finally:
        _close_all(socks)


def test_requests_reach_the_app_whole(live_server: LiveServer) -> None:
    """Pipelining, chunked bodies, Expect: 100-continue, and refusals before the app."""
    live_server.publish_item("demo", "dev", "1_0_0", "rate", "0.5")
    port = live_server.port
    socks: list[socket.socket] = []
    try:
        pipelined = _connect(port)
        socks.append(pipelined)
        get = (
            b"GET /api/config/item?app=demo&env=dev&version=1_0_0&key=rate HTTP/1.1\r\nHost: x\r\n"
        )
        pipelined.sendall(get + b"\r\n" + get + b"Connection: close\r\n\r\n")
        rest = bytearray()
        first = _read_answer(pipelined, rest)
        second = _read_answer(pipelined, rest)
        for answer in (first, second):
            assert answer.startswith(b"HTTP/1.1 200"), answer
            assert answer.endswith(b'{"status":1,"message":"","value":"0.5"}')
        assert b"Connection: close" in second

        chunks = (part for part in (b'{"value": ', b'"0.75"}'))
        put = requests.put(
            live_server.url + "/api/v1/apps/demo/envs/dev/versions/1_0_0/items/rate",
            data=chunks,  # no length known: requests sends Transfer-Encoding: chunked
            headers={
                "Authorization": f"Bearer {live_server.admin_token}",
                "Content-Type": "application/json",
            },
            timeout=PROBE_TIMEOUT,
        )
        assert put.status_code == 200, put.text
        read = requests.get(
            live_server.url + "/api/config/item", params={**PARAMS, "key": "rate"}, timeout=30
        )
        assert read.json()["value"] == "0.75"

        expect = _connect(port)
        socks.append(expect)
        payload = b'{"value": "0.8"}'
        expect.sendall(
            b"PUT /api/v1/apps/demo/envs/dev/versions/1_0_0/items/rate HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + live_server.admin_token.encode() + b"\r\n"
            b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
            b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n"
        )
        expect.settimeout(30)
        assert expect.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        expect.sendall(payload)
        assert _read_answer(expect).startswith(b"HTTP/1.1 200")

        for raw, status in (
            (b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n", b"413"),
            (b"NOT A REQUEST\r\n\r\n", b"400"),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                b"400",
            ),
            (b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n", b"414"),
        ):
            bad = _connect(port)
            socks.append(bad)
            bad.sendall(raw)
            answer = _wait_cut(bad)
            assert answer.startswith(b"HTTP/1.1 " + status), (raw[:40], answer)
    finally:
        _close_all(socks)


@pytest.mark.slow
def test_graceful_stop_is_not_held_by_slow_clients(tmp_path: Path, zk_hosts: str) -> None:
    server = LiveServer(
        tmp_path / "stop",
        zk_hosts,
        workers=2,
        extra_env={"DISCONF_HTTP_HEADER_TIMEOUT": "300", "DISCONF_HTTP_KEEPALIVE": "300"},
    )
    held: list[socket.socket] = []
    try:
        server.start()
        held = [_slowloris(server.port) for _ in range(20)]
        held += [_idle_keepalive(server.port) for _ in range(20)]
        process = server._process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        # gunicorn's graceful_timeout (10 s) bounds the wait for unfinished requests
        assert process.wait(60) == 0, server.log_tail()
        assert all(not _still_open(sock) for sock in held)
    finally:
        _close_all(held)
        server.close()


def _fetches(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "disconf_client_fetches_total"
                and sample.labels.get("endpoint") == "/api/config/item"
                and sample.labels.get("outcome") == "found"
            ):
                return float(sample.value)
    return 0.0


@pytest.mark.slow
def test_quickstart_metrics_count_every_worker(tmp_path: Path) -> None:
    """Issue 10: quickstart serves like serve, so /metrics sums its 2 workers."""
    try:
        find_zookeeper_classpath()
    except Exception as exc:  # noqa: BLE001
        service_missing(f"ZooKeeper jars unavailable: {exc}")
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DISCONF_") and key != "PROMETHEUS_MULTIPROC_DIR"
    }
    log_path = tmp_path / "quickstart.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "disconf_web", "quickstart", "--port", str(port),
             "--data-dir", str(tmp_path / "qs"), "--workers", "2"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(url + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return process.poll() is not None

    try:
        wait_until(ready, timeout=90, message="quickstart ready")
        assert process.poll() is None, log_path.read_text()
        for _ in range(20):
            # a fresh connection each time, so the requests spread over the workers
            answer = requests.get(
                url + "/api/config/item", params={**PARAMS, "key": "discountRate"}, timeout=30
            )
            assert answer.json()["value"] == "0.5"
        for _ in range(5):  # whichever worker answers /metrics
            assert _fetches(requests.get(url + "/metrics", timeout=30).text) == 20
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def test_front_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from disconf_web.front import DEFAULT_MAX_BODY_BYTES, FrontLimits

    for name in list(os.environ):
        if name.startswith("DISCONF_"):
            monkeypatch.delenv(name)
    assert FrontLimits.from_env() == FrontLimits()
    assert FrontLimits().max_body_bytes == DEFAULT_MAX_BODY_BYTES
    monkeypatch.setenv("DISCONF_HTTP_HEADER_TIMEOUT", "2.5")
    monkeypatch.setenv("DISCONF_MAX_CONFIG_BYTES", str(8 * 1024 * 1024))
    limits = FrontLimits.from_env()
    assert limits.header_timeout == 2.5
    assert limits.max_body_bytes > 2 * 8 * 1024 * 1024  # a config the app accepts gets through
    monkeypatch.setenv("DISCONF_HTTP_BODY_TIMEOUT", "0")
    with pytest.raises(ValueError, match="DISCONF_HTTP_BODY_TIMEOUT"):
        FrontLimits.from_env()
