"""A fake Disconf server mounted into a ``requests.Session`` (unit tests; no sockets)."""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter

from disconf_core import quoted_etag


class FakeDisconfServer(BaseAdapter):
    """Serves ``files``/``items`` like the protocol's client endpoints.

    ``down = True`` makes every request fail with a connection error; ``corrupt_etag`` sends a
    wrong ETag for the next N file downloads; ``requests_seen`` records every URL.
    """

    def __init__(self, zk_hosts: str = "127.0.0.1:1", prefix: str = "/disconf") -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self.items: dict[str, str] = {}
        self.zk_hosts = zk_hosts
        self.prefix = prefix
        self.down = False
        self.corrupt_etag = 0
        self.send_etag = True
        self.requests_seen: list[str] = []
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        session = requests.Session()
        session.mount("http://fake", self)
        return session

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        url = request.url or ""
        with self._lock:
            self.requests_seen.append(url)
            if self.down:
                raise requests.ConnectionError(f"fake server down: {url}")
            parts = urlsplit(url)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/api/zoo/hosts":
                return self._envelope(request, self.zk_hosts)
            if parts.path == "/api/zoo/prefix":
                return self._envelope(request, self.prefix)
            if parts.path == "/api/config/item":
                key = query.get("key", "")
                if key not in self.items:
                    return self._response(
                        request, 200, b'{"status":0,"message":"cannot find this config","value":""}'
                    )
                return self._envelope(request, self.items[key])
            if parts.path == "/api/config/file":
                name = query.get("key", "")
                if name not in self.files:
                    return self._response(request, 404, b"")
                body = self.files[name]
                etag = quoted_etag(body)
                if self.corrupt_etag > 0:
                    self.corrupt_etag -= 1
                    etag = quoted_etag(body + b"x")
                headers = {"ETag": etag} if self.send_etag else {}
                return self._response(request, 200, body, headers)
            return self._response(request, 404, b"")

    def _envelope(self, request: requests.PreparedRequest, value: str) -> requests.Response:
        body = json.dumps({"status": 1, "message": "", "value": value}).encode()
        return self._response(request, 200, body)

    @staticmethod
    def _response(
        request: requests.PreparedRequest,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.headers.update(headers or {})
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass
