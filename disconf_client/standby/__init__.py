"""Master/standby: exactly one active master among the instances sharing an election name.

The recipe is :class:`ActiveStandby` (:mod:`~disconf_client.standby.election`); its parts have
one module each:

* :mod:`~disconf_client.standby.election` — the election: terms, the session listener, takeover
* :mod:`~disconf_client.standby.lock` — the contender lock (kazoo's ``Lock``, bounded retries)
* :mod:`~disconf_client.standby.hooks` — the hook thread (hooks run in order, never on kazoo's)
* :mod:`~disconf_client.standby.store` — the saved context and the contender list in ZooKeeper
* :mod:`~disconf_client.standby.session` — the owned client and its negotiated session timeout
* :mod:`~disconf_client.standby.spec` — ``@active_standby`` (metadata only)
* :mod:`~disconf_client.standby.roles` — config per role (:class:`RoleConfigs`)
* :mod:`~disconf_client.standby.errors` — the exception tree

Every public name is importable from here (and from :mod:`disconf_client`). See
``docs/standby.md``.

Error Handling
--------------
Described per module; in short: on SUSPENDED a master stops at once (``on_lose_master``); on
LOST it re-enters the contest with a new node; a ZooKeeper restart is SUSPENDED then reconnect
(or LOST); a master's loop catches :class:`MastershipError` once for both "no longer master" and
"ZooKeeper unreachable".
"""

from __future__ import annotations

from .election import DEFAULT_SESSION_TIMEOUT as DEFAULT_SESSION_TIMEOUT
from .election import RETRY_PAUSE as RETRY_PAUSE
from .election import ActiveStandby as ActiveStandby
from .errors import ContextTooLargeError as ContextTooLargeError
from .errors import CoordinatorUnavailableError as CoordinatorUnavailableError
from .errors import MastershipError as MastershipError
from .errors import NotMasterError as NotMasterError
from .errors import StandbyDataError as StandbyDataError
from .errors import StandbyError as StandbyError
from .roles import RoleClient as RoleClient
from .roles import RoleConfigs as RoleConfigs
from .spec import StandbySpec as StandbySpec
from .spec import active_standby as active_standby

__all__ = [
    "DEFAULT_SESSION_TIMEOUT",
    "RETRY_PAUSE",
    "ActiveStandby",
    "ContextTooLargeError",
    "CoordinatorUnavailableError",
    "MastershipError",
    "NotMasterError",
    "RoleClient",
    "RoleConfigs",
    "StandbyDataError",
    "StandbyError",
    "StandbySpec",
    "active_standby",
]
