"""The ``wrk`` wrapper of the benchmarks: a run that is not done long after its duration (a hung
``wrk``, or a machine that stood still) is run once more, and a second one fails the step."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from bench import run as bench_run

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:1/
  Latency Distribution
     50%  250.00us
     99%    1.50ms
  100 requests in 1.00s, 10.00KB read
Requests/sec:    100.00
"""


def test_a_wrk_run_that_never_ends_is_run_once_more(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(kwargs["timeout"])
        if len(calls) == 1:
            raise subprocess.TimeoutExpired(command, kwargs["timeout"])
        return subprocess.CompletedProcess(command, 0, WRK_OUTPUT, "")

    monkeypatch.setattr(bench_run.subprocess, "run", run)
    result = bench_run._wrk("http://127.0.0.1:1/", 4, 1)
    assert calls == [1 + bench_run.WRK_GRACE] * 2
    assert result == {"tool": "wrk", "errors": 0, "rps": 100.0, "p50_ms": 0.25, "p99_ms": 1.5}


def test_a_wrk_run_that_hangs_twice_fails_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(kwargs["timeout"])
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(bench_run.subprocess, "run", run)
    with pytest.raises(subprocess.TimeoutExpired):
        bench_run._wrk("http://127.0.0.1:1/", 4, 1)
    assert len(calls) == 2
