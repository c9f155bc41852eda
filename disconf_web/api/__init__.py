"""HTTP APIs: the Disconf client protocol (``client``), the admin API (``admin``), health."""

from __future__ import annotations

from . import accounts as _accounts  # noqa: F401 - registers its routes
from . import gray as _gray  # noqa: F401 - registers its routes (gray releases)
from . import notifications as _notifications  # noqa: F401 - registers its routes (outbox)
from . import openapi as _openapi  # noqa: F401 - registers /api/v1/openapi.json
from . import release as _release  # noqa: F401 - registers its routes (guard, bundles, copy)
from . import standby as _standby  # noqa: F401 - registers its routes (master/standby)
from .admin import bp as admin_bp
from .client import bp as client_bp
from .health import bp as health_bp

__all__ = ["admin_bp", "client_bp", "health_bp"]
