"""Deprecated: use :func:`disconf_web.publisher.get_notifier` (removed once callers switched)."""

from __future__ import annotations

from .publisher import EXTENSION_KEY as NOTIFIER_KEY
from .publisher import get_notifier

__all__ = ["NOTIFIER_KEY", "get_notifier"]
