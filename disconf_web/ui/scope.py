"""What a console view acts on, resolved before the view runs, and the page of a list it shows.

:func:`scoped` is the console's view decorator (Flask's view-decorator pattern): it requires a
logged-in user, turns the URL's ``app`` / ``env`` / ``version`` / ``kind`` into validated
values, checks the user's grant on the app (read, write, or write only for ``POST``) and calls
the view with a :class:`Scope` and the URL values it did not consume (``name``). Pages outside an
app use :func:`signed_in` (log-in, and the admin role where the page is for admins). A view then
says only what differs from the others.

Lists are shown a page at a time (:func:`page_request`): :data:`PAGE_SIZE` rows (``?limit=``
1..500), the next page reached through the ``cursor`` of the "Next page" link (keyset pages of
:mod:`disconf_web.services.listing`: one indexed query per page, whatever its position).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, wraps
from typing import Any, Literal, TypeVar, cast

import sqlalchemy.orm as so
from flask import render_template, request

from disconf_core import ConfigType, Coordinates

from .. import services
from ..auth import authenticated_by, require_admin, require_app
from ..models import App, User
from ..services import listing
from .blueprint import SEGMENTS, bp
from .page_common import can_write, config_type_of, current_console_user, db_session
from .security import login_required

__all__ = ["PAGE_SIZE", "PageRequest", "Scope", "page_request", "scoped", "signed_in"]

PAGE_SIZE = listing.DEFAULT_PAGE_SIZE
"""Rows per page of every console list (``?limit=`` asks for 1..500)."""

V = TypeVar("V", bound=Callable[..., Any])


@dataclass(frozen=True)
class PageRequest:
    """Which page of a list to show: ``limit`` rows after ``cursor`` (None: the first page)."""

    limit: int
    cursor: str | None


def page_request() -> PageRequest:
    """The page the request asks for (``?limit=`` and ``?cursor=``); bad values are a 400."""
    return PageRequest(
        limit=listing.parse_limit(request.args.get("limit")),
        cursor=request.args.get("cursor") or None,
    )


@dataclass(eq=False)
class Scope:
    """The user and the validated URL values of one console request."""

    user: User
    app: str
    record: App
    _coords: Coordinates | None
    _kind: ConfigType | None

    @property
    def coords(self) -> Coordinates:
        assert self._coords is not None, "a view without env/version in its URL"
        return self._coords

    @property
    def kind(self) -> ConfigType:
        assert self._kind is not None, "a view without a config kind in its URL"
        return self._kind

    @property
    def db(self) -> so.Session:
        return db_session()

    @cached_property
    def can_write(self) -> bool:
        return can_write(self.user, self.app)

    def render(self, template: str, name: str, **context: Any) -> str:
        """``template`` about the config ``name`` of this scope: the page gets ``coords``,
        ``kind``, its URL ``segment``, ``name`` and ``can_write`` besides ``context``."""
        return render_template(
            template,
            coords=self.coords,
            kind=self.kind,
            segment=SEGMENTS[self.kind],
            name=name,
            can_write=self.can_write,
            **context,
        )


@bp.app_context_processor
def _signed_in_global() -> dict[str, Any]:
    """``signed_in()`` in templates: a console session (not an API token) is signed in; the
    header shows the navigation only then."""
    return {"signed_in": lambda: authenticated_by() == "session"}


def signed_in(*, admin: str | None = None) -> Callable[[V], V]:
    """Log-in for a view outside ``/apps/<app>``; ``admin`` names what only admins may do there
    (checked before the view runs). The view receives the signed-in :class:`User` first."""

    def decorate(view: V) -> V:
        @wraps(view)
        def wrapper(**values: Any) -> Any:
            user = current_console_user()
            if admin is not None:
                require_admin(user, admin)
            return view(user, **values)

        return cast(V, login_required(wrapper))

    return decorate


def scoped(*, write: bool | Literal["post"] = False) -> Callable[[V], V]:
    """Log-in, URL values and grant check for a view under ``/apps/<app>``.

    ``write``: False (read access), True (write access), ``"post"`` (write access for POST,
    read access otherwise). The view receives the :class:`Scope` first.
    """

    def decorate(view: V) -> V:
        @wraps(view)
        def wrapper(**values: Any) -> Any:
            user = current_console_user()
            app = values.pop("app")
            kind = config_type_of(values.pop("kind")) if "kind" in values else None
            coords = None
            if "env" in values:
                coords = services.coordinates(app, values.pop("env"), values.pop("version"))
            needs_write = write if write != "post" else request.method == "POST"
            record = require_app(user, app, write=needs_write)
            return view(Scope(user, app, record, coords, kind), **values)

        return cast(V, login_required(wrapper))

    return decorate
