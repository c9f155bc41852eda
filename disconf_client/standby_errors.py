"""The master/standby recipe's exceptions (re-exported by :mod:`disconf_client.standby`).

Kept apart so the recipe and its ZooKeeper context store can both raise them without importing
each other.
"""

from __future__ import annotations

from disconf_core import DisconfError

__all__ = ["NotMasterError", "StandbyError"]


class StandbyError(DisconfError):
    """A master/standby operation failed (ZooKeeper unreachable, bad arguments)."""


class NotMasterError(StandbyError):
    """A master-only operation (saving the context) was attempted by a non-master."""
