"""The master/standby exceptions: one root, :class:`StandbyError`, under the project's root.

::

    DisconfError
     +-- StandbyError                          root of every master/standby error; raised as such
          |                                    for bad arguments and for use after ``stop()``
          +-- MastershipError                  this instance cannot act as master now: the one
          |    |                               family a master's work loop catches
          |    +-- NotMasterError              it is not (or no longer) master: a standby, deposed,
          |    |                               or its lock node is gone
          |    +-- CoordinatorUnavailableError ZooKeeper did not answer (connection lost, session
          |                                    expired, client stopped, no answer in time)
          +-- StandbyDataError (also ValueError)
               |                               malformed contender/context data, or a context
               |                               that is not bytes or a JSON value
               +-- ContextTooLargeError        a context over ``MAX_CONTEXT_BYTES`` (512 KiB)

A master's loop needs one ``except``::

    try:
        election.save_context(checkpoint)
    except MastershipError:
        pause_work()        # deposed, or ZooKeeper unreachable: the hooks report what comes next

``StandbyError``, ``StandbyDataError`` and ``ContextTooLargeError`` are defined in
:mod:`disconf_core.standby` (the server reads the same data); every class above is importable
from :mod:`disconf_client.standby` and :mod:`disconf_client`.

Error Handling
--------------
Which ZooKeeper event raises which class: SUSPENDED makes ``save_context`` raise
``NotMasterError`` (the instance stopped being master at once); a call in flight when the
connection dies, one made during LOST or a ZooKeeper restart, or one unanswered within the
session timeout raises ``CoordinatorUnavailableError`` (see :mod:`~disconf_client.standby.store`).
"""

from __future__ import annotations

from disconf_core.standby import ContextTooLargeError, StandbyDataError, StandbyError

__all__ = [
    "ContextTooLargeError",
    "CoordinatorUnavailableError",
    "MastershipError",
    "NotMasterError",
    "StandbyDataError",
    "StandbyError",
]


class MastershipError(StandbyError):
    """This instance cannot act as master now (catch this one in a master's work loop)."""


class NotMasterError(MastershipError):
    """A master-only operation (saving the context) was attempted by a non-master."""


class CoordinatorUnavailableError(MastershipError):
    """ZooKeeper could not be reached or did not answer in time; mastership is not confirmed."""
