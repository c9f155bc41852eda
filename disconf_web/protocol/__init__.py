"""The Disconf client protocol, written once (see :mod:`disconf_web.protocol.answers`).

:func:`init_app` registers one :class:`ClientProtocol` per Flask app in ``app.extensions`` (with
that app's own :class:`LastServed`, so two apps in one process never see each other's values);
the Flask blueprint :mod:`disconf_web.api.client` and the WSGI fast path
:mod:`disconf_web.fastpath` are its two thin adapters. Its read cache
(:mod:`disconf_web.protocol.read_cache`) is bounded by ``READ_CACHE_MAX_BYTES`` (default 64 MiB;
``0`` turns it off).
"""

from __future__ import annotations

import hashlib
import os

from flask import Flask

from ..extensions import get_db
from ..gray import targeting as gray_targeting
from .answers import ENDPOINTS as ENDPOINTS
from .answers import Answer as Answer
from .answers import ClientProtocol as ClientProtocol
from .answers import ClientRequest as ClientRequest
from .answers import client_request as client_request
from .credentials import HEADER as HEADER
from .last_served import LastServed as LastServed
from .last_served import Served as Served
from .read_cache import DEFAULT_MAX_BYTES

__all__ = [
    "ENDPOINTS",
    "HEADER",
    "Answer",
    "ClientProtocol",
    "ClientRequest",
    "LastServed",
    "Served",
    "client_request",
    "get_protocol",
    "init_app",
    "last_served_directory",
]

EXTENSION_KEY = "disconf_protocol"


def last_served_directory(app: Flask) -> str | None:
    """``LAST_SERVED_DIR``; unset: ``<instance folder>/last-served/<digest of DATABASE_URL>``
    (one directory per database, so two servers of different databases never share copies);
    ``""``: no disk copy."""
    configured = app.config.get("LAST_SERVED_DIR")
    if configured == "":
        return None
    if configured is not None:
        return str(configured)
    digest = hashlib.sha256(str(app.config["DATABASE_URL"]).encode("utf-8")).hexdigest()[:16]
    return os.path.join(app.instance_path, "last-served", digest)


def init_app(app: Flask) -> ClientProtocol:
    """Create the app's protocol (its last-served copies are loaded from disk now)."""
    last_served = LastServed(
        int(app.config["LAST_SERVED_MAX_BYTES"]), directory=last_served_directory(app)
    )
    protocol = ClientProtocol(
        get_db(app),
        zk_hosts=str(app.config["ZK_HOSTS"]),
        zk_prefix=str(app.config["ZK_PREFIX"]),
        last_served=last_served,
        trusted_proxies=gray_targeting.trusted_proxies(app.config),
        read_cache_max_bytes=_read_cache_max_bytes(app),
    )
    get_db(app).on_dispose(protocol.close)
    app.extensions[EXTENSION_KEY] = protocol
    return protocol


def _read_cache_max_bytes(app: Flask) -> int:
    """``READ_CACHE_MAX_BYTES`` (``DISCONF_READ_CACHE_MAX_BYTES``, checked with the other
    settings by :func:`disconf_web.settings.check_settings`): bytes, ``0`` = no cache."""
    return int(app.config.get("READ_CACHE_MAX_BYTES", DEFAULT_MAX_BYTES))


def get_protocol(app: Flask) -> ClientProtocol:
    protocol: ClientProtocol = app.extensions[EXTENSION_KEY]
    return protocol
