"""Deciders (README, "Adapters"): the stub (default, offline) and an OpenAI-compatible client.

Every response is validated against the decision schema before it leaves the
adapter; an invalid one raises `DecisionInvalid` and fails DecideST.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.compiler import lane_words, sha256_text
from jejakekal.domain.errors import DecisionInvalid
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
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout

    def decide(self, request: DecisionRequest) -> DecisionEnvelope:
        body = _request_body(request)
        payload = {
            "model": self._model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": canonical_json(body)},
            ],
        }
        reply = httpx.post(self._url, json=payload, headers=self._headers, timeout=self._timeout)
        reply.raise_for_status()
        try:
            content = reply.json()["choices"][0]["message"]["content"]
            decision = validate_decision(json.loads(content))
        except (KeyError, IndexError, TypeError, json.JSONDecodeError) as exc:
            raise DecisionInvalid(f"decider reply is not a chat completion: {exc}") from exc
        return DecisionEnvelope(
            provider=f"{self.name}:{self._model}", request=body, response=decision
        )
