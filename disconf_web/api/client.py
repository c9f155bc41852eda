"""The Disconf client endpoints as a Flask blueprint: a thin adapter over
:mod:`disconf_web.protocol`, which owns lookup and answer building (spec section 1).

One view, registered for every path of :data:`~disconf_web.protocol.ENDPOINTS`, turns the
request's WSGI environ into the protocol's request model and sends the protocol's answer
unchanged (status, headers, body). The WSGI fast path
(:mod:`disconf_web.fastpath`) answers the same ``GET``\\ s before Flask; this view serves what it
leaves to Flask (``HEAD``, and every request when the fast path is not installed), with the same
bytes. Database loss and restart behaviour: see :mod:`disconf_web.protocol.answers`.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from ..protocol import ENDPOINTS, Answer, client_request, get_protocol

__all__ = ["bp", "to_response"]

bp = Blueprint("client_api", __name__)


def to_response(answer: Answer) -> Response:
    """The Flask response carrying exactly ``answer``'s status, headers and body."""
    response = Response(answer.body, answer.status)
    response.headers.clear()
    for name, value in answer.headers:
        response.headers.add(name, value)
    return response


def _respond() -> Response:
    return to_response(get_protocol(current_app).answer(client_request(request.environ)))


# One view for every client endpoint: the protocol tells them apart by path. Flask adds HEAD.
for _path, _endpoint in ENDPOINTS.items():
    bp.add_url_rule(_path, _endpoint.removeprefix("client_api."), _respond, methods=["GET"])
