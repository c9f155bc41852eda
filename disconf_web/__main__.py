"""``python -m disconf_web`` = the ``disconf-web`` command."""

from __future__ import annotations

from .cli import main

main()
