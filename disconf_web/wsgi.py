"""WSGI entry point for any WSGI server: ``gunicorn 'disconf_web.wsgi:app'``.

``disconf-web serve`` is the documented way to serve (:mod:`disconf_web.serving`). To keep its
protection against slow and mute clients under a hand-made gunicorn command, use its worker
class: ``gunicorn -k disconf_web.front.BufferedWorker 'disconf_web.wsgi:app'`` (header and body
timeouts from the ``DISCONF_HTTP_*`` variables), or put a buffering proxy such as nginx in front.

Settings come from ``DISCONF_*`` environment variables. Do not use gunicorn's ``--preload``
with several workers unless you accept that the notifier starts again in each worker after the
fork (it does so by itself on the first request).
"""

from __future__ import annotations

from . import create_app

__all__ = ["app"]

app = create_app()
