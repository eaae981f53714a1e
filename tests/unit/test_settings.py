"""Settings are checked where they are read: a bad value names its variable."""

from __future__ import annotations

import pytest

from jejakekal.config import InvalidSetting, check_database_url, load_settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("API_PORT", "abc"),
        ("PORT", "80.5"),
        ("API_PORT", "0"),
        ("UI_PORT", "70000"),
        ("UI_EMBED_API", "maybe"),
        ("JEJAKEKAL_QUEUE_POLL_SEC", "x"),
        ("JEJAKEKAL_QUEUE_POLL_SEC", "0"),
        ("JEJAKEKAL_QUEUE_IDLE_POLL_SEC", "nan"),
        ("JEJAKEKAL_RESULT_POLL_SEC", "-1"),
        ("JEJAKEKAL_STEP_RETRY_INTERVAL_SEC", "inf"),
        ("JEJAKEKAL_STEP_MAX_ATTEMPTS", "0"),
        ("JEJAKEKAL_DECIDER", "gpt"),
        ("JEJAKEKAL_SANDBOX", "docker"),
        ("JEJAKEKAL_LOG_LEVEL", "loud"),
        ("JEJAKEKAL_DATABASE_URL", "sqlite"),
        ("DATABASE_URL", "mysql://db/x"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_and_the_value(name: str, value: str) -> None:
    with pytest.raises(InvalidSetting) as refused:
        load_settings({name: value})

    assert name in str(refused.value)
    assert repr(value) in str(refused.value)


def test_empty_values_mean_the_defaults_and_words_are_read_loosely() -> None:
    empty = {"API_PORT": "", "UI_PORT": "", "JEJAKEKAL_QUEUE_POLL_SEC": "", "UI_EMBED_API": ""}

    settings = load_settings(empty)
    loose = load_settings({"JEJAKEKAL_LOG_LEVEL": "warning", "UI_EMBED_API": " No "})

    assert (settings.api_port, settings.ui_port, settings.queue_poll_sec) == (4010, 4110, 0.02)
    assert settings.ui_embed_api is True
    assert (loose.log_level, loose.ui_embed_api) == ("WARNING", False)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///relative.sqlite",
        "sqlite:////abs/path/db.sqlite",
        "postgresql://u:p@127.0.0.1:5432/db",
        "postgres://localhost/db",
        "postgresql+psycopg://u@h/db",
        "postgresql:///db",
    ],
)
def test_database_urls_the_product_opens_are_accepted(url: str) -> None:
    assert check_database_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "sqlite",
        "sqlite://",
        "sqlite:///:memory:",
        "mysql://u:hunter2@h/db",
        "postgresql://u:hunter2@h:x/db",
    ],
)
def test_other_database_urls_are_refused_without_showing_a_password(url: str) -> None:
    with pytest.raises(InvalidSetting) as refused:
        check_database_url(url, "--db")

    assert str(refused.value).startswith("--db ")
    assert "hunter2" not in str(refused.value)
