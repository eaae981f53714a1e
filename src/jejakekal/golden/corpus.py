"""The fixed corpus: document runs that cover each parser path and the `[low]` route,
and one uploaded file of each binary format (kept beside this module, in `files/`)."""

from __future__ import annotations

from typing import NotRequired, TypedDict


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
