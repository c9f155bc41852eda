"""The client's exceptions. Every one derives from :class:`disconf_core.DisconfError`.

::

    DisconfError
     +-- SettingsError (also ValueError)      a missing or malformed client setting
     +-- BindingError (also ValueError)       a revision whose fields could not all be converted;
     |                                        ``.problems`` lists every bad or missing key
     +-- FetchError                           the server list could not provide a config
     |    +-- ConfigNotFoundError             the server answered: no such config
     |    +-- IntegrityError                  the body did not match the server's MD5/ETag
     |    +-- ServerUnreachableError          refused, or no answer within http_timeout
     |    +-- ResponseTooLargeError           the body exceeds max_config_bytes
     |    +-- TransferTimeoutError            the transfer exceeds transfer_timeout
     +-- SnapshotCorruptError                 a local snapshot failed its MD5 check
     +-- ConfigUnavailableError               ``start()`` could not obtain a config in its mode
     +-- ClientStateError                     used before ``start()`` or after ``close()``
          +-- ForkedProcessError              used in a child process after ``os.fork()``
"""

from __future__ import annotations

from dataclasses import dataclass

from disconf_core import DisconfError

__all__ = [
    "BindingError",
    "ClientStateError",
    "ConfigNotFoundError",
    "ConfigUnavailableError",
    "FetchError",
    "FieldProblem",
    "ForkedProcessError",
    "IntegrityError",
    "ResponseTooLargeError",
    "ServerUnreachableError",
    "SettingsError",
    "SnapshotCorruptError",
    "TransferTimeoutError",
]


class SettingsError(DisconfError, ValueError):
    """A client setting is missing or malformed; the message names it and where it came from."""


@dataclass(frozen=True)
class FieldProblem:
    """One field that could not be bound: its key, the raw value (None if missing), why."""

    key: str
    value: object
    reason: str

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.key!r}: {self.reason}"
        return f"{self.key!r} = {self.value!r}: {self.reason}"


class BindingError(DisconfError, ValueError):
    """A revision could not be bound; nothing was changed. ``problems`` has every bad key."""

    def __init__(self, config: str, problems: list[FieldProblem]) -> None:
        self.config = config
        self.problems = list(problems)
        listing = "; ".join(str(problem) for problem in self.problems)
        super().__init__(f"config {config!r} rejected ({len(self.problems)} problem(s)): {listing}")


class FetchError(DisconfError):
    """No server of the list provided the config (the message lists each attempt)."""


class ConfigNotFoundError(FetchError):
    """The server answered that the config does not exist."""


class IntegrityError(FetchError):
    """The downloaded bytes do not match the MD5 the server announced (ETag)."""


class ServerUnreachableError(FetchError):
    """A server refused the connection (``refused``) or did not answer within ``http_timeout``."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class ResponseTooLargeError(FetchError):
    """An answer was larger than ``max_config_bytes``; it was refused, nothing was applied."""


class TransferTimeoutError(FetchError):
    """An answer took longer than ``transfer_timeout`` in all; refused, nothing applied."""


class SnapshotCorruptError(DisconfError):
    """A local snapshot is truncated or corrupted (its MD5 does not match); it is not used."""


class ConfigUnavailableError(DisconfError):
    """``start()`` could not obtain a config from any source its load mode allows."""


class ClientStateError(DisconfError):
    """The client was used in a state that does not allow it (not started, closed)."""


class ForkedProcessError(ClientStateError):
    """A client created before ``os.fork()`` was used in the child process."""
