"""The election's data in ZooKeeper besides the lock: the master's saved context, the contenders.

Used by :class:`disconf_client.standby.ActiveStandby` (``save_context``, ``load_context``,
``contenders``). The context is written in one ZooKeeper transaction that first checks the
master's own lock node, so a deposed master can never overwrite its successor's context.

Error Handling
--------------
Nothing here retries: a kazoo error (connection loss, session expired, a closed client) raises
:class:`~disconf_client.standby_errors.StandbyError` naming the election. A call made while the
connection is SUSPENDED waits, as every synchronous kazoo call does, for the reconnect (or fails
when the session turns out LOST). A write whose lock node is gone (the writer is no longer
master) raises :class:`~disconf_client.standby_errors.NotMasterError`.
"""

from __future__ import annotations

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError

from disconf_core.standby import (
    Contender,
    SavedContext,
    contender_token,
    decode_context,
    parse_contenders,
)

from .standby_errors import NotMasterError, StandbyError

__all__ = ["list_contenders", "read_context", "write_context"]


def write_context(zk: KazooClient, name: str, context_path: str, node: str, data: bytes) -> None:
    """One transaction: ``node`` (our lock node) must exist, then the context is set."""
    for attempt in (1, 2):
        transaction = zk.transaction()
        transaction.check(node, -1)
        transaction.set_data(context_path, data)
        try:
            results = transaction.commit()
        except KazooException as exc:
            raise StandbyError(
                f"master/standby {name!r}: could not save the context: {exc!r}"
            ) from exc
        if not any(isinstance(result, Exception) for result in results):
            return
        if isinstance(results[0], NoNodeError):
            raise NotMasterError(
                f"master/standby {name!r}: lock node {node!r} is gone; this instance "
                "is no longer master and its context was not saved"
            )
        if attempt == 1 and isinstance(results[1], NoNodeError):
            try:
                zk.ensure_path(context_path)
            except KazooException as exc:
                raise StandbyError(
                    f"master/standby {name!r}: could not create {context_path!r}"
                ) from exc
            continue
        raise StandbyError(f"master/standby {name!r}: context not saved: {results!r}")


def read_context(zk: KazooClient, name: str, context_path: str) -> SavedContext | None:
    """Read the saved context from ZooKeeper now (any role)."""
    try:
        data, _stat = zk.get(context_path)
    except NoNodeError:
        return None
    except KazooException as exc:
        raise StandbyError(f"master/standby {name!r}: could not read the context: {exc!r}") from exc
    return decode_context(data)


def list_contenders(zk: KazooClient, name: str, path: str) -> list[Contender]:
    """Every contender (host, pid, since, token, is_master), master first, for diagnostics."""
    try:
        children = zk.get_children(path)
        nodes: list[tuple[str, bytes | None]] = []
        for child in children:
            if contender_token(child) is None:
                continue
            try:
                data, _stat = zk.get(f"{path}/{child}")
            except NoNodeError:
                continue
            nodes.append((child, data))
    except NoNodeError:
        return []
    except KazooException as exc:
        raise StandbyError(f"master/standby {name!r}: could not list contenders: {exc!r}") from exc
    return parse_contenders(nodes)
