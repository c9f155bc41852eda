"""The serving front's app pool (disconf_web.app_pool): answers and errors come back on the
event loop's thread, a stopped pool refuses new requests and its threads end."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from disconf_web.app_pool import AppPool
from disconf_web.buffered_connection import Answer


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    if environ.get("PATH_INFO") == "/boom":
        raise ValueError("boom")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello ", environ["PATH_INFO"].encode()]


def test_answers_and_errors_come_back_on_the_loop() -> None:
    loop = asyncio.new_event_loop()
    pool = AppPool(2, loop)
    try:

        async def ask(path: str) -> tuple[Answer | None, BaseException | None, bool]:
            done: asyncio.Future[tuple[Answer | None, BaseException | None, bool]]
            done = loop.create_future()
            on_loop = threading.get_ident()

            def answered(answer: Answer | None, error: BaseException | None) -> None:
                done.set_result((answer, error, threading.get_ident() == on_loop))

            pool.submit(hello, {"PATH_INFO": path}, answered)
            return await asyncio.wait_for(done, 10)

        async def main() -> list[tuple[Answer | None, BaseException | None, bool]]:
            return await asyncio.gather(*(ask(f"/{n}") for n in range(20)), ask("/boom"))

        results = loop.run_until_complete(main())
        for n, (answer, error, on_loop) in enumerate(results[:20]):
            assert on_loop and error is None and answer is not None
            assert answer.status == "200 OK" and b"".join(answer.body) == f"hello /{n}".encode()
        answer, error, on_loop = results[20]
        assert on_loop and answer is None and isinstance(error, ValueError)
    finally:
        pool.shutdown()
        loop.close()


def test_a_stopped_pool_refuses_and_its_threads_end() -> None:
    loop = asyncio.new_event_loop()
    pool = AppPool(3, loop)
    pool.shutdown()
    pool.shutdown()  # idempotent
    with pytest.raises(RuntimeError):
        pool.submit(hello, {"PATH_INFO": "/"}, lambda answer, error: None)
    for thread in pool._threads:
        thread.join(10)
        assert not thread.is_alive()
    loop.close()
