"""A scripted OpenAI-compatible chat-completions server on loopback, for tests and drills.

In a test: `with scripted_model(answer({...}), status(429)) as model:` serves the replies
in order (then `default`) at `model.url` and records every request in `model.requests`.

As a process (for drills that SIGKILL the product around it):
    python tests/openai_loopback.py --port 0 --script replies.json [--record calls.jsonl]
prints `{"url": ...}` on one line once it listens. The script file is
`{"replies": [REPLY, ...], "default": REPLY}`, each REPLY one of
    {"answer": <JSON value>}        the value as the message content (a plan, a decision)
    {"tool_call": <JSON value>}     the value as the first tool call's arguments
    {"content": "<text>"}           this text as the content, verbatim (malformed JSON)
    {"status": 429, "body": "..."}  an HTTP error status with this body
    {"body": "..."}                 this body verbatim with status 200 (not a completion)
each with an optional "delay": seconds to wait before answering. `GET /calls` answers
`{"calls": N, "requests": [...]}`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from loopback import serve


@dataclass(frozen=True)
class Reply:
    """One scripted answer: `body` verbatim with `status`, after `delay` seconds."""

    status: int = 200
    body: str = ""
    delay: float = 0.0

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> Reply:
        delay = float(spec.get("delay", 0.0))
        if "answer" in spec:
            return answer(spec["answer"], delay=delay)
        if "tool_call" in spec:
            return tool_call(spec["tool_call"], delay=delay)
        if "content" in spec:
            return content(spec["content"], delay=delay)
        return cls(status=int(spec.get("status", 200)), body=spec.get("body", ""), delay=delay)


def _completion(message: dict[str, Any]) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-loopback",
            "object": "chat.completion",
            "model": "loopback",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )


def content(text: str, *, delay: float = 0.0) -> Reply:
    """`text` as the assistant's content, verbatim (use it for malformed JSON)."""
    return Reply(body=_completion({"role": "assistant", "content": text}), delay=delay)


def answer(value: Any, *, delay: float = 0.0) -> Reply:
    """`value` as JSON in the assistant's content (a json_schema / json_object answer)."""
    return content(json.dumps(value), delay=delay)


def tool_call(value: Any, *, delay: float = 0.0) -> Reply:
    """`value` as JSON in the arguments of the first tool call; the content is null."""
    call = {
        "id": "call-1",
        "type": "function",
        "function": {"name": "answer", "arguments": json.dumps(value)},
    }
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return Reply(body=_completion(message), delay=delay)


def status(code: int, body: str = "", *, delay: float = 0.0) -> Reply:
    default_body = json.dumps({"error": {"message": f"HTTP {code}"}})
    return Reply(status=code, body=body or default_body, delay=delay)


@dataclass
class ScriptedModel:
    """The server's state: replies still to give, the default, what it was asked."""

    default: Reply = field(default_factory=lambda: status(500, "no reply scripted"))
    url: str = ""
    record: Path | None = None
    _replies: deque[Reply] = field(default_factory=deque)
    _requests: list[dict[str, Any]] = field(default_factory=list)
    _authorizations: list[str | None] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def reset(self, *replies: Reply, default: Reply | None = None) -> None:
        """Forget the script and what was asked; serve `replies`, then `default`."""
        with self._lock:
            self._replies = deque(replies)
            self._requests.clear()
            self._authorizations.clear()
            self.default = default or status(500, "no reply scripted")

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The bodies received, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def authorizations(self) -> list[str | None]:
        with self._lock:
            return list(self._authorizations)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self._requests)

    def take(self, body: dict[str, Any], authorization: str | None) -> Reply:
        with self._lock:
            self._requests.append(body)
            self._authorizations.append(authorization)
            if self.record is not None:
                with self.record.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(body) + "\n")
            return self._replies.popleft() if self._replies else self.default

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"model": self})


class _Handler(BaseHTTPRequestHandler):
    model: ScriptedModel

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if not self.path.endswith("/chat/completions"):
            self._send(Reply(status=404, body='{"error": "not found"}'))
            return
        reply = self.model.take(json.loads(raw), self.headers.get("authorization"))
        time.sleep(reply.delay)
        self._send(reply)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/calls"):
            requests = self.model.requests
            body = json.dumps({"calls": len(requests), "requests": requests})
            self._send(Reply(body=body))
        else:
            self._send(Reply(status=404, body='{"error": "not found"}'))

    def _send(self, reply: Reply) -> None:
        payload = reply.body.encode()
        self.send_response(reply.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def scripted_model(*replies: Reply, default: Reply | None = None) -> Iterator[ScriptedModel]:
    """Serve `replies` in order, then `default` (HTTP 500 unless given), on loopback."""
    model = ScriptedModel() if default is None else ScriptedModel(default=default)
    model.script(*replies)
    with serve(model.handler()) as base:
        model.url = f"{base}/v1"
        yield model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A scripted OpenAI-compatible server.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--script", type=Path, help="replies file (see the module's doc)")
    parser.add_argument("--record", type=Path, help="append each request body here (JSONL)")
    args = parser.parse_args(argv)
    spec = json.loads(args.script.read_text()) if args.script else {}
    model = ScriptedModel(record=args.record)
    if "default" in spec:
        model.default = Reply.from_json(spec["default"])
    model.script(*(Reply.from_json(item) for item in spec.get("replies", [])))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), model.handler())
    model.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    print(json.dumps({"url": model.url}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
