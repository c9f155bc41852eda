"""Hold slow and mute connections against a server, as an attacker (or a broken client fleet)
would: ``python -m bench.slowclients --port P --slow N --mute M --duration D``.

* slow (slowloris): connect, send a request line and part of a header, then one more header byte
  every ``--trickle`` seconds, never finishing the head;
* mute: connect and never send a byte.

A connection the server cuts is re-opened at once, so N + M connections are held for the whole
duration whatever the server's timeouts. Prints one JSON line: ``{"slow", "mute", "cuts",
"connect_errors", "held_min", "held_mean"}`` (the fewest and the mean number of connections
held, sampled every 0.5 s after the first second).

Error Handling
--------------
A refused connection is counted and retried after 0.1 s; every wait is bounded by the duration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from .httpload import _raise_file_limit

__all__ = ["main"]

_HEAD = b"GET /api/config/item?app=bench&env=bench HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


class _Counters:
    def __init__(self) -> None:
        self.held = 0
        self.cuts = 0
        self.connect_errors = 0


async def _hold(port: int, slow: bool, stop_at: float, trickle: float, counters: _Counters) -> None:
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), max(0.1, stop_at - time.monotonic())
            )
        except (OSError, asyncio.TimeoutError):
            counters.connect_errors += 1
            await asyncio.sleep(0.1)
            continue
        counters.held += 1
        try:
            if slow:
                writer.write(_HEAD)
            while time.monotonic() < stop_at:
                wait = min(trickle, max(0.0, stop_at - time.monotonic()))
                try:
                    data = await asyncio.wait_for(reader.read(4096), wait)
                except asyncio.TimeoutError:
                    if slow:
                        writer.write(b"a")
                        await writer.drain()
                    continue
                if not data:  # the server cut us
                    counters.cuts += 1
                    break
        except OSError:
            counters.cuts += 1
        finally:
            counters.held -= 1
            writer.close()


async def _run(port: int, slow: int, mute: int, duration: float, trickle: float) -> dict[str, int]:
    counters = _Counters()
    stop_at = time.monotonic() + duration
    tasks = [
        asyncio.create_task(_hold(port, index < slow, stop_at, trickle, counters))
        for index in range(slow + mute)
    ]
    samples: list[int] = []
    await asyncio.sleep(min(1.0, duration))
    while time.monotonic() < stop_at:
        samples.append(counters.held)
        await asyncio.sleep(0.5)
    await asyncio.gather(*tasks)
    return {
        "slow": slow,
        "mute": mute,
        "cuts": counters.cuts,
        "connect_errors": counters.connect_errors,
        "held_min": min(samples, default=0),
        "held_mean": round(sum(samples) / len(samples)) if samples else 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="hold slow and mute connections")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slow", type=int, default=500)
    parser.add_argument("--mute", type=int, default=500)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--trickle", type=float, default=2.0)
    args = parser.parse_args(argv)
    _raise_file_limit()
    result = asyncio.run(_run(args.port, args.slow, args.mute, args.duration, args.trickle))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
