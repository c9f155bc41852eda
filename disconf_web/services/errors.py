"""Errors the services raise; each carries the HTTP status the admin API answers with.

::

    DisconfError
     +-- ServiceError (status 400)            a request the services refuse
          +-- BadRequest (400)                malformed input: bad name, non-UTF-8 content...
          +-- Unauthorized (401)              no or bad credentials
          +-- Forbidden (403)                 the role or grants do not allow it
          +-- NotFound (404)                  unknown app/env/config/revision/user
          +-- Conflict (409)                  already exists / concurrent modification /
          |                                   a ZooKeeper node name another triple holds
          +-- PreconditionFailed (412)        If-Match is not the current ETag
          +-- PayloadTooLarge (413)           content over MAX_CONFIG_BYTES
          +-- UnsupportedMediaType (415)      a body that is not what the endpoint takes
          +-- Unavailable (503)               ZooKeeper (or the database) not reachable

Every name defined here is public (the package re-exports them all).
"""

from __future__ import annotations

from typing import ClassVar

from disconf_core import DisconfError


class ServiceError(DisconfError):
    """A request the services refuse. The message names the offending value; ``status`` is the
    HTTP status of the answer, set by a subclass as ``class X(ServiceError, status=...)`` (or
    inherited when left out).
    """

    status: ClassVar[int] = 400

    def __init_subclass__(cls, *, status: int | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status


class BadRequest(ServiceError, status=400):
    """Malformed input: a bad name (the character is named), non-UTF-8 content, a bad field."""


class Unauthorized(ServiceError, status=401):
    """No credentials, or credentials that do not identify an active user."""


class Forbidden(ServiceError, status=403):
    """Authenticated, but the role or the app grants do not allow it."""


class NotFound(ServiceError, status=404):
    """An unknown app, env, config, revision, user or token."""


class Conflict(ServiceError, status=409):
    """It already exists, it was changed concurrently, or its ZooKeeper node name is taken."""


class PreconditionFailed(ServiceError, status=412):
    """``If-Match`` does not name the current ETag: fetch again, then retry."""


class PayloadTooLarge(ServiceError, status=413):
    """Content over the configured limit (``MAX_CONFIG_BYTES``)."""


class UnsupportedMediaType(ServiceError, status=415):
    """A body that is not what the endpoint takes (JSON for items, raw bytes for files)."""


class Unavailable(ServiceError, status=503):
    """ZooKeeper or the database did not answer within its bound; retrying later may work."""
