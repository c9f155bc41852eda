"""The services: all SQL and every transaction of the web tier (API, console, CLI, publisher).

Views and the publisher call these functions with a plain ``so.Session`` and explicit settings
(ZooKeeper prefix, size limit), so the same code serves every entry point and needs no Flask
request. One home per concern:

* :mod:`.catalog`: apps, envs, the one lookup by name, and the ZooKeeper node claim of each
  app x env x version (node names two triples would share are refused);
* :mod:`.configs`: every config change (revision + notification + audit in one transaction);
* :mod:`.accounts`: users, grants, tokens, console sessions;
* :mod:`.console`: what only the console needs (login rate limit, user access, copy);
* :mod:`.listing`: the paginated lists;
* :mod:`.transactions`: ``transaction()`` (``with session.begin():`` + the one conflict
  translator) and ``audit()``, shared by all of the above;
* :mod:`.errors`: the refusals, each with its HTTP status.
"""

from __future__ import annotations

from .accounts import TOKEN_PREFIX as TOKEN_PREFIX
from .accounts import NewToken as NewToken
from .accounts import app_names as app_names
from .accounts import authenticate as authenticate
from .accounts import create_token as create_token
from .accounts import create_user as create_user
from .accounts import grant_app as grant_app
from .accounts import granted_app_ids as granted_app_ids
from .accounts import granted_apps as granted_apps
from .accounts import list_tokens as list_tokens
from .accounts import list_users as list_users
from .accounts import parse_role as parse_role
from .accounts import revoke_grant as revoke_grant
from .accounts import revoke_token as revoke_token
from .accounts import set_password as set_password
from .accounts import user_for_token as user_for_token
from .catalog import claim_node as claim_node
from .catalog import create_app_record as create_app_record
from .catalog import create_env as create_env
from .catalog import get_app as get_app
from .catalog import get_env as get_env
from .catalog import list_apps as list_apps
from .catalog import list_envs as list_envs
from .configs import ChangeResult as ChangeResult
from .configs import ConfigChange as ConfigChange
from .configs import coordinates as coordinates
from .configs import delete_config as delete_config
from .configs import find_config as find_config
from .configs import get_config as get_config
from .configs import list_configs as list_configs
from .configs import list_revisions as list_revisions
from .configs import list_versions as list_versions
from .configs import notification_data as notification_data
from .configs import publish_config as publish_config
from .configs import rollback_config as rollback_config
from .errors import BadRequest as BadRequest
from .errors import Conflict as Conflict
from .errors import Forbidden as Forbidden
from .errors import NotFound as NotFound
from .errors import PayloadTooLarge as PayloadTooLarge
from .errors import PreconditionFailed as PreconditionFailed
from .errors import ServiceError as ServiceError
from .errors import Unauthorized as Unauthorized
from .errors import Unavailable as Unavailable
from .errors import UnsupportedMediaType as UnsupportedMediaType

__all__ = [
    "TOKEN_PREFIX",
    "BadRequest",
    "ChangeResult",
    "ConfigChange",
    "Conflict",
    "Forbidden",
    "NewToken",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "ServiceError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "app_names",
    "authenticate",
    "claim_node",
    "coordinates",
    "create_app_record",
    "create_env",
    "create_token",
    "create_user",
    "delete_config",
    "find_config",
    "get_app",
    "get_config",
    "get_env",
    "grant_app",
    "granted_app_ids",
    "granted_apps",
    "list_apps",
    "list_configs",
    "list_envs",
    "list_revisions",
    "list_tokens",
    "list_users",
    "list_versions",
    "notification_data",
    "parse_role",
    "publish_config",
    "revoke_grant",
    "revoke_token",
    "rollback_config",
    "set_password",
    "user_for_token",
]
