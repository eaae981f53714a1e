"""How a page follows a live run: polls slow down while the run stays the same and stop
after a while with no change, so a forgotten tab does not poll a waiting run for days.

Each poll's answer says when to poll next. The interval starts at the policy's base,
doubles each time the run is found unchanged, up to a ceiling, and falls back to the base
when the run changes. After `timeout_ms` with no change the answer stops polling and says
so; the page's refresh link follows the run again from the base.

What the page has seen travels in the poll URL the server renders (`seen`, `wait`,
`since`): the server keeps nothing per tab and htmx needs no script, as each answer's
`#exec` carries its own `hx-trigger="every ..."`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from jejakekal.config import Settings
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.views import RunView

FINGERPRINT_CHARS = 16
_MAX_NUMBER_DIGITS = 15  # epoch milliseconds have 13; anything longer is not ours


@dataclass(frozen=True)
class PollPolicy:
    """The UI's polling settings (JEJAKEKAL_UI_POLL_*), in milliseconds."""

    interval_ms: int
    max_interval_ms: int
    timeout_ms: int

    @classmethod
    def of(cls, settings: Settings) -> PollPolicy:
        return cls(
            interval_ms=settings.ui_poll_interval_ms,
            max_interval_ms=settings.ui_poll_max_interval_ms,
            timeout_ms=settings.ui_poll_timeout_ms,
        )

    @property
    def first_every(self) -> str:
        """The trigger of a page that has not polled yet."""
        return htmx_every(self.interval_ms)


@dataclass(frozen=True)
class Mark:
    """What the page had seen when it polled: the run's fingerprint, the interval it
    waited, and when (the UI server's clock, epoch ms) it last saw the run change."""

    seen: str
    wait_ms: int
    since_ms: int


@dataclass(frozen=True)
class Following:
    """What one poll's answer tells the page: poll `url` again after `wait_ms`, or stop."""

    mark: Mark
    stopped: bool
    refresh_url: str  # the poll URL without a mark: following again from the base

    @property
    def url(self) -> str:
        mark = self.mark
        query = urlencode({"seen": mark.seen, "wait": mark.wait_ms, "since": mark.since_ms})
        joiner = "&" if "?" in self.refresh_url else "?"
        return f"{self.refresh_url}{joiner}{query}"

    @property
    def every(self) -> str:
        return htmx_every(self.mark.wait_ms)


def htmx_every(ms: int) -> str:
    """An interval as htmx's `every` reads it: whole seconds as `2s`, else `250ms`."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def fingerprint(view: RunView) -> str:
    """A short digest of everything the run's view shows; equal digests, nothing new.
    The view holds no reading time (bars are drawn from it later), so a run that only
    waits keeps its digest."""
    digest = hashlib.sha256(canonical_json(view.to_json()).encode())
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def read_mark(params: Mapping[str, str]) -> Mark | None:
    """The poll URL's mark, or None when it has none or a malformed one: the page then
    starts following afresh, which costs one poll at the base interval."""
    seen = params.get("seen", "")
    wait = params.get("wait", "")
    since = params.get("since", "")
    if len(seen) != FINGERPRINT_CHARS or any(c not in "0123456789abcdef" for c in seen):
        return None
    if not all(v.isdigit() and len(v) <= _MAX_NUMBER_DIGITS for v in (wait, since)):
        return None
    return Mark(seen=seen, wait_ms=int(wait), since_ms=int(since))


def follow(
    policy: PollPolicy, previous: Mark | None, *, seen: str, now_ms: int, refresh_url: str
) -> Following:
    """The answer to a poll that found the run at `seen`, after the page's `previous`."""
    if previous is None or previous.seen != seen:
        return Following(Mark(seen, policy.interval_ms, now_ms), False, refresh_url)
    # A mark comes from the page, so its numbers are held to what the policy allows.
    waited = min(max(previous.wait_ms, policy.interval_ms), policy.max_interval_ms)
    since_ms = min(previous.since_ms, now_ms)
    mark = Mark(seen, min(waited * 2, policy.max_interval_ms), since_ms)
    return Following(mark, now_ms - since_ms >= policy.timeout_ms, refresh_url)


def answer_poll(
    policy: PollPolicy, params: Mapping[str, str], view: RunView, poll_url: str
) -> Following:
    """What the poll of `poll_url` that read `view` answers, by the UI server's clock."""
    return follow(
        policy,
        read_mark(params),
        seen=fingerprint(view),
        now_ms=int(time.time() * 1000),
        refresh_url=poll_url,
    )
