"""The benchmarks at their tiny size, as a normal test: the report is produced and nothing
failed. Never asserts a time (these are benchmarks, not timed tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench.report import CHARTS
from bench.run import run_benchmarks


@pytest.mark.slow
def test_tiny_benchmarks_produce_a_report_without_errors(
    tmp_path: Path, make_mysql_database: Callable[[], str]
) -> None:
    mysql_url = make_mysql_database()
    out = tmp_path / "benchmarks.md"
    results = run_benchmarks("tiny", out, mysql_url)

    text = out.read_text(encoding="utf-8")
    for heading in ("## Targets", "## 1. Push latency", "## 2. Fan-out", "## 3. Read throughput",
                    "## 4. Restart storm", "## 5. Publish throughput", "## 6. Reads while slow",
                    "cores:"):  # fmt: skip
        assert heading in text
    assert out.with_suffix(".json").exists()
    assert [row["clients"] for row in results["push"]] == [1, 2]
    for row in results["push"]:
        assert row["disconf"]["n"] == row["clients"] * row["publishes"]
        assert row["raw"]["n"] == row["clients"] * row["publishes"]
    assert results["fanout"]["server_errors"] == 0
    assert results["fanout"]["last"]["n"] == results["fanout"]["publishes"]
    reads = results["reads"]
    assert reads["ceiling"]["errors"] == 0 and reads["ceiling"]["rps"] > 0
    assert {row["database"] for row in reads["rows"]} == {
        "SQLite",
        "MySQL (PyMySQL)",
        "MySQL (mysqlclient)",
    }
    assert all(row["errors"] == 0 and row["rps"] > 0 for row in reads["rows"])
    assert results["storm"]["errors"] == 0
    assert results["storm"]["instances"] == 20
    assert len(results["storm"]["completions_pct"]) == 100
    for chart in CHARTS.values():  # drawn from the JSON, linked from the report
        assert (tmp_path / chart).read_text(encoding="utf-8").startswith("<svg")
        assert f"({chart})" in text
    assert results["publish"]["publishes"] > 0
    assert results["publish"]["undelivered_keys"] == 0
    slow = results["slow_clients"]
    fronts = [row for row in slow["rows"] if row["serving"].startswith("buffered front")]
    assert len(fronts) == 2 and len(slow["rows"]) == 3
    for row in fronts:
        assert row["held"]["errors"] == 0 and row["held"]["rps"] > 0
        assert row["holders"]["slow"] == 20 and row["holders"]["mute"] == 20
