"""The exception tree shared by the server and the client.

::

    DisconfError
     +-- InvalidNameError (also ValueError)   a name that cannot be an app/env/version/config
     +-- PropertiesError (also ValueError)    a .properties text that cannot be parsed
     +-- FormatSyntaxError (also ValueError)  a file its format's parser refuses, with line and
                                              column (:mod:`disconf_core.formats`)
     +-- StandbyError                         master/standby (:mod:`disconf_core.standby`; the
                                              whole tree: ``disconf_client.standby.errors``)

Converters raise plain ``ValueError`` (see :mod:`disconf_core.converters`) so that they can be
used anywhere a conversion function is expected; callers wrap them with the key that failed.
"""

from __future__ import annotations


class DisconfError(Exception):
    """Root of every error raised on purpose by disconf."""


class InvalidNameError(DisconfError, ValueError):
    """A name was refused: it would be an unsafe ZooKeeper path segment or file name."""


class PropertiesError(DisconfError, ValueError):
    """A ``.properties`` document could not be parsed."""
