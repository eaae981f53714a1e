"""Deciders (README, "Adapters"): the stub (default, offline) and an OpenAI-compatible client.

Every response is validated against the decision schema before it leaves the
adapter; an invalid one (or a 4xx other than 429) raises `DecisionInvalid` and fails
DecideST at once. A network error, 429 or 5xx raises `ModelUnavailable`, which DecideST
retries with backoff.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from jejakekal.adapters.openai_client import ChatEndpoint
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.compiler import lane_words, sha256_text
from jejakekal.domain.errors import DecisionInvalid
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.ports import Decision, DecisionBody, DecisionEnvelope, DecisionRequest

SYSTEM_PROMPT = (
    "You approve or reject an execution plan. Answer with one JSON object: "
    '{"action": "execute" | "reject", "reason": string}.'
)


class DecisionSchema(BaseModel):
    """What a decider's answer must be."""

    model_config = ConfigDict(extra="forbid", strict=True)
    action: Literal["execute", "reject"]
    reason: str


def _request_body(request: DecisionRequest) -> DecisionBody:
    return DecisionBody(
        run_id=request.run_id,
        goal=request.goal,
        plan_sha256=request.plan_sha256,
        nodes=request.nodes,
    )


def validate_decision(raw: Any) -> Decision:
    try:
        valid = DecisionSchema.model_validate(raw)
    except ValidationError as exc:
        message = f"decider response failed validation: {exc.errors()[0]['msg']}"
        raise DecisionInvalid(message) from exc
    return Decision(action=valid.action, reason=valid.reason)


class StubDecider:
    """Deterministic: the same request always yields the same decision."""

    name = "stub"

    def decide(self, request: DecisionRequest) -> DecisionEnvelope:
        body = _request_body(request)
        # A deterministic lane for tests and demos: goals that ask for it are refused.
        if "reject" in lane_words(request.goal):
            raw = {"action": "reject", "reason": "stub rejects goals with the word 'reject'"}
        else:
            raw = {"action": "execute", "reason": f"stub approves plan {request.plan_sha256[:12]}"}
        decision = validate_decision(raw)
        response = Decision(
            action=decision["action"],
            reason=decision["reason"],
            request_sha256=sha256_text(canonical_json(body)),
        )
        return DecisionEnvelope(provider=self.name, request=body, response=response)


class OpenAIDecider:
    """Chat completions against any OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout: float = 60.0):
        self._endpoint = ChatEndpoint(base_url, model, api_key, timeout)

    def decide(self, request: DecisionRequest) -> DecisionEnvelope:
        body = _request_body(request)
        payload: JsonObject = {
            "model": self._endpoint.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": canonical_json(body)},
            ],
        }
        answer = self._endpoint.complete(payload, _invalid)
        try:
            raw = json.loads(answer)
        except json.JSONDecodeError as exc:
            raise _invalid(f"decider answer is not JSON ({exc.msg})", answer) from exc
        return DecisionEnvelope(
            provider=f"{self.name}:{self._endpoint.model}",
            request=body,
            response=validate_decision(raw),
        )


def _invalid(message: str, raw: str) -> DecisionInvalid:
    # DecisionInvalid has no field for the raw reply, so the message quotes its start.
    excerpt = " ".join(raw.split())[:200]
    if not excerpt or excerpt in message:
        return DecisionInvalid(message)
    return DecisionInvalid(f"{message}; reply began: {excerpt}")
