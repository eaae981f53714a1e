"""The HTTP client the timed benches use: one keep-alive connection, standard library.

A bench times the server as a client sees it, so the client's own cost is part of every
figure. httpx spent 1-2 ms of its own per request here (measured against this client on
one server: run view p50 3.4-3.8 against 2.4-2.7 ms), more than some budgets leave, so
the timed loops use `http.client`, as lean as the curl or browser an operator would use.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

# The server closes a keep-alive connection idle for 5 s (uvicorn's default); one idle
# for longer than this is replaced before the next request rather than found dead by it.
IDLE_RECONNECT_SEC = 1.0


class BenchHTTPError(RuntimeError):
    """A reply with a status of 400 or above."""


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def raise_for_status(self) -> Reply:
        if self.status_code >= 400:
            raise BenchHTTPError(f"HTTP {self.status_code}: {self.body[:200]!r}")
        return self


class BenchClient:
    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"bench client needs an http:// URL, not {base_url!r}")
        self._host, self._port, self._timeout = parts.hostname, parts.port or 80, timeout
        self._conn: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def get(self, path: str, params: dict[str, str | int] | None = None) -> Reply:
        return self._request("GET", f"{path}?{urlencode(params)}" if params else path)

    def post(self, path: str, json: Any = None) -> Reply:
        return self._request("POST", path, json)

    def post_bytes(self, path: str, data: bytes, content_type: str) -> Reply:
        """A document upload: the raw bytes under their own Content-Type."""
        return self._send("POST", path, data, {"Content-Type": content_type})

    def _request(self, method: str, target: str, payload: Any = None) -> Reply:
        body, headers = None, {}
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        return self._send(method, target, body, headers)

    def _send(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        conn = self._connection()
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        reply = Reply(response.status, response.read())
        self._last_used = time.monotonic()
        return reply

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is not None and time.monotonic() - self._last_used > IDLE_RECONNECT_SEC:
            self.close()
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> BenchClient:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()
