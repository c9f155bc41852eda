"""Gray releases driven through the publisher: start, promote and abort as one call each.

:func:`begin_release` starts a release the way a publish goes (the publish guard, the rows in
one transaction, the inline delivery of the re-fetch notification); :func:`finish_release`
promotes (publishes the gray content as the next normal revision through the
:class:`~disconf_web.publisher.Publisher` — guard, revision, notification — then ends the
release) or aborts (ends it and delivers a re-fetch notification). The rows and their SQL are
:mod:`disconf_web.gray.releases`; nothing the publisher imports depends on this module.

Error Handling
--------------
* Database down: the transaction rolls back and raises (the API answers 503); nothing is
  notified. A promote whose publish committed but whose ending did not leaves the release
  running with the main content equal to it: promoting again finishes it (the publish then
  changes nothing).
* ZooKeeper down: the guard and the inline delivery wait at most ``NOTIFY_INLINE_TIMEOUT``;
  the notification then stays pending (the sweeper delivers it).
* Restart: nothing is kept in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy.orm as so

from ..models import GrayRelease, GrayStatus
from .releases import ConfigRef, end, running, start

if TYPE_CHECKING:
    from ..publisher import Publisher

__all__ = ["Outcome", "begin_release", "finish_release"]


class Outcome(NamedTuple):
    """A start, promote or abort: the release and the notification's fate."""

    release: GrayRelease
    notification: str


def begin_release(
    publisher: Publisher,
    session: so.Session,
    ref: ConfigRef,
    *,
    value: str,
    target: Mapping[str, Any],
    actor: str,
    comment: str,
    force: str | None = None,
) -> Outcome:
    """Start a release the way a publish goes: the publish guard (syntax, the running fleet;
    ``force`` an admin's reason, audited), the rows in one transaction, the inline delivery;
    all ZooKeeper waits within one ``NOTIFY_INLINE_TIMEOUT``."""
    with publisher.instances.budget(publisher.notifier.inline_timeout):
        reports = publisher.guard.check(
            zk_prefix=publisher.zk_prefix, configs=[(*ref, value)], force=force
        )
        release, ids = start(
            session,
            ref,
            zk_prefix=publisher.zk_prefix,
            value=value,
            target=target,
            actor=actor,
            comment=comment,
        )
        if force:
            publisher.guard.record_forced(
                session, reports, coords=ref.coords, actor=actor, reason=force
            )
        return Outcome(release, publisher.deliver(ids))


def finish_release(
    publisher: Publisher,
    session: so.Session,
    ref: ConfigRef,
    *,
    status: GrayStatus,
    actor: str,
    comment: str,
    force: str | None = None,
) -> Outcome:
    """Promote (publish the gray content through the publisher as the next revision, then end
    the release) or abort (end it and notify a re-fetch) the running release of a config."""
    found = running(session, ref)
    release_id, value = found.id, found.value
    notification = "none"
    if status is GrayStatus.PROMOTED:
        published = publisher.publish_config(
            session,
            coords=ref.coords,
            kind=ref.kind,
            name=ref.name,
            content=value,
            force=force,
            promoting_gray=release_id,
            actor=actor,
            comment=f"gray release #{release_id} promoted" + (f": {comment}" if comment else ""),
        )
        notification = published.notification
    ended, ids = end(
        session,
        ref,
        zk_prefix=publisher.zk_prefix,
        release_id=release_id,
        status=status,
        actor=actor,
        comment=comment,
    )
    if ids:
        notification = publisher.deliver(ids)
    return Outcome(ended, notification)
