"""Errors the services raise; each carries the HTTP status the admin API answers with.

::

    DisconfError
     +-- ServiceError (status 400)            a request the services refuse
          +-- BadRequest (400)                malformed input: bad name, non-UTF-8 content...
          +-- Unauthorized (401)              no or bad credentials
          +-- Forbidden (403)                 the role or grants do not allow it
          +-- NotFound (404)                  unknown app/env/config/revision/user
          +-- Conflict (409)                  already exists / concurrent modification
          +-- PreconditionFailed (412)        If-Match is not the current ETag
          +-- PayloadTooLarge (413)           content over MAX_CONFIG_BYTES
          +-- UnsupportedMediaType (415)      a body that is not what the endpoint takes
          +-- Unavailable (503)               ZooKeeper (or the database) not reachable
"""

from __future__ import annotations

from disconf_core import DisconfError

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "ServiceError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
]


class ServiceError(DisconfError):
    status = 400


class BadRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class PreconditionFailed(ServiceError):
    status = 412


class PayloadTooLarge(ServiceError):
    status = 413


class UnsupportedMediaType(ServiceError):
    status = 415


class Unavailable(ServiceError):
    status = 503
