"""The URL patterns the admin API (``/api/v1``) and the console share, defined once.

A version is ``/apps/<app>/envs/<env>/versions/<version>``; a config below it is
``<version URL>/<files|items>/<name>``. :data:`KINDS` maps the URL segment to the config type,
:data:`SEGMENTS` the type back to the segment.
"""

from __future__ import annotations

from disconf_core import ConfigType

__all__ = ["CONFIG_URL", "KINDS", "SEGMENTS", "VERSION_URL"]

VERSION_URL = "/apps/<app>/envs/<env>/versions/<version>"
CONFIG_URL = VERSION_URL + "/<any(files, items):kind>/<name>"
KINDS = {"files": ConfigType.FILE, "items": ConfigType.ITEM}
SEGMENTS = {kind: segment for segment, kind in KINDS.items()}
