"""A fake Disconf server behind a ``MockTransport`` (unit tests; no sockets).

The client under test runs its production fetcher, transport protocol and size rule; only the
bytes on the wire are replaced by :meth:`FakeDisconfServer.handle`.
"""

from __future__ import annotations

import json
import threading

from disconf_client.errors import ServerUnreachableError
from disconf_client.transport import MockTransport, Request, Response
from disconf_core import quoted_etag


class FakeDisconfServer:
    """Serves ``files``/``items`` like the protocol's client endpoints.

    ``down = True`` makes every request fail as a refused connection; ``corrupt_etag`` sends a
    wrong ETag for the next N file downloads; ``requests_seen`` records every URL and
    ``headers_seen`` every request's headers; ``honour_if_none_match`` answers 304 to a matching
    ``If-None-Match`` (as the server does).
    """

    def __init__(self, zk_hosts: str = "127.0.0.1:1", prefix: str = "/disconf") -> None:
        self.files: dict[str, bytes] = {}
        self.items: dict[str, str] = {}
        self.zk_hosts = zk_hosts
        self.prefix = prefix
        self.down = False
        self.corrupt_etag = 0
        self.send_etag = True
        self.honour_if_none_match = True
        self.requests_seen: list[str] = []
        self.headers_seen: list[dict[str, str]] = []
        self.not_modified = 0
        self._lock = threading.Lock()

    def transport(self) -> MockTransport:
        return MockTransport(self.handle)

    def handle(self, request: Request) -> Response:
        url = request.url
        with self._lock:
            self.requests_seen.append(url)
            self.headers_seen.append(dict(request.headers))
            if self.down:
                raise ServerUnreachableError(f"fake server down: {url}", refused=True)
            query = request.params
            if request.path == "/api/zoo/hosts":
                return self._envelope(self.zk_hosts)
            if request.path == "/api/zoo/prefix":
                return self._envelope(self.prefix)
            if request.path == "/api/config/item":
                key = query.get("key", "")
                if key not in self.items:
                    return Response(
                        200, {}, b'{"status":0,"message":"cannot find this config","value":""}'
                    )
                return self._conditional(request, self._envelope(self.items[key]))
            if request.path == "/api/config/file":
                name = query.get("key", "")
                if name not in self.files:
                    return Response(404)
                body = self.files[name]
                etag = quoted_etag(body)
                if self.corrupt_etag > 0:
                    self.corrupt_etag -= 1
                    etag = quoted_etag(body + b"x")
                headers = {"ETag": etag} if self.send_etag else {}
                return self._conditional(request, Response(200, headers, body))
            return Response(404)

    def _conditional(self, request: Request, response: Response) -> Response:
        etag = response.headers.get("ETag")
        if self.honour_if_none_match and etag and request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            return Response(304, {"ETag": etag})
        return response

    @staticmethod
    def _envelope(value: str) -> Response:
        body = json.dumps({"status": 1, "message": "", "value": value}).encode()
        return Response(200, {"ETag": quoted_etag(value.encode("utf-8"))}, body)
