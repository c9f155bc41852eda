"""Run the benchmarks (the five of issue 6, the slow clients of issue 14) and write
``docs/benchmarks.md``.

``python -m bench.run [--size tiny|full] [--out docs/benchmarks.md] [--mysql-url URL]
[--steps slow_clients,...]``
(``scripts/bench.sh`` is the documented way). Benchmarks, not tests: nothing here asserts a
time; the report states the numbers, the baselines measured in the same run and the ratios to
the targets. Everything runs on 127.0.0.1; every wait is bounded and every process is stopped
by PID (see :mod:`bench.harness`).

Error Handling
--------------
A benchmark that cannot run raises :class:`~bench.harness.BenchError`; the servers and worker
processes started so far are stopped in ``finally`` blocks either way.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient

from disconf_client.persist import RECORD_DELAY
from disconf_web.embedded_zookeeper import EmbeddedZooKeeper
from disconf_web.serving import default_workers

from .harness import BenchError, HelloServer, WebServer, percentile, python_env, stop_process
from .report import write_report

__all__ = ["SIZES", "STEPS", "Size", "main", "run_benchmarks"]

APP, ENV, VERSION = "bench", "bench", "1_0_0"


@dataclass(frozen=True)
class Size:
    push_clients: tuple[int, ...]
    push_publishes: int
    fanout_sessions: int
    fanout_processes: int
    fanout_publishes: int
    read_seconds: float
    read_connections: int
    storm_instances: int
    storm_processes: int
    publish_seconds: float
    publishers: int
    slow_clients: int = 500
    mute_clients: int = 500
    slow_seconds: float = 10.0
    slow_probe_connections: int = 8


SIZES = {
    "tiny": Size(
        (1, 2), 5, 6, 2, 3, 1.0, 4, 20, 2, 1.0, 2,
        slow_clients=20, mute_clients=20, slow_seconds=2.0, slow_probe_connections=2,
    ),
    "full": Size((1, 10, 100), 200, 1000, 8, 20, 10.0, 64, 10000, 4, 10.0, 4),
}  # fmt: skip


# -- watcher processes ---------------------------------------------------------------------


class WatcherGroup:
    """``total`` sessions spread over ``processes`` worker processes (bench.workers)."""

    def __init__(self, kind: str, total: int, processes: int, args: list[str], log_dir: Path):
        self.total = total
        self.arrivals: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._ready = 0
        self._procs: list[subprocess.Popen[str]] = []
        self._threads: list[threading.Thread] = []
        processes = max(1, min(processes, total))
        counts = [
            total // processes + (1 if i < total % processes else 0) for i in range(processes)
        ]
        for index, count in enumerate(counts):
            command = [sys.executable, "-m", "bench.workers", kind, "--count", str(count), *args]
            log = open(log_dir / f"{kind}-{index}.log", "ab")  # noqa: SIM115 - child's stderr
            try:
                proc = subprocess.Popen(
                    command, env=python_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=log, text=True, bufsize=1, start_new_session=True,
                )  # fmt: skip
            finally:
                log.close()
            self._procs.append(proc)
            thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            parts = line.split()
            with self._cond:
                if parts[:1] == ["V"] and len(parts) == 3:
                    self.arrivals.setdefault(parts[1], []).append(float(parts[2]))
                elif parts[:1] == ["READY"]:
                    self._ready += 1
                elif parts[:1] == ["ERROR"]:
                    self.errors.append(line.strip())
                self._cond.notify_all()

    def wait_ready(self, timeout: float) -> None:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self._ready == len(self._procs) or bool(self.errors), timeout
            )
        if self.errors or not ok:
            raise BenchError(f"watchers not ready in {timeout}s: {self.errors[:3]}")

    def wait_value(self, value: str, timeout: float) -> list[float]:
        """The arrival times of ``value`` at every session (raises if some never got it)."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: len(self.arrivals.get(value, ())) >= self.total, timeout
            )
            times = list(self.arrivals.get(value, ()))
        if not ok:
            raise BenchError(f"{len(times)}/{self.total} sessions got {value!r} in {timeout}s")
        return times

    def close(self) -> None:
        for proc in self._procs:
            try:
                assert proc.stdin is not None
                proc.stdin.write("quit\n")
                proc.stdin.flush()
            except (OSError, ValueError):
                pass
        for proc in self._procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
            stop_process(proc, timeout=5)
        for thread in self._threads:
            thread.join(10)
        for proc in self._procs:
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:
                        pass


# -- the benchmarks ------------------------------------------------------------------------


@dataclass
class Context:
    size: Size
    work: Path
    zk: EmbeddedZooKeeper
    web: WebServer
    mysql_url: str | None
    results: dict[str, Any] = field(default_factory=dict)

    def zk_client(self) -> KazooClient:
        client = KazooClient(hosts=self.zk.hosts, timeout=30)
        client.start(timeout=30)
        return client


def _stats(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(samples, 0.5) * 1000,
        "p99_ms": percentile(samples, 0.99) * 1000,
        "max_ms": max(samples) * 1000 if samples else float("nan"),
        "n": len(samples),
    }


# A client records an applied revision (snapshot + instance node) 1-2 s later
# (disconf_client.persist.RECORD_DELAY); with many clients, publishes are spaced by this much so
# that each one is measured alone, not while the previous one's recording runs. Publishes to a
# fleet are events seconds or minutes apart, not a continuous stream.
SETTLE = 2 * RECORD_DELAY + 0.5
MANY = 100  # from this many clients on, publishes are spaced (and fewer at N = 100 in push)


def bench_push(ctx: Context) -> None:
    """1. publish -> DisconfClient callback, and the raw kazoo setData -> DataWatch floor."""
    rows = []
    zk = ctx.zk_client()
    try:
        for n in ctx.size.push_clients:
            spaced = n >= MANY
            publishes = max(1, ctx.size.push_publishes // 4) if spaced else ctx.size.push_publishes
            key = f"push{n}"
            ctx.web.publish_item(APP, ENV, VERSION, key, "start")
            group = WatcherGroup(
                "disconf", n, 4,
                ["--server", ctx.web.url, "--app", APP, "--env", ENV, "--version", VERSION,
                 "--key", key],
                ctx.work,
            )  # fmt: skip
            each: list[float] = []
            last: list[float] = []
            answered: list[float] = []
            try:
                group.wait_ready(300)
                for i in range(publishes):
                    if spaced:
                        time.sleep(SETTLE)
                    value = f"p{n}-{i}"
                    began = time.monotonic()
                    ctx.web.publish_item(APP, ENV, VERSION, key, value)
                    answered.append(time.monotonic() - began)
                    times = group.wait_value(value, 60)
                    each += [t - began for t in times]
                    last.append(max(times) - began)
            finally:
                group.close()
            raw_path = f"/bench-raw/n{n}"
            zk.ensure_path(raw_path)
            raw = WatcherGroup("kazoo", n, 4, ["--zk", ctx.zk.hosts, "--path", raw_path], ctx.work)
            raw_each: list[float] = []
            raw_last: list[float] = []
            try:
                raw.wait_ready(300)
                for i in range(publishes):
                    if spaced:
                        # The floor under the same conditions: after an idle pause, processes
                        # wake cold (measured: N = 100 51 ms spaced, 39 ms back to back).
                        time.sleep(SETTLE)
                    value = f"r{n}-{i}"
                    began = time.monotonic()
                    zk.set(raw_path, value.encode())
                    times = raw.wait_value(value, 60)
                    raw_each += [t - began for t in times]
                    raw_last.append(max(times) - began)
                # Context only: the same sets back to back (how the floor was taken before it
                # was spaced like the publishes), so a reader sees what the pause costs.
                raw_back_to_back = _back_to_back(zk, raw, raw_path, publishes) if spaced else []
            finally:
                raw.close()
            row = {
                "clients": n,
                "publishes": publishes,
                "spaced_seconds": SETTLE if spaced else 0.0,
                "disconf": _stats(each),
                "disconf_last": _stats(last),
                "publish_answered": _stats(answered),
                "raw": _stats(raw_each),
                "raw_last": _stats(raw_last),
            }
            if raw_back_to_back:
                row["raw_last_back_to_back"] = _stats(raw_back_to_back)
            rows.append(row)
    finally:
        zk.stop()
        zk.close()
    ctx.results["push"] = rows


def _back_to_back(zk: KazooClient, group: WatcherGroup, path: str, count: int) -> list[float]:
    """The last session's latency of ``count`` sets made back to back (no pause)."""
    lasts = []
    for i in range(count):
        value = f"b{i}-{path.rsplit('/', 1)[-1]}"
        began = time.monotonic()
        zk.set(path, value.encode())
        lasts.append(max(group.wait_value(value, 60)) - began)
    return lasts


def _server_errors(web: WebServer) -> int:
    """5xx answers counted by the server's /metrics (all workers)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = web.http.get(web.url + "/metrics", timeout=30).text
    errors = 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "disconf_http_requests_total" and sample.labels.get(
                "status", ""
            ).startswith("5"):
                errors += int(sample.value)
    return errors


def bench_fanout(ctx: Context) -> None:
    """2. ``fanout_sessions`` clients on one config: time until the last applied a publish."""
    size = ctx.size
    key = "fanout"
    ctx.web.publish_item(APP, ENV, VERSION, key, "start")
    errors_before = _server_errors(ctx.web)
    began_start = time.monotonic()
    group = WatcherGroup(
        "disconf", size.fanout_sessions, size.fanout_processes,
        ["--server", ctx.web.url, "--app", APP, "--env", ENV, "--version", VERSION, "--key", key],
        ctx.work,
    )  # fmt: skip
    last: list[float] = []
    first: list[float] = []
    answered: list[float] = []  # the admin API's answer to the publish (delivered inline)
    try:
        group.wait_ready(600)
        started_in = time.monotonic() - began_start
        for i in range(size.fanout_publishes):
            time.sleep(SETTLE)
            value = f"f{i}"
            began = time.monotonic()
            ctx.web.publish_item(APP, ENV, VERSION, key, value)
            answered.append(time.monotonic() - began)
            times = group.wait_value(value, 120)
            last.append(max(times) - began)
            first.append(min(times) - began)
    finally:
        group.close()
    # Context, not a target: the same number of bare kazoo sessions in the same number of
    # processes, setData -> DataWatch callback (what ZooKeeper alone costs at this size here).
    zk = ctx.zk_client()
    raw_last: list[float] = []
    raw_path = "/bench-raw/fanout"
    try:
        zk.ensure_path(raw_path)
        raw = WatcherGroup(
            "kazoo", size.fanout_sessions, size.fanout_processes,
            ["--zk", ctx.zk.hosts, "--path", raw_path], ctx.work,
        )  # fmt: skip
        try:
            raw.wait_ready(600)
            for i in range(size.fanout_publishes):
                time.sleep(SETTLE)  # spaced as the publishes above: the same idle pause
                value = f"rf{i}"
                began = time.monotonic()
                zk.set(raw_path, value.encode())
                raw_last.append(max(raw.wait_value(value, 120)) - began)
            raw_back_to_back = _back_to_back(zk, raw, raw_path, size.fanout_publishes)
        finally:
            raw.close()
    finally:
        zk.stop()
        zk.close()
    ctx.results["fanout"] = {
        "sessions": size.fanout_sessions,
        "processes": size.fanout_processes,
        "publishes": size.fanout_publishes,
        "spaced_seconds": SETTLE,
        "start_seconds": started_in,
        "last": _stats(last),
        "first": _stats(first),
        "publish_answered": _stats(answered),
        "raw_last": _stats(raw_last),
        "raw_last_back_to_back": _stats(raw_back_to_back),
        "server_errors": _server_errors(ctx.web) - errors_before,
    }


#: How long past its duration a ``wrk`` run may take before it counts as hung. Twice a run is
#: allowed: a clean-clone CI run once saw a one-second ``wrk`` still running after 121 s (the
#: whole machine stalled; other tests timed out at the same moment), and the retry is a new
#: measurement, not a partial one.
WRK_GRACE = 60.0


def _wrk(url: str, connections: int, seconds: float) -> dict[str, Any]:
    threads = min(2, connections)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, int(seconds))}s",
               "--latency", "--timeout", "30s", url]  # fmt: skip
    for last_try in (False, True):
        try:
            out = subprocess.run(
                command, capture_output=True, text=True, timeout=seconds + WRK_GRACE, check=True
            ).stdout
            break
        except subprocess.TimeoutExpired:
            if last_try:
                raise
            print(f"bench: wrk not done {WRK_GRACE:g}s after its {seconds:g}s; once more")
    result: dict[str, Any] = {"tool": "wrk", "errors": 0}
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(words[1])
        elif words[:1] == ["99%"]:
            result["p99_ms"] = _wrk_ms(words[1])
        elif words[:1] == ["50%"]:
            result["p50_ms"] = _wrk_ms(words[1])
        elif line.strip().startswith("Non-2xx"):
            result["errors"] += int(words[-1])
        elif line.strip().startswith("Socket errors"):
            result["errors"] += sum(int(w.strip(",")) for w in words if w.strip(",").isdigit())
    return result


def _wrk_ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def _pyload(port: int, path: str, connections: int, seconds: float) -> dict[str, Any]:
    procs = 2
    commands = [
        [sys.executable, "-m", "bench.httpload", "read", "--port", str(port), "--path", path,
         "--connections", str(max(1, connections // procs)), "--duration", str(seconds)]
        for _ in range(procs)
    ]  # fmt: skip
    outs = _run_parallel(commands, seconds + 120)
    latencies = [ms for out in outs for ms in out["latencies_ms"]]
    requests = sum(out["requests"] for out in outs)
    elapsed = max(out["seconds"] for out in outs)
    return {
        "tool": "python asyncio",
        "rps": requests / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "errors": sum(out["errors"] for out in outs),
    }


def _run_parallel(commands: list[list[str]], timeout: float) -> list[dict[str, Any]]:
    procs = [
        subprocess.Popen(c, env=python_env(), stdout=subprocess.PIPE, text=True,
                         start_new_session=True)
        for c in commands
    ]  # fmt: skip
    outs = []
    try:
        for proc in procs:
            stdout, _ = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise BenchError(f"{proc.args!r}: exit {proc.returncode}")
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            stop_process(proc, timeout=5)
    return outs


def _load(url: str, port: int, path: str, size: Size) -> dict[str, Any]:
    if shutil.which("wrk"):
        return _wrk(url + path, size.read_connections, size.read_seconds)
    return _pyload(port, path, size.read_connections, size.read_seconds)


def bench_reads(ctx: Context) -> None:
    """3. GET /api/config/file and /item on SQLite and MySQL vs a bare WSGI hello."""
    size = ctx.size
    query = f"app={APP}&env={ENV}&version={VERSION}"
    rows = []
    ceilings: list[dict[str, Any]] = []
    # The ceiling is measured right before each row (the hello server idles meanwhile): on a
    # shared machine the load changes from minute to minute, and a ratio is only fair between
    # two measurements taken under the same conditions.
    hello = HelloServer(ctx.work).start()
    servers: list[tuple[str, WebServer, bool]] = [("SQLite", ctx.web, False)]
    try:
        if ctx.mysql_url:
            # The same database through both drivers, side by side: PyMySQL (pure Python) and
            # mysqlclient (the C driver, the documented fast URL).
            for driver, label in (("pymysql", "PyMySQL"), ("mysqldb", "mysqlclient")):
                url = _with_driver(ctx.mysql_url, driver)
                mysql = WebServer(ctx.work / driver, url, ctx.zk.hosts, name=f"web-{driver}")
                if not servers[1:]:
                    mysql.bootstrap_admin()
                else:
                    mysql.admin_token = servers[1][1].admin_token
                servers.append((f"MySQL ({label})", mysql.start(), True))
        for label, server, _own in servers:
            server.ensure_app_env(APP, ENV)
            server.publish_item(APP, ENV, VERSION, "read.item", "42")
            server.publish_file(APP, ENV, VERSION, "read.properties", "a=1\nb=2\n" * 20)
            for endpoint, key in (("file", "read.properties"), ("item", "read.item")):
                ceiling = _load(hello.url, hello.port, "/", size)
                ceilings.append(ceiling)
                path = f"/api/config/{endpoint}?{query}&key={key}"
                result = _load(server.url, server.port, path, size)
                result.update(database=label, endpoint=f"/api/config/{endpoint}")
                result["ceiling_rps"] = ceiling.get("rps", 0.0)
                result["ratio"] = (
                    result.get("rps", 0.0) / ceiling["rps"] if ceiling.get("rps") else 0
                )
                rows.append(result)
    finally:
        hello.stop()
        for _label, server, own in servers:
            if own:
                server.stop()
    ordered = sorted(ceilings, key=lambda c: c.get("rps", 0.0))
    median = dict(ordered[len(ordered) // 2])
    median["samples_rps"] = [c.get("rps", 0.0) for c in ceilings]
    median["errors"] = sum(c.get("errors", 0) for c in ceilings)
    ctx.results["reads"] = {"ceiling": median, "rows": rows, "connections": size.read_connections}


def _with_driver(url: str, driver: str) -> str:
    """``url`` (``mysql://`` or ``mysql+<driver>://``) through SQLAlchemy driver ``driver``."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("mysql"):
        raise BenchError(f"not a MySQL URL: {url!r}")
    return f"mysql+{driver}://{rest}"


def bench_storm(ctx: Context) -> None:
    """4. ``storm_instances`` instances at once: hosts, prefix and 5 configs each."""
    size = ctx.size
    query = f"app={APP}&env={ENV}&version={VERSION}"
    paths = ["/api/zoo/hosts", "/api/zoo/prefix"]
    for i in range(3):
        ctx.web.publish_file(APP, ENV, VERSION, f"storm{i}.properties", f"k{i}=v\n" * 10)
        paths.append(f"/api/config/file?{query}&key=storm{i}.properties")
    for i in range(2):
        ctx.web.publish_item(APP, ENV, VERSION, f"storm.item{i}", str(i))
        paths.append(f"/api/config/item?{query}&key=storm.item{i}")
    paths_file = ctx.work / "storm-paths.txt"
    paths_file.write_text("\n".join(paths) + "\n", encoding="utf-8")
    per = size.storm_instances // size.storm_processes
    start_at = time.monotonic() + 3.0
    commands = [
        [sys.executable, "-m", "bench.httpload", "storm", "--port", str(ctx.web.port),
         "--instances", str(per + (1 if i < size.storm_instances % size.storm_processes else 0)),
         "--paths-file", str(paths_file), "--start-at", str(start_at)]
        for i in range(size.storm_processes)
    ]  # fmt: skip
    outs = _run_parallel(commands, 600)
    completions = sorted(t - start_at for out in outs for t in out.get("completions", ()))
    ctx.results["storm"] = {
        "instances": sum(out["done"] for out in outs),
        "requests_each": len(paths),
        "seconds": max(out["finished_at"] for out in outs) - start_at,
        "errors": sum(out["errors"] for out in outs),
        "first_error": next((o["first_error"] for o in outs if o["first_error"]), ""),
        "processes": size.storm_processes,
        # seconds after the start at which 1, 2, ... 100 % of the instances were done
        "completions_pct": [
            completions[min(len(completions) - 1, (len(completions) * pct) // 100)]
            for pct in range(1, 101)
        ]
        if completions
        else [],
    }


def bench_publish(ctx: Context) -> None:
    """5. Sustained publishes per second, then check every notification reached ZooKeeper."""
    size = ctx.size
    stop_at = time.monotonic() + size.publish_seconds
    last: dict[str, str] = {}
    states: dict[str, int] = {}
    lock = threading.Lock()

    def publisher(index: int) -> int:
        web = WebServer(ctx.work, ctx.web.database_url, ctx.web.zk_hosts)
        web.url, web.admin_token = ctx.web.url, ctx.web.admin_token
        count = 0
        key = f"pub{index}"
        try:
            while time.monotonic() < stop_at:
                value = f"{index}-{count}"
                state = web.publish_item(APP, ENV, VERSION, key, value)
                count += 1
                with lock:
                    last[key] = value
                    states[state] = states.get(state, 0) + 1
        finally:
            web.http.close()
        return count

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=size.publishers) as pool:
        total = sum(pool.map(publisher, range(size.publishers)))
    elapsed = time.monotonic() - began
    zk = ctx.zk_client()
    try:
        deadline = time.monotonic() + 60
        pending = list(last)
        while pending and time.monotonic() < deadline:
            pending = [
                key for key, value in last.items()
                if (zk.exists(f"/disconf/{APP}_{VERSION}_{ENV}/item/{key}") is None
                    or zk.get(f"/disconf/{APP}_{VERSION}_{ENV}/item/{key}")[0].decode() != value)
            ]  # fmt: skip
            if pending:
                time.sleep(0.1)
        drained = time.monotonic() - began - elapsed
    finally:
        zk.stop()
        zk.close()
    ctx.results["publish"] = {
        "publishers": size.publishers,
        "publishes": total,
        "seconds": elapsed,
        "rate": total / elapsed if elapsed else 0.0,
        "states": states,
        "undelivered_keys": len(pending),
        "drain_seconds": drained,
    }


def bench_slow_clients(ctx: Context) -> None:
    """6. Client reads while slow and mute connections are held (issue 14), vs gthread."""
    size = ctx.size
    ctx.web.publish_item(APP, ENV, VERSION, "slow.item", "42")
    path = f"/api/config/item?app={APP}&env={ENV}&version={VERSION}&key=slow.item"
    previous = WebServer(
        ctx.work / "gthread", ctx.web.database_url, ctx.zk.hosts, name="gthread",
        module="bench.gthread",
    )  # fmt: skip
    patient = WebServer(
        ctx.work / "patient", ctx.web.database_url, ctx.zk.hosts, name="patient",
        extra_env={"DISCONF_HTTP_HEADER_TIMEOUT": "300"},
    )  # fmt: skip
    rows = []
    servers = [("buffered front, defaults (`disconf-web serve`)", ctx.web, False)]
    try:
        servers.append(("buffered front, header timeout 300 s", patient.start(), True))
        servers.append(("gthread (the previous serving)", previous.start(), True))
        for label, server, _own in servers:
            idle = _pyload(server.port, path, size.slow_probe_connections, size.slow_seconds)
            warmup = 3.0
            holder = subprocess.Popen(
                [sys.executable, "-m", "bench.slowclients", "--port", str(server.port),
                 "--slow", str(size.slow_clients), "--mute", str(size.mute_clients),
                 "--duration", str(size.slow_seconds + warmup + 2)],
                env=python_env(), stdout=subprocess.PIPE, text=True, start_new_session=True,
            )  # fmt: skip
            try:
                time.sleep(warmup)  # the connections are opened (and re-opened when cut)
                held = _pyload(server.port, path, size.slow_probe_connections, size.slow_seconds)
                stdout, _ = holder.communicate(timeout=size.slow_seconds + 120)
            finally:
                stop_process(holder, timeout=5)
            holders = json.loads(stdout.strip().splitlines()[-1])
            rows.append({"serving": label, "idle": idle, "held": held, "holders": holders})
    finally:
        previous.stop()
        patient.stop()
    ctx.results["slow_clients"] = {
        "slow": size.slow_clients,
        "mute": size.mute_clients,
        "connections": size.slow_probe_connections,
        "seconds": size.slow_seconds,
        "workers": default_workers(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load": round(os.getloadavg()[0], 1),
        "rows": rows,
    }


STEPS = {
    "push": bench_push,
    "fanout": bench_fanout,
    "reads": bench_reads,
    "storm": bench_storm,
    "publish": bench_publish,
    "slow_clients": bench_slow_clients,
}


def run_benchmarks(
    size_name: str, out: Path, mysql_url: str | None, steps: list[str] | None = None
) -> dict[str, Any]:
    """Run ``steps`` (default: all) and write the report. With a subset, the results are merged
    into the last run's JSON next to ``out`` (the other sections keep their numbers)."""
    size = SIZES[size_name]
    work = Path(tempfile.mkdtemp(prefix="disconf-bench-"))
    started = datetime.now(timezone.utc)
    load_before = os.getloadavg()
    zk = EmbeddedZooKeeper(work / "zk").start()
    web = WebServer(work / "web", f"sqlite:///{work / 'bench.sqlite'}", zk.hosts)
    ctx = Context(size, work, zk, web, mysql_url)
    chosen = [STEPS[name] for name in (steps or list(STEPS))]
    try:
        web.bootstrap_admin()
        web.start()
        web.ensure_app_env(APP, ENV)
        for step in chosen:
            step_began = time.monotonic()
            print(f"bench: {step.__doc__.splitlines()[0] if step.__doc__ else step.__name__}")
            step(ctx)
            ctx.results.setdefault("durations", {})[step.__name__] = time.monotonic() - step_began
    finally:
        web.stop()
        zk.stop()
        shutil.rmtree(work, ignore_errors=True)
    if steps:
        previous = out.with_suffix(".json")
        merged: dict[str, Any] = (
            json.loads(previous.read_text(encoding="utf-8")) if previous.exists() else {}
        )
        durations = {**merged.get("durations", {}), **ctx.results.pop("durations", {})}
        merged.update(ctx.results, durations=durations)
        if "meta" in merged:
            write_report(merged, out)
            previous.write_text(json.dumps(merged, indent=1), encoding="utf-8")
            return merged
    ctx.results["meta"] = {
        "size": size_name,
        "cores": os.cpu_count(),
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "web_workers": default_workers(),
        "web_serving": "buffered-front",
        "wrk": bool(shutil.which("wrk")),
        "total_seconds": (datetime.now(timezone.utc) - started).total_seconds(),
        # 1-minute load average before and after: the machine is shared with other work
        "load_before": round(load_before[0], 1),
        "load_after": round(os.getloadavg()[0], 1),
    }
    write_report(ctx.results, out)
    out.with_suffix(".json").write_text(json.dumps(ctx.results, indent=1), encoding="utf-8")
    return ctx.results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="disconf benchmarks (issue 6)")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--mysql-url", default=os.environ.get("BENCH_MYSQL_URL"))
    parser.add_argument(
        "--steps",
        default="",
        help="comma-separated subset of " + ",".join(STEPS) + " (merged into the last run's "
        "JSON; default: all)",
    )
    args = parser.parse_args(argv)
    steps = [name.strip() for name in args.steps.split(",") if name.strip()]
    unknown = [name for name in steps if name not in STEPS]
    if unknown:
        parser.error(f"unknown steps {unknown}; known: {', '.join(STEPS)}")
    began = time.monotonic()
    run_benchmarks(args.size, args.out, args.mysql_url, steps or None)
    print(f"bench: wrote {args.out} in {time.monotonic() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
