"""Per-app objects kept in ``app.extensions``: the notifier (the database is in extensions)."""

from __future__ import annotations

from flask import Flask

from .notifier import Notifier

__all__ = ["NOTIFIER_KEY", "get_notifier"]

NOTIFIER_KEY = "disconf_notifier"


def get_notifier(app: Flask) -> Notifier:
    notifier: Notifier = app.extensions[NOTIFIER_KEY]
    return notifier
