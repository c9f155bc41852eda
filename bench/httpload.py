"""A small asyncio HTTP/1.1 load generator (keep-alive, Content-Length bodies only, which is
what the server answers), used for the restart storm and as the read-throughput fallback when
``wrk`` is not installed. Run in several processes so the generator is not the bottleneck.

``python -m bench.httpload storm --port P --instances N --start-at T --paths-file F``: N
simulated instances, each on its own new connection, GET every path in F (one per line) in
order, all beginning at ``time.monotonic() >= T``. Prints one JSON line: ``{"done", "errors",
"finished_at", "first_error", "completions"}`` (``completions``: each instance's finishing time,
``time.monotonic()``, for the completions-over-time chart).

``python -m bench.httpload read --port P --connections C --duration D --path PATH``: C
connections looping GETs for D seconds; prints ``{"requests", "errors", "latencies_ms"...}``.

Error Handling
--------------
A refused/reset connection, a timeout (30 s per request) or a non-200 answer (or a value
envelope with ``"status":0``) is counted as an error, with the first one's description kept.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time

__all__ = ["main"]

_TIMEOUT = 30.0


class HttpError(Exception):
    pass


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> bytes:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    if status != 200:
        raise HttpError(f"GET {path}: HTTP {status}")
    if body.startswith(b'{"status":0'):
        raise HttpError(f"GET {path}: {body[:200]!r}")
    return body


async def _instance(
    port: int, paths: list[str], errors: list[str], completions: list[float]
) -> None:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), _TIMEOUT
        )
    except (OSError, asyncio.TimeoutError) as exc:
        errors.append(f"connect: {type(exc).__name__}: {exc}")
        return
    try:
        for path in paths:
            await asyncio.wait_for(_get(reader, writer, path), _TIMEOUT)
        completions.append(time.monotonic())
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, HttpError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


async def _storm(port: int, instances: int, paths: list[str], start_at: float) -> dict[str, object]:
    delay = start_at - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    errors: list[str] = []
    completions: list[float] = []
    await asyncio.gather(*(_instance(port, paths, errors, completions) for _ in range(instances)))
    return {
        "done": instances,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "finished_at": time.monotonic(),
        "completions": completions,
    }


async def _reader_loop(
    port: int, path: str, stop_at: float, latencies: list[float], errors: list[str]
) -> None:
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            errors.append(str(exc))
            await asyncio.sleep(0.01)
            continue
        try:
            while time.monotonic() < stop_at:
                began = time.perf_counter()
                await asyncio.wait_for(_get(reader, writer, path), _TIMEOUT)
                latencies.append((time.perf_counter() - began) * 1000)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, HttpError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            writer.close()


async def _read(port: int, connections: int, duration: float, path: str) -> dict[str, object]:
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.monotonic() + duration
    began = time.monotonic()
    await asyncio.gather(
        *(_reader_loop(port, path, stop_at, latencies, errors) for _ in range(connections))
    )
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "seconds": time.monotonic() - began,
        "latencies_ms": latencies,
    }


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="asyncio HTTP load generator")
    parser.add_argument("kind", choices=["storm", "read"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--instances", type=int, default=0)
    parser.add_argument("--paths-file", default="")
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--path", default="/")
    args = parser.parse_args(argv)
    _raise_file_limit()
    if args.kind == "storm":
        with open(args.paths_file, encoding="utf-8") as handle:
            paths = [line.strip() for line in handle if line.strip()]
        result = asyncio.run(_storm(args.port, args.instances, paths, args.start_at))
    else:
        result = asyncio.run(_read(args.port, args.connections, args.duration, args.path))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
