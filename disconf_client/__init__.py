"""disconf_client: the typed, decorator-driven Python client (see docs/client.md)."""

from __future__ import annotations

from .binding import ChangeEvent as ChangeEvent
from .binding import snapshot as snapshot
from .cache import LocalSnapshot as LocalSnapshot
from .client import ClientStats as ClientStats
from .client import DisconfClient as DisconfClient
from .decorators import disconf_file as disconf_file
from .decorators import disconf_item as disconf_item
from .decorators import field as field
from .decorators import on_change as on_change
from .errors import BindingError as BindingError
from .errors import ClientStateError as ClientStateError
from .errors import ConfigNotFoundError as ConfigNotFoundError
from .errors import ConfigUnavailableError as ConfigUnavailableError
from .errors import FetchError as FetchError
from .errors import FieldProblem as FieldProblem
from .errors import ForkedProcessError as ForkedProcessError
from .errors import IntegrityError as IntegrityError
from .errors import ResponseTooLargeError as ResponseTooLargeError
from .errors import ServerUnreachableError as ServerUnreachableError
from .errors import SettingsError as SettingsError
from .errors import SnapshotCorruptError as SnapshotCorruptError
from .errors import TransferTimeoutError as TransferTimeoutError
from .fetcher import ConfigFetcher as ConfigFetcher
from .settings import ClientSettings as ClientSettings
from .settings import LoadMode as LoadMode
from .settings import load_settings as load_settings
from .standby import DEFAULT_SESSION_TIMEOUT as DEFAULT_SESSION_TIMEOUT
from .standby import RETRY_PAUSE as RETRY_PAUSE
from .standby import ActiveStandby as ActiveStandby
from .standby import ContextTooLargeError as ContextTooLargeError
from .standby import CoordinatorUnavailableError as CoordinatorUnavailableError
from .standby import MastershipError as MastershipError
from .standby import NotMasterError as NotMasterError
from .standby import RoleClient as RoleClient
from .standby import RoleConfigs as RoleConfigs
from .standby import StandbyDataError as StandbyDataError
from .standby import StandbyError as StandbyError
from .standby import StandbySpec as StandbySpec
from .standby import active_standby as active_standby
from .transport import HTTPTransport as HTTPTransport
from .transport import MockTransport as MockTransport

__all__ = [
    "ActiveStandby",
    "BindingError",
    "ChangeEvent",
    "ClientSettings",
    "ClientStateError",
    "ClientStats",
    "ConfigFetcher",
    "ConfigNotFoundError",
    "ConfigUnavailableError",
    "ContextTooLargeError",
    "CoordinatorUnavailableError",
    "DEFAULT_SESSION_TIMEOUT",
    "DisconfClient",
    "FetchError",
    "FieldProblem",
    "ForkedProcessError",
    "HTTPTransport",
    "IntegrityError",
    "LoadMode",
    "LocalSnapshot",
    "MastershipError",
    "MockTransport",
    "NotMasterError",
    "RETRY_PAUSE",
    "ResponseTooLargeError",
    "RoleClient",
    "RoleConfigs",
    "ServerUnreachableError",
    "SettingsError",
    "SnapshotCorruptError",
    "StandbyDataError",
    "StandbyError",
    "StandbySpec",
    "TransferTimeoutError",
    "active_standby",
    "disconf_file",
    "disconf_item",
    "field",
    "load_settings",
    "on_change",
    "snapshot",
]
