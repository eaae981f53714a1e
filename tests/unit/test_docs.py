"""The README cannot go stale on settings and error codes."""

from __future__ import annotations

from pathlib import Path

from jejakekal.config import SETTINGS_DOC
from jejakekal.domain.errors import ERROR_CODES

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme() -> None:
    missing = [name for name in SETTINGS_DOC if f"`{name}`" not in README]
    assert missing == []


def test_every_error_code_is_documented_in_the_readme() -> None:
    missing = [e.code for e in ERROR_CODES if f"`{e.code}`" not in README]
    assert missing == []


def test_readme_shows_the_two_commands() -> None:
    assert "make run" in README
    assert "make test" in README
