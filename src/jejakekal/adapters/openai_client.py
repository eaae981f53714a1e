"""One chat-completions call to an OpenAI-compatible endpoint (README, "Adapters").

The decider and the openai planner both go through `ChatEndpoint.complete`. It sorts
failures in two: `ModelUnavailable` for the ones worth another try (a network error, a
timeout, HTTP 429 or 5xx), and the caller's own invalid error for the rest (another 4xx,
a body that is not a chat completion). It never retries: the DBOS step around the call
does, so that every attempt is checkpointed and counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from jejakekal.domain.errors import JejakekalError, ModelUnavailable
from jejakekal.domain.jsontypes import JsonObject

# Builds the caller's non-retryable error from a message and the raw body it is about.
InvalidReply = Callable[[str, str], JejakekalError]

# How much of an error body a message quotes; the whole body goes to `InvalidReply`.
_BODY_EXCERPT = 200


@dataclass(frozen=True)
class ChatEndpoint:
    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def complete(self, payload: JsonObject, invalid: InvalidReply) -> str:
        """POST `payload`; the assistant's answer: its content, or the first tool call's
        arguments when it answered with a tool call."""
        headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            reply = httpx.post(self.url, json=payload, headers=headers, timeout=self.timeout)
        except httpx.TransportError as exc:
            detail = str(exc) or type(exc).__name__
            raise ModelUnavailable(f"model endpoint {self.url} unreachable: {detail}") from exc
        if reply.status_code == 429 or reply.status_code >= 500:
            raise ModelUnavailable(_status_message(self.url, reply))
        if reply.status_code != 200:
            raise invalid(_status_message(self.url, reply), reply.text)
        return answer_text(reply.text, invalid)


def answer_text(body: str, invalid: InvalidReply) -> str:
    """The assistant's answer in a chat-completion body."""
    try:
        message = json.loads(body)["choices"][0]["message"]
        content = message.get("content")
        if isinstance(content, str) and content.strip():
            return content
        calls = message.get("tool_calls")
        if not calls:
            raise invalid("model reply has neither content nor a tool call", body)
        arguments = calls[0]["function"]["arguments"]
    except (KeyError, IndexError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise invalid(f"model reply is not a chat completion ({_missing(exc)})", body) from exc
    # The standard sends arguments as a JSON string; some servers send the object itself.
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _status_message(url: str, reply: httpx.Response) -> str:
    excerpt = " ".join(reply.text.split())[:_BODY_EXCERPT]
    return f"model endpoint {url} answered HTTP {reply.status_code}: {excerpt or '(empty body)'}"


def _missing(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r}"
    if isinstance(exc, json.JSONDecodeError):
        return "not JSON"
    return f"{type(exc).__name__}: {exc}"
