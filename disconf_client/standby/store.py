"""The election's data in ZooKeeper besides the lock: the master's saved context, the contenders.

Used by :class:`~disconf_client.standby.election.ActiveStandby` (``save_context``,
``load_context``, ``contenders``, and the context a new master receives). The context is written
in one ZooKeeper transaction that first checks the master's own lock node, so a deposed master
can never overwrite its successor's context.

Error Handling
--------------
Nothing here retries, and every call waits at most ``timeout`` seconds (the election passes its
session timeout: a call unanswered for that long cannot be trusted anyway).

* **SUSPENDED** (connection lost): a call already sent fails with kazoo's ``ConnectionLoss``; one
  made meanwhile waits for the reconnect, at most ``timeout``. Both raise
  :class:`~disconf_client.standby.errors.CoordinatorUnavailableError` naming the election.
* **LOST** (session expired), a stopped client, a server that accepts and never answers: the
  same :class:`~disconf_client.standby.errors.CoordinatorUnavailableError`.
* **ZooKeeper restart**: as SUSPENDED, then calls work again on the reconnected session.
* A write whose lock node is gone (the writer is no longer master) raises
  :class:`~disconf_client.standby.errors.NotMasterError`. Both are
  :class:`~disconf_client.standby.errors.MastershipError`: a master's loop catches that one.
* Any other ZooKeeper refusal (e.g. no permission) raises
  :class:`~disconf_client.standby.errors.StandbyError`.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from kazoo.client import KazooClient
from kazoo.exceptions import (
    ConnectionClosedError,
    ConnectionDropped,
    ConnectionLoss,
    KazooException,
    NoNodeError,
    OperationTimeoutError,
    SessionExpiredError,
    SessionMovedError,
    ZookeeperStoppedError,
)

from disconf_core.standby import (
    Contender,
    SavedContext,
    StandbyDataError,
    contender_token,
    decode_context,
    parse_contenders,
)

from .errors import CoordinatorUnavailableError, NotMasterError, StandbyError

__all__ = ["list_contenders", "read_context", "write_context"]

log = logging.getLogger(__name__)

_UNREACHABLE = (
    ConnectionClosedError,
    ConnectionDropped,
    ConnectionLoss,
    OperationTimeoutError,
    SessionExpiredError,
    SessionMovedError,
    ZookeeperStoppedError,
)


def _wait(zk: KazooClient, async_result: Any, timeout: float, name: str, doing: str) -> Any:
    """The result of a kazoo async call, at most ``timeout`` s; errors mapped as documented."""
    try:
        return async_result.get(timeout=timeout)
    except zk.handler.timeout_exception as exc:
        raise CoordinatorUnavailableError(
            f"master/standby {name!r}: ZooKeeper did not answer within {timeout:.1f}s while {doing}"
        ) from exc
    except NoNodeError:
        raise
    except _UNREACHABLE as exc:
        raise CoordinatorUnavailableError(
            f"master/standby {name!r}: ZooKeeper unreachable while {doing}: {exc!r}"
        ) from exc
    except KazooException as exc:
        raise StandbyError(f"master/standby {name!r}: {doing} failed: {exc!r}") from exc


def write_context(
    zk: KazooClient, name: str, context_path: str, node: str, data: bytes, timeout: float
) -> None:
    """One transaction: ``node`` (our lock node) must exist, then the context is set."""
    for attempt in (1, 2):
        transaction = zk.transaction()
        transaction.check(node, -1)
        transaction.set_data(context_path, data)
        results = _wait(zk, transaction.commit_async(), timeout, name, "saving the context")
        if not any(isinstance(result, Exception) for result in results):
            return
        if isinstance(results[0], NoNodeError):
            raise NotMasterError(
                f"master/standby {name!r}: lock node {node!r} is gone; this instance "
                "is no longer master and its context was not saved"
            )
        if attempt == 1 and isinstance(results[1], NoNodeError):
            _wait(
                zk,
                zk.ensure_path_async(context_path),
                timeout,
                name,
                f"creating {context_path!r}",
            )
            continue
        raise StandbyError(f"master/standby {name!r}: context not saved: {results!r}")


def read_context(
    zk: KazooClient,
    name: str,
    context_path: str,
    timeout: float,
    *,
    damaged: Literal["raise", "ignore"] = "raise",
) -> SavedContext | None:
    """The saved context now (any role); None if none was saved.

    A context whose data cannot be decoded raises :class:`StandbyDataError`, or with
    ``damaged="ignore"`` (a takeover: a damaged checkpoint must not stop the new master) is
    logged and read as None.
    """
    try:
        data, _stat = _wait(zk, zk.get_async(context_path), timeout, name, "reading the context")
    except NoNodeError:
        return None
    try:
        return decode_context(data)
    except StandbyDataError:
        if damaged == "raise":
            raise
        log.exception("master/standby %r: ignoring an unreadable saved context", name)
        return None


def list_contenders(zk: KazooClient, name: str, path: str, timeout: float) -> list[Contender]:
    """Every contender (host, pid, since, token, is_master), master first, for diagnostics."""
    doing = "listing the contenders"
    try:
        children = _wait(zk, zk.get_children_async(path), timeout, name, doing)
    except NoNodeError:
        return []
    nodes: list[tuple[str, bytes | None]] = []
    for child in children:
        if contender_token(child) is None:
            continue
        try:
            data, _stat = _wait(zk, zk.get_async(f"{path}/{child}"), timeout, name, doing)
        except NoNodeError:
            continue
        nodes.append((child, data))
    return parse_contenders(nodes)
