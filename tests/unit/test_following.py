"""How the UI follows a live run: the interval doubles while nothing changes, up to its
ceiling, falls back to the base on a change, and polling stops after the timeout."""

from __future__ import annotations

import pytest
from test_web_views import view

from jejakekal.config import InvalidSetting, load_settings
from jejakekal.web.following import (
    Following,
    Mark,
    PollPolicy,
    fingerprint,
    follow,
    htmx_every,
    read_mark,
)

POLICY = PollPolicy(interval_ms=1000, max_interval_ms=10_000, timeout_ms=600_000)
URL = "/fragments/runs/r1"
SEEN = "0123456789abcdef"


def poll(previous: Mark | None, now_ms: int, seen: str = SEEN) -> Following:
    return follow(POLICY, previous, seen=seen, now_ms=now_ms, refresh_url=URL)


def test_settings_default_to_one_second_doubling_to_ten_and_stopping_after_ten_minutes() -> None:
    settings = load_settings({})

    assert PollPolicy.of(settings) == POLICY


def test_settings_are_read_from_the_environment() -> None:
    settings = load_settings(
        {
            "JEJAKEKAL_UI_POLL_INTERVAL_MS": "250",
            "JEJAKEKAL_UI_POLL_MAX_INTERVAL_MS": "2000",
            "JEJAKEKAL_UI_POLL_TIMEOUT_MS": "30000",
        }
    )

    assert PollPolicy.of(settings) == PollPolicy(250, 2000, 30_000)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"JEJAKEKAL_UI_POLL_INTERVAL_MS": "0"}, "JEJAKEKAL_UI_POLL_INTERVAL_MS"),
        ({"JEJAKEKAL_UI_POLL_TIMEOUT_MS": "soon"}, "JEJAKEKAL_UI_POLL_TIMEOUT_MS"),
        ({"JEJAKEKAL_UI_POLL_MAX_INTERVAL_MS": "-5"}, "JEJAKEKAL_UI_POLL_MAX_INTERVAL_MS"),
        ({"JEJAKEKAL_UI_POLL_INTERVAL_MS": "20000"}, "JEJAKEKAL_UI_POLL_MAX_INTERVAL_MS"),
    ],
)
def test_unusable_poll_settings_are_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidSetting, match=named):
        load_settings(env)


def test_the_interval_doubles_while_nothing_changes_up_to_the_ceiling() -> None:
    answer = poll(None, now_ms=0)
    waits = [answer.mark.wait_ms]
    now = 0
    for _ in range(6):
        now += answer.mark.wait_ms
        answer = poll(answer.mark, now_ms=now)
        waits.append(answer.mark.wait_ms)

    assert waits == [1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
    assert not answer.stopped


def test_a_change_brings_the_interval_back_to_the_base_and_restarts_the_clock() -> None:
    quiet = Mark(SEEN, wait_ms=8000, since_ms=1000)

    answer = poll(quiet, now_ms=500_000, seen="fedcba9876543210")

    assert answer.mark == Mark("fedcba9876543210", 1000, 500_000)
    assert not answer.stopped


def test_polling_stops_once_the_run_has_not_changed_for_the_timeout() -> None:
    quiet = Mark(SEEN, wait_ms=10_000, since_ms=1000)

    assert not poll(quiet, now_ms=1000 + 599_999).stopped
    assert poll(quiet, now_ms=1000 + 600_000).stopped


def test_a_run_that_changes_is_followed_however_long_it_lasts() -> None:
    assert not poll(Mark(SEEN, 10_000, 0), now_ms=10**9, seen="fedcba9876543210").stopped


def test_a_forged_mark_is_held_to_the_policy() -> None:
    assert poll(Mark(SEEN, 1, 0), now_ms=10).mark.wait_ms == 2000
    assert poll(Mark(SEEN, 10**12, 0), now_ms=10).mark.wait_ms == 10_000
    from_the_future = poll(Mark(SEEN, 1000, 10**13), now_ms=5000)
    assert from_the_future.mark.since_ms == 5000
    assert not from_the_future.stopped


def test_the_next_url_carries_the_mark_beside_the_pages_own_query() -> None:
    answer = follow(POLICY, None, seen=SEEN, now_ms=42, refresh_url=URL + "?step=3")

    assert answer.url == f"{URL}?step=3&seen={SEEN}&wait=1000&since=42"
    assert answer.refresh_url == URL + "?step=3"
    assert read_mark({"seen": SEEN, "wait": "1000", "since": "42"}) == answer.mark


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"seen": SEEN, "wait": "1000"},
        {"seen": "xyz", "wait": "1000", "since": "0"},
        {"seen": SEEN.upper(), "wait": "1000", "since": "0"},
        {"seen": SEEN, "wait": "-1", "since": "0"},
        {"seen": SEEN, "wait": "1000", "since": "9" * 16},
    ],
)
def test_a_missing_or_malformed_mark_starts_following_afresh(params: dict[str, str]) -> None:
    assert read_mark(params) is None


def test_intervals_are_spelled_as_htmx_reads_them() -> None:
    assert [htmx_every(ms) for ms in (1000, 10_000, 250, 1500)] == ["1s", "10s", "250ms", "1500ms"]


def test_the_fingerprint_changes_with_what_the_view_shows_and_only_then() -> None:
    waiting = view(status="waiting_input")

    assert fingerprint(waiting) == fingerprint(view(status="waiting_input"))
    assert fingerprint(waiting) != fingerprint(view(status="running"))
    assert fingerprint(waiting) != fingerprint(view(status="waiting_input", artifacts=("a1",)))
    assert len(fingerprint(waiting)) == 16
