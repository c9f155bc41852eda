"""Config per role for master/standby: the master's configs, and the standbys' variants.

A config can be master-only (``job.properties`` bound only while master) or have a standby
variant (``job.standby.properties`` bound while standby)::

    roles = RoleConfigs(master=[JobConfig], standby=[JobStandbyConfig], app="billing", ...)
    election = ActiveStandby("billing-job", ..., role_configs=roles)

:class:`RoleConfigs` gives :class:`~disconf_client.standby.election.ActiveStandby` its two
loaders: on takeover, :meth:`RoleConfigs.load_master` closes the standby's
:class:`DisconfClient` and starts one for the master's classes (``start()`` blocks until every
class is bound) **before** ``is_master`` turns True and ``on_become_master`` runs;
:meth:`RoleConfigs.load_standby` does the reverse before ``on_become_standby``. The running
client keeps watching its configs, so a published change reaches the role's classes as usual.

Error Handling
--------------
* The master's configs cannot be loaded (``start()`` raises, e.g. ``ConfigUnavailableError`` in
  SERVER mode): the election gives its lock up and competes again a second later, so a standby
  that can load them becomes master instead (see :mod:`disconf_client.standby.election`).
* The standby's configs cannot be loaded: logged by the election; the instance still waits as
  a standby (it is not acting).
* ZooKeeper or the config server lost after loading: the DisconfClient's own behaviour (see
  :mod:`disconf_client.client`); it does not affect the election.
* The election's session SUSPENDED, LOST or ZooKeeper restarting: nothing changes here until
  the election's next role change calls :meth:`RoleConfigs.load_standby` (a queued standby
  again) or :meth:`RoleConfigs.load_master` (a new term); the bound configs stay meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

__all__ = ["RoleClient", "RoleConfigs"]


class RoleClient(Protocol):
    """What RoleConfigs needs from a client: ``DisconfClient`` fits."""

    def start(self) -> object: ...

    def close(self) -> None: ...


def _disconf_client_factory(**client_kwargs: Any) -> Callable[[Sequence[type]], RoleClient]:
    def make(classes: Sequence[type]) -> RoleClient:
        from ..client import DisconfClient  # imported late: standby works without the server

        return DisconfClient(classes, **client_kwargs)

    return make


class RoleConfigs:
    """The configs each role binds; see the module docstring."""

    def __init__(
        self,
        master: Iterable[type] = (),
        standby: Iterable[type] = (),
        *,
        client_factory: Callable[[Sequence[type]], RoleClient] | None = None,
        **client_kwargs: Any,
    ) -> None:
        """``client_kwargs`` go to every ``DisconfClient`` (settings: app, env, servers...)."""
        if client_factory is not None and client_kwargs:
            raise TypeError("pass either client_factory= or DisconfClient settings, not both")
        self.master = tuple(master)
        self.standby = tuple(standby)
        self._factory = client_factory or _disconf_client_factory(**client_kwargs)
        self._lock = threading.Lock()
        self._client: RoleClient | None = None
        self._role: str | None = None

    @property
    def role(self) -> str | None:
        """``"master"``, ``"standby"`` or None: whose configs are bound now."""
        return self._role

    def load_master(self) -> None:
        """Bind the master's configs (blocking), releasing the standby's first."""
        self._switch("master", self.master)

    def load_standby(self) -> None:
        """Bind the standby's configs (blocking), releasing the master's first."""
        self._switch("standby", self.standby)

    def close(self) -> None:
        with self._lock:
            self._close_current()

    def _switch(self, role: str, classes: tuple[type, ...]) -> None:
        with self._lock:
            if self._role == role and self._client is not None:
                return
            self._close_current()
            if classes:
                client = self._factory(classes)
                try:
                    client.start()
                except BaseException:
                    client.close()
                    raise
                self._client = client
            self._role = role

    def _close_current(self) -> None:
        client, self._client, self._role = self._client, None, None
        if client is not None:
            client.close()
