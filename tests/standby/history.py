"""Contender processes for the tests, and the check of their recorded master intervals.

The exact assertion (:func:`check_history`)
-------------------------------------------
Each process logs ``master`` (with its fencing token) when ``on_become_master`` runs and
``lost`` when ``on_lose_master`` runs; both hooks run *after* ``is_master`` flipped, so a logged
interval ``[master, lost]`` covers the whole time the process acted as master. An interval with
no ``lost`` ends when the test killed the process (time taken after the kill was reaped) or, for
a process still master, at the end of the test.

* A process **paused** with SIGSTOP at ``t_stop`` and resumed with SIGCONT at ``t_cont`` cannot
  act in between, so its interval is clipped to end at ``t_stop``. After ``t_cont`` it may still
  believe it is master until its client reports SUSPENDED/LOST; that **zombie window**
  ``[t_cont, lost]`` is not counted as an interval (no lock service can prevent it: the process
  cannot know before it runs again) but it is reported, and it must be **fenced**: the zombie's
  token is lower than the token of every interval overlapping the window, so a store that
  keeps the highest token it has seen refuses the zombie's writes.
* Intervals, sorted by start, must not overlap (each ends before the next starts), and their
  tokens must strictly increase.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Interval:
    label: str
    token: int
    start: float
    end: float


@dataclass
class Contender:
    label: str
    log: Path
    process: subprocess.Popen[bytes]
    killed_at: float | None = None
    paused: list[tuple[float, float]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = self.log.read_bytes().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def events(self) -> list[str]:
        return [record["event"] for record in self.records()]

    def role(self) -> str | None:
        """The last role this process recorded: 'master', 'standby', 'lost', or None."""
        roles = [e for e in self.events() if e in ("master", "standby", "lost")]
        return roles[-1] if roles else None


class Fleet:
    """Contender processes started by PID and always stopped by PID."""

    def __init__(self, hosts: str, directory: Path, session_timeout: float) -> None:
        self.hosts = hosts
        self.directory = directory
        self.session_timeout = session_timeout
        self.members: dict[str, Contender] = {}

    def spawn(self, label: str) -> Contender:
        log = self.directory / f"{label}.jsonl"
        output = open(self.directory / f"{label}.out", "ab")  # noqa: SIM115 - child owns it
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.standby.contender_process",
                    "--hosts",
                    self.hosts,
                    "--label",
                    label,
                    "--log",
                    str(log),
                    "--session-timeout",
                    str(self.session_timeout),
                ],
                cwd=ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        finally:
            output.close()
        member = Contender(label, log, process)
        self.members[label] = member
        return member

    def masters(self) -> list[Contender]:
        return [
            m
            for m in self.members.values()
            if m.role() == "master" and m.killed_at is None and m.process.poll() is None
        ]

    def kill(self, member: Contender) -> float:
        os.kill(member.process.pid, signal.SIGKILL)
        member.process.wait(10)
        member.killed_at = time.time()
        return member.killed_at

    def terminate(self, member: Contender) -> None:
        member.process.terminate()
        member.process.wait(15)

    def pause(self, member: Contender) -> float:
        os.kill(member.process.pid, signal.SIGSTOP)
        stat = Path(f"/proc/{member.process.pid}/stat")
        while stat.read_text().split(") ", 1)[1][0] != "T":  # bounded: SIGSTOP is prompt
            time.sleep(0.005)
        return time.time()

    def resume(self, member: Contender, stopped_at: float) -> float:
        resumed = time.time()  # taken first: the process may run as soon as the signal is sent
        os.kill(member.process.pid, signal.SIGCONT)
        member.paused.append((stopped_at, resumed))
        return resumed

    def close(self) -> None:
        for member in self.members.values():
            if member.process.poll() is None:
                os.kill(member.process.pid, signal.SIGCONT)
                member.process.terminate()
                try:
                    member.process.wait(15)
                except subprocess.TimeoutExpired:
                    member.process.kill()
                    member.process.wait(10)

    def output(self) -> str:
        parts = []
        for label in self.members:
            path = self.directory / f"{label}.out"
            if path.exists():
                parts.append(f"--- {label}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


def intervals_of(member: Contender, now: float) -> tuple[list[Interval], list[Interval]]:
    """(master intervals, zombie windows) of one process, as described in the module doc."""
    intervals: list[Interval] = []
    zombies: list[Interval] = []
    open_start: float | None = None
    open_token = -1
    for record in member.records():
        if record["event"] == "master":
            assert open_start is None, f"{member.label}: master twice without lost"
            open_start, open_token = record["t"], record["token"]
        elif record["event"] == "lost" and open_start is not None:
            intervals.append(Interval(member.label, open_token, open_start, record["t"]))
            open_start = None
    if open_start is not None:
        end = member.killed_at if member.killed_at is not None else now
        intervals.append(Interval(member.label, open_token, open_start, end))
    clipped: list[Interval] = []
    for interval in intervals:
        for stopped, resumed in member.paused:
            if interval.start < stopped < interval.end:
                if resumed < interval.end:
                    zombies.append(Interval(member.label, interval.token, resumed, interval.end))
                interval = Interval(member.label, interval.token, interval.start, stopped)
        clipped.append(interval)
    return clipped, zombies


def check_history(fleet: Fleet) -> list[Interval]:
    """Assert the module doc's rules over every process's log; returns the intervals."""
    now = time.time()
    intervals: list[Interval] = []
    zombies: list[Interval] = []
    for member in fleet.members.values():
        mine, zombie = intervals_of(member, now)
        intervals += mine
        zombies += zombie
    intervals.sort(key=lambda interval: interval.start)
    for before, after in zip(intervals, intervals[1:], strict=False):
        assert before.end <= after.start, f"two masters at once: {before} and {after}"
        assert before.token < after.token, f"fencing token did not increase: {before}, {after}"
    for zombie in zombies:
        print(f"zombie window of {zombie.label}: {zombie.end - zombie.start:.3f}s")
        for interval in intervals:
            if interval.start < zombie.end and zombie.start < interval.end:
                assert zombie.token < interval.token, f"unfenced zombie {zombie} vs {interval}"
    return intervals
