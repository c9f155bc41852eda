"""disconf_core: what the server and the client share. Pure: no I/O, no Flask, no kazoo."""

from __future__ import annotations

from .converters import to_bool as to_bool
from .converters import to_decimal as to_decimal
from .converters import to_duration as to_duration
from .converters import to_float as to_float
from .converters import to_int as to_int
from .converters import to_list as to_list
from .converters import to_str as to_str
from .exceptions import DisconfError as DisconfError
from .exceptions import InvalidNameError as InvalidNameError
from .exceptions import PropertiesError as PropertiesError
from .hashing import content_md5 as content_md5
from .hashing import quoted_etag as quoted_etag
from .hashing import unquote_etag as unquote_etag
from .instances import InstanceCheck as InstanceCheck
from .instances import check_file_instance as check_file_instance
from .instances import check_item_instance as check_item_instance
from .instances import file_instance_data as file_instance_data
from .instances import file_notification_data as file_notification_data
from .instances import is_properties_file as is_properties_file
from .instances import item_instance_data as item_instance_data
from .instances import item_notification_data as item_notification_data
from .names import ConfigType as ConfigType
from .names import Coordinates as Coordinates
from .names import validate_config_name as validate_config_name
from .names import validate_segment as validate_segment
from .names import zookeeper_refusal as zookeeper_refusal
from .properties import dump_properties as dump_properties
from .properties import parse_properties as parse_properties
from .standby import MAX_CONTEXT_BYTES as MAX_CONTEXT_BYTES
from .standby import Contender as Contender
from .standby import ContextTooLargeError as ContextTooLargeError
from .standby import StandbyDataError as StandbyDataError
from .standby import parse_contenders as parse_contenders
from .zkpaths import DEFAULT_PREFIX as DEFAULT_PREFIX
from .zkpaths import app_node as app_node
from .zkpaths import config_node as config_node
from .zkpaths import normalize_prefix as normalize_prefix
from .zkpaths import standby_node as standby_node

__all__ = [
    "ConfigType",
    "Contender",
    "ContextTooLargeError",
    "Coordinates",
    "DEFAULT_PREFIX",
    "DisconfError",
    "InstanceCheck",
    "InvalidNameError",
    "MAX_CONTEXT_BYTES",
    "PropertiesError",
    "StandbyDataError",
    "app_node",
    "check_file_instance",
    "check_item_instance",
    "config_node",
    "content_md5",
    "dump_properties",
    "file_instance_data",
    "file_notification_data",
    "is_properties_file",
    "item_instance_data",
    "item_notification_data",
    "normalize_prefix",
    "parse_contenders",
    "parse_properties",
    "quoted_etag",
    "standby_node",
    "to_bool",
    "to_decimal",
    "to_duration",
    "to_float",
    "to_int",
    "to_list",
    "to_str",
    "unquote_etag",
    "validate_config_name",
    "validate_segment",
    "zookeeper_refusal",
]
