"""Spreading a fleet's requests in time, so thousands of clients never ask at the same instant.

Three moments make every client of a fleet ask the server at once: a fleet started together
(a deploy), a ZooKeeper restart or network cut (every session is re-established together and
every client re-fetches everything), and the periodic safety-net check of clients started
together. Each waits a delay drawn uniformly from ``[0, bound]`` first:

* ``start_jitter`` (default 0 s: ``start()`` blocks the application, and deploy tools already
  stagger restarts; for a fleet started all at once, set about *fleet size / the server's
  requests per second x requests per start*, e.g. 10,000 x 7 / 7,000 ≈ 10 s): before the first
  request of ``start()``; ``close()`` ends the wait;
* ``resync_jitter`` (default 2 s): before the full re-fetch after a (re)connection to ZooKeeper
  (a new session after a loss, or the discovery retried in the background), and added to every
  ``recheck_interval`` of the safety net. The values held meanwhile stay in force, so the only
  cost is that a change made while the session was lost arrives up to ``resync_jitter`` later.

Both bounds are client settings (``DISCONF_START_JITTER``, ``DISCONF_RESYNC_JITTER``), at most
:data:`MAX_JITTER` seconds; 0 turns the spreading off.
"""

from __future__ import annotations

import random

__all__ = ["MAX_JITTER", "jitter_delay"]

MAX_JITTER = 600.0
_random = random.SystemRandom()  # independent of the application's random.seed()


def jitter_delay(bound: float) -> float:
    """A delay in seconds drawn uniformly from ``[0, bound]``; 0 when ``bound <= 0``."""
    if bound <= 0:
        return 0.0
    return min(bound, MAX_JITTER) * _random.random()
