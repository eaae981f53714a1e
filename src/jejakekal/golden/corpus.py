"""The fixed corpus: document runs that cover each parser path and the `[low]` route,
one uploaded file of each binary format (kept beside this module, in `files/`), and
intent runs of the stub planner as the operator course's walkthroughs B, E and F start them."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from jejakekal.domain.jsontypes import JsonObject


class Case(TypedDict):
    """The body of `POST /runs` for one case (its `workflowId` is added per case)."""

    source: NotRequired[str]
    cmd: NotRequired[str]
    format: NotRequired[str]
    sleepMs: int


CASES: dict[str, Case] = {
    "plain-low": {"source": "alpha\nbeta [low]\ngamma", "sleepMs": 0},
    "markdown": {
        "format": "markdown",
        "sleepMs": 0,
        "source": (
            "# Durable runs\n\nA run survives a crash. Steps are not repeated.\n\n"
            "## Artifacts\n\n- raw bytes as given\n- a document IR with offsets\n\n"
            "> Quotes cite chunks.\n\n```\ncode stays code\n```\n"
        ),
    },
    "unicode-crlf": {"source": "naïve café 🚀\r\nzweite Zeile\r\n中文の行です。", "sleepMs": 0},
    "command": {"cmd": "/doc alpha beta gamma", "sleepMs": 0},
}


# Case -> (file under `files/`, its format): uploaded as a user's file would be.
FILE_CASES: dict[str, tuple[str, str]] = {
    "pdf-report": ("report.pdf", "pdf"),
    "html-article": ("article.html", "html"),
    "docx-report": ("report.docx", "docx"),
}


class IntentCase(TypedDict):
    """An intent (`POST /intents`) and the body of its run (`POST /intents/{id}/run`)."""

    goal: str
    run: JsonObject
    # The `input` event's payload, sent once the run waits for it (the `ask` lane).
    answer: NotRequired[JsonObject]


# The goal's words pick the stub planner's lanes (domain/compiler.py): all deterministic.
INTENT_CASES: dict[str, IntentCase] = {
    # Walkthrough B: the happy path, two nodes.
    "intent-demo-chain": {
        "goal": "demo chain",
        "run": {
            "traceId": "po-demo",
            "recipeName": "compile-default",
            "workload": {"concurrency": 1, "steps": 2, "sandboxMinutes": 1},
        },
    },
    # Walkthrough E: the run waits at its `input` gate and an answer lets it finish.
    "intent-ask-user": {"goal": "ask user", "run": {}, "answer": {"answer": "42"}},
    # Walkthrough F: a node fails on every attempt, the run ends `retries_exceeded`.
    "intent-fail-me": {"goal": "fail me", "run": {}},
    # Each node fails its first attempt only: the retries show in the steps and timeline.
    "intent-flaky": {
        "goal": "flaky nodes",
        "run": {"workload": {"concurrency": 1, "steps": 2, "sandboxMinutes": 1}},
    },
    # The stub decider rejects the plan: the run fails before any node runs.
    "intent-reject": {"goal": "reject this plan", "run": {}},
}
