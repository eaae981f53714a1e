"""Deciders: the stub is deterministic; the OpenAI-compatible client validates replies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from jejakekal.adapters.decider import OpenAIDecider, StubDecider
from jejakekal.domain.errors import DecisionInvalid
from jejakekal.domain.ports import DecisionRequest
from loopback import serve

REQUEST = DecisionRequest(run_id="run-1", goal="demo", plan_sha256="ab" * 32, nodes=["exec-1"])


class FakeProvider(BaseHTTPRequestHandler):
    """A chat-completions endpoint on loopback that answers what the test sets."""

    reply_content: str = ""
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        FakeProvider.seen.append(
            {"path": self.path, "body": body, "auth": self.headers.get("authorization")}
        )
        payload = json.dumps({"choices": [{"message": {"content": self.reply_content}}]})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[str]:
    FakeProvider.seen = []
    with serve(FakeProvider) as base:
        yield f"{base}/v1"


def test_stub_decides_the_same_way_every_time() -> None:
    first = StubDecider().decide(REQUEST)
    second = StubDecider().decide(REQUEST)
    assert first == second
    assert first.response["action"] == "execute"


def test_stub_rejects_goals_that_ask_for_it() -> None:
    request = DecisionRequest("run-1", "please reject", "cd" * 32, [])
    assert StubDecider().decide(request).response["action"] == "reject"


def test_stub_reads_reject_as_a_whole_word_only() -> None:
    request = DecisionRequest("run-1", "fix the rejected uploads", "cd" * 32, [])
    assert StubDecider().decide(request).response["action"] == "execute"


def test_openai_client_posts_the_plan_and_returns_a_validated_envelope(provider: str) -> None:
    FakeProvider.reply_content = json.dumps({"action": "execute", "reason": "looks fine"})

    envelope = OpenAIDecider(provider, "test-model", "secret").decide(REQUEST)

    assert envelope.response == {"action": "execute", "reason": "looks fine"}
    assert envelope.provider == "openai:test-model"
    call = FakeProvider.seen[0]
    assert call["path"] == "/v1/chat/completions"
    assert call["auth"] == "Bearer secret"
    assert json.loads(call["body"]["messages"][1]["content"])["plan_sha256"] == "ab" * 32


@pytest.mark.parametrize(
    "content", ['{"action": "launch", "reason": "x"}', "not json", '{"action": "execute"}']
)
def test_openai_client_refuses_replies_outside_the_schema(provider: str, content: str) -> None:
    FakeProvider.reply_content = content
    with pytest.raises(DecisionInvalid):
        OpenAIDecider(provider, "test-model", None).decide(REQUEST)
