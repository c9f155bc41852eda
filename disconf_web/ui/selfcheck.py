"""The config list's self-check column: what each running client instance holds.

Clients register an EPHEMERAL node per instance under each config's ZooKeeper node, holding the
values they loaded; :func:`self_check` compares them with the stored config using the same
:mod:`disconf_core.instances` checks as the admin API's ``.../instances`` endpoint.

Error Handling
--------------
The page must render without ZooKeeper. If this process's ZooKeeper session is not connected
(after waiting at most ``CONNECT_WAIT`` seconds for a session that is just starting), or any read
fails or times out (``READ_TIMEOUT`` per read), :func:`self_check` returns ``None`` plus the
reason and the page shows "self-check unavailable". It runs in the request thread and never
blocks a kazoo event thread (it only waits on async results).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from flask import current_app

from disconf_core import (
    ConfigType,
    Coordinates,
    InstanceCheck,
    check_file_instance,
    check_item_instance,
    config_node,
)

from ..models import Config
from ..state import get_notifier

__all__ = ["CONNECT_WAIT", "READ_TIMEOUT", "ConfigCheck", "self_check"]

log = logging.getLogger(__name__)

CONNECT_WAIT = 1.0
READ_TIMEOUT = 2.0


@dataclass
class ConfigCheck:
    """The instances of one config and how many hold something else than the stored value."""

    instances: list[InstanceCheck] = field(default_factory=list)

    @property
    def mismatched(self) -> int:
        return sum(1 for instance in self.instances if not instance.ok)


def self_check(
    coords: Coordinates, configs: Sequence[Config]
) -> tuple[dict[int, ConfigCheck] | None, str]:
    """``({config id: check}, "")``, or ``(None, reason)`` when ZooKeeper cannot be read."""
    if not current_app.config["ZK_ENABLED"]:
        return None, "ZooKeeper is disabled on this server (DISCONF_ZK_ENABLED=false)"
    notifier = get_notifier(current_app)
    notifier.ensure_started()
    deadline = time.monotonic() + CONNECT_WAIT
    while not notifier.connected and time.monotonic() < deadline:
        time.sleep(0.05)  # a session just started in this worker: give it a moment
    if not notifier.connected:
        return None, f"ZooKeeper {notifier.hosts} is not connected"
    prefix = current_app.config["ZK_PREFIX"]
    checks: dict[int, ConfigCheck] = {}
    try:
        for config in configs:
            kind = ConfigType(config.type)
            found = notifier.instances(config_node(prefix, coords, kind, config.name), READ_TIMEOUT)
            check = ConfigCheck()
            for instance in found:
                if kind is ConfigType.FILE:
                    result = check_file_instance(
                        instance.name, config.name, config.value, instance.data
                    )
                else:
                    result = check_item_instance(instance.name, config.value, instance.data)
                check.instances.append(result)
            checks[config.id] = check
    except Exception as exc:  # noqa: BLE001 - any ZooKeeper failure: the page still renders
        log.warning("self-check of %s failed: %r", coords, exc)
        return None, f"cannot read ZooKeeper: {exc or type(exc).__name__}"
    return checks, ""
