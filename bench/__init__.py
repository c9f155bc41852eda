"""Benchmarks of issue 6 (push latency, fan-out, read throughput, restart storm, publish
throughput). Run them with ``scripts/bench.sh [--size tiny|full]``; see ``bench.run``."""

from __future__ import annotations

__all__: list[str] = []
