"""The benches' HTTP client: one keep-alive connection, replaced after an idle spell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from jejakekal.bench import client as bench_client
from jejakekal.bench.client import BenchClient, BenchHTTPError
from loopback import serve


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn serves it

    def do_GET(self) -> None:
        self._reply(200 if self.path.startswith("/ok") else 404, {"path": self.path})

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        received = json.loads(self.rfile.read(length))
        self._reply(202, {"got": received, "type": self.headers["Content-Type"]})

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps({**body, "port": self.client_address[1]}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    with serve(_Echo) as base:
        yield base


def test_requests_share_one_connection_and_carry_json(server: str) -> None:
    with BenchClient(server) as client:
        first = client.get("/ok", params={"q": "two words", "limit": 10}).json()
        posted = client.post("/runs", json={"source": "x", "sleepMs": 0})

    assert first["path"] == "/ok?q=two+words&limit=10"
    assert posted.status_code == 202
    assert posted.json()["got"] == {"source": "x", "sleepMs": 0}
    assert posted.json()["type"] == "application/json"
    assert posted.json()["port"] == first["port"]  # the same client socket: kept alive


def test_a_connection_idle_past_the_limit_is_replaced(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_client, "IDLE_RECONNECT_SEC", 0.0)
    with BenchClient(server) as client:
        ports = {client.get("/ok").json()["port"] for _ in range(3)}

    assert len(ports) == 3


def test_an_error_status_raises_with_the_status(server: str) -> None:
    with BenchClient(server) as client:
        reply = client.get("/missing")

        assert reply.status_code == 404
        with pytest.raises(BenchHTTPError, match="HTTP 404"):
            reply.raise_for_status()


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="http://"):
        BenchClient("https://example.org")
