"""WSGI entry point for any WSGI server: ``gunicorn 'disconf_web.wsgi:app'``.

Settings come from ``DISCONF_*`` environment variables. Do not use gunicorn's ``--preload``
with several workers unless you accept that the notifier starts again in each worker after the
fork (it does so by itself on the first request).
"""

from __future__ import annotations

from . import create_app

__all__ = ["app"]

app = create_app()
