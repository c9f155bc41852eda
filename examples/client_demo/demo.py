"""A tiny service that prints its Disconf configuration (see README.md next to it).

Settings come from the environment (``DISCONF_SERVERS``, ``DISCONF_APP``, ``DISCONF_ENV``,
``DISCONF_VERSION``, ``DISCONF_DOWNLOAD_DIR`` ...), as for any service using disconf_client.

Output, one line each (flushed):
    CONFIG source=<server|snapshot|...> host=... port=... discount=...   at start and on change
    SERVING host=... port=... discount=...                               every --interval s
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from decimal import Decimal
from typing import Any

from disconf_client import ChangeEvent, DisconfClient, disconf_file, disconf_item, field, snapshot


@disconf_file("redis.properties")
class RedisConfig:
    host: str = field(key="redis.host", default="localhost")
    port: int = field(key="redis.port", default=6379)


@disconf_item("discountRate")
class Discount:
    rate: Decimal = Decimal("0")


def describe() -> str:
    redis = snapshot(RedisConfig)  # one consistent revision
    return f"host={redis.host} port={redis.port} discount={snapshot(Discount).rate}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between SERVING")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def changed(event: ChangeEvent[Any]) -> None:
        print(f"CONFIG source={event.source} {describe()}", flush=True)

    client = DisconfClient([RedisConfig, Discount], on_change=changed)
    client.start()
    try:
        sources = {client.source_of(RedisConfig), client.source_of(Discount)}
        print(f"CONFIG source={','.join(sorted(sources))} {describe()}", flush=True)
        while not stop.wait(args.interval):
            print(f"SERVING {describe()}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
