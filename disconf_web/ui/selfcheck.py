"""The config list's self-check column: what each running client instance holds.

A thin console adapter of :func:`disconf_web.instances.self_check` (the one self-check, shared
with the admin API's ``.../instances``): all instance nodes of the page are read concurrently
(two pipelined rounds, whatever the number of configs), bounded by ``READ_TIMEOUT`` overall.

Error Handling
--------------
The page must render without ZooKeeper. If this process's ZooKeeper session is not connected
(after waiting at most ``CONNECT_WAIT`` seconds for a session that is just starting; also while
``SUSPENDED`` or after a session ``LOST`` until kazoo reconnects), or the reads fail or time
out, :func:`self_check` returns ``None`` plus the reason and the page shows "self-check
unavailable". So it does when the version's ZooKeeper node is shared with other coordinates
(their instances cannot be told apart). It runs in the request thread and never blocks a kazoo
event thread (it only waits on async results). Database loss: the page's own queries fail first
(503).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flask import current_app

from disconf_core import Coordinates

from ..extensions import get_db
from ..instances import CONNECT_WAIT, READ_TIMEOUT, ConfigCheck, SharedNode, require_own_node
from ..instances import self_check as check_instances
from ..models import Config
from ..publisher import get_publisher

__all__ = ["CONNECT_WAIT", "READ_TIMEOUT", "ConfigCheck", "self_check"]

log = logging.getLogger(__name__)


def self_check(
    coords: Coordinates, configs: Sequence[Config]
) -> tuple[dict[int, ConfigCheck] | None, str]:
    """``({config id: check}, "")``, or ``(None, reason)`` when ZooKeeper cannot be read."""
    if not current_app.config["ZK_ENABLED"]:
        return None, "ZooKeeper is disabled on this server (DISCONF_ZK_ENABLED=false)"
    prefix = current_app.config["ZK_PREFIX"]
    try:
        require_own_node(get_db(current_app).session(), prefix, coords)
    except SharedNode as exc:
        return None, str(exc)
    registry = get_publisher(current_app).instances
    try:
        registry.wait_connected(CONNECT_WAIT)
    except Exception:  # noqa: BLE001 - not connected: the page still renders
        return None, f"ZooKeeper {registry.connection.hosts} is not connected"
    try:
        return check_instances(registry, prefix, coords, configs, READ_TIMEOUT), ""
    except Exception as exc:  # noqa: BLE001 - any ZooKeeper failure: the page still renders
        log.warning("self-check of %s failed: %r", coords, exc)
        return None, f"cannot read ZooKeeper: {exc or type(exc).__name__}"
