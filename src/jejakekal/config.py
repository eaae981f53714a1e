"""Settings: the only module that reads the environment.

Every setting has a documented default, so `jejakekal serve` on a fresh machine needs
no configuration at all. The README's configuration table is checked against
`SETTINGS_DOC` by a test.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from jejakekal import __version__

SETTINGS_DOC: dict[str, str] = {
    "JEJAKEKAL_HOME": "state folder (SQLite database, bundles); default ./.jejakekal",
    "JEJAKEKAL_DATABASE_URL": "sqlite:///PATH or postgresql://...; default SQLite in the home",
    "DATABASE_URL": "fallback for JEJAKEKAL_DATABASE_URL",
    "API_PORT": "API port (alias PORT); default 4010",
    "UI_PORT": "web UI port; default 4110",
    "UI_EMBED_API": "1 (default): `serve` runs API and UI in one process; 0: only the UI",
    "JEJAKEKAL_API_URL": "API the UI talks to when it runs alone; default http://127.0.0.1:API_PORT",
    "JEJAKEKAL_API_TOKEN": (
        "bearer token; required when binding a non-loopback host; when set, the API and "
        "every UI page need it (the UI's login form sets a session cookie)"
    ),
    "JEJAKEKAL_ALLOWED_HOSTS": (
        "comma-separated Host names (name or name:port) the API and UI answer besides "
        "localhost, 127.0.0.1, ::1 and the bound address; any other Host gets 421"
    ),
    "DBOS__APPVERSION": "application version shared by API-only processes and workers",
    "JEJAKEKAL_EXECUTOR_ID": (
        "DBOS executor id of this process; default `local` for serve/api, "
        "`worker-<host>-<pid>` for a worker; distinct per process sharing a database"
    ),
    "JEJAKEKAL_QUEUE_POLL_SEC": "queue and notification polling interval; default 0.02",
    "JEJAKEKAL_QUEUE_IDLE_POLL_SEC": (
        "queue polling interval while the queues have no work; default 0.25 "
        "(equal to JEJAKEKAL_QUEUE_POLL_SEC: always poll fast)"
    ),
    "JEJAKEKAL_RESULT_POLL_SEC": "poll interval for child workflow results; default 0.005",
    "JEJAKEKAL_DECIDER": "stub (default) or openai",
    "JEJAKEKAL_OPENAI_BASE_URL": "OpenAI-compatible base URL for the openai decider",
    "JEJAKEKAL_OPENAI_MODEL": "model name for the openai decider",
    "JEJAKEKAL_OPENAI_API_KEY": "API key for the openai decider",
    "JEJAKEKAL_SANDBOX": "shell (default): subprocess sandbox, inside bwrap when available",
    "JEJAKEKAL_ALLOW_UNISOLATED": (
        "1 lets recipes that run a user's or a model's commands (script, openai, agent) "
        "run without an isolating sandbox (bubblewrap); default 0: such runs are refused"
    ),
    "JEJAKEKAL_STEP_MAX_ATTEMPTS": "attempts of ExecuteST before retries_exceeded; default 3",
    "JEJAKEKAL_STEP_RETRY_INTERVAL_SEC": "first ExecuteST retry delay (doubles); default 0.1",
    "JEJAKEKAL_LOG_LEVEL": "log level of the DBOS logger; default ERROR",
    "JEJAKEKAL_MAX_UPLOAD_MB": (
        "largest document upload in MiB, enforced while the bytes stream in; default 64"
    ),
    "JEJAKEKAL_MAX_PAGES": "a PDF with more pages ends its run `error`; default 2000",
    "JEJAKEKAL_OTLP_ENDPOINT": (
        "OTLP/HTTP collector (http://HOST:4318; spans go to /v1/traces unless the URL has "
        "a path) that receives the traces of workflows and steps; default none: no traces"
    ),
    "JEJAKEKAL_OCR": (
        "auto (default): OCR the PDF pages without a usable text layer; force: every "
        "page; off: none (they are marked ocr_off)"
    ),
    "JEJAKEKAL_UI_POLL_INTERVAL_MS": "first interval of the UI's polls of a live run; default 1000",
    "JEJAKEKAL_UI_POLL_MAX_INTERVAL_MS": (
        "ceiling the interval doubles up to while the run does not change; default 10000"
    ),
    "JEJAKEKAL_UI_POLL_TIMEOUT_MS": (
        "the UI stops following a run after this long without a change (a refresh link "
        "follows it again); default 600000"
    ),
}


@dataclass(frozen=True)
class Settings:
    home: Path = Path(".jejakekal")
    database_url: str = ""
    api_port: int = 4010
    ui_port: int = 4110
    ui_embed_api: bool = True
    api_url: str = ""  # empty: the API of this host's API_PORT
    host: str = "127.0.0.1"  # the bound address: set from --host by serve, api and ui
    api_token: str | None = None
    allowed_hosts: tuple[str, ...] = ()  # added to the loopback names and the bound host
    app_version: str = __version__
    executor_id: str | None = None  # None: chosen by role (see bootstrap.executor_id_for)
    queue_poll_sec: float = 0.02
    queue_idle_poll_sec: float = 0.25
    result_poll_sec: float = 0.005
    decider: str = "stub"
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-4o-mini"
    openai_api_key: str | None = None
    sandbox: str = "shell"
    allow_unisolated: bool = False
    step_max_attempts: int = 3
    step_retry_interval_sec: float = 0.1
    log_level: str = "ERROR"
    max_upload_mb: int = 64
    max_pages: int = 2000
    otlp_traces_url: str | None = None  # JEJAKEKAL_OTLP_ENDPOINT; None: no tracer, no exporter
    ocr: str = "auto"
    ui_poll_interval_ms: int = 1000
    ui_poll_max_interval_ms: int = 10_000
    ui_poll_timeout_ms: int = 600_000

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def blobs_dir(self) -> Path:
        """The content-addressed store of uploaded documents (`storage.blobs`)."""
        return self.home / "blobs"

    @property
    def pages_dir(self) -> Path:
        """Rendered PDF pages, cached for the UI's page view."""
        return self.home / "pages"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'jejakekal.sqlite').resolve()}"

    @property
    def resolved_api_url(self) -> str:
        return self.api_url or f"http://127.0.0.1:{self.api_port}"

    @property
    def bundles_dir(self) -> Path:
        return self.home / "bundles"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment (or the mapping given, for tests)."""
    e = os.environ if env is None else env
    port = e.get("API_PORT") or e.get("PORT") or "4010"
    poll_ms = _positive_int(e, "JEJAKEKAL_UI_POLL_INTERVAL_MS", "1000")
    return Settings(
        home=Path(e.get("JEJAKEKAL_HOME", ".jejakekal")),
        database_url=_database_url(e),
        api_port=_port("API_PORT" if e.get("API_PORT") else "PORT", port),
        ui_port=_port("UI_PORT", e.get("UI_PORT") or "4110"),
        ui_embed_api=_flag("UI_EMBED_API", e.get("UI_EMBED_API") or "1"),
        api_url=(e.get("JEJAKEKAL_API_URL") or "").rstrip("/"),
        api_token=e.get("JEJAKEKAL_API_TOKEN") or None,
        allowed_hosts=tuple(
            h.strip() for h in e.get("JEJAKEKAL_ALLOWED_HOSTS", "").split(",") if h.strip()
        ),
        app_version=e.get("DBOS__APPVERSION") or __version__,
        executor_id=e.get("JEJAKEKAL_EXECUTOR_ID") or None,
        queue_poll_sec=_seconds(e, "JEJAKEKAL_QUEUE_POLL_SEC", "0.02"),
        queue_idle_poll_sec=_seconds(e, "JEJAKEKAL_QUEUE_IDLE_POLL_SEC", "0.25"),
        result_poll_sec=_seconds(e, "JEJAKEKAL_RESULT_POLL_SEC", "0.005"),
        decider=_choice(e, "JEJAKEKAL_DECIDER", ("stub", "openai")),
        openai_base_url=e.get("JEJAKEKAL_OPENAI_BASE_URL", "https://api.openai.com/v1"),
        openai_model=e.get("JEJAKEKAL_OPENAI_MODEL", "gpt-4o-mini"),
        openai_api_key=e.get("JEJAKEKAL_OPENAI_API_KEY") or None,
        sandbox=_choice(e, "JEJAKEKAL_SANDBOX", ("shell",)),
        allow_unisolated=_flag(
            "JEJAKEKAL_ALLOW_UNISOLATED", e.get("JEJAKEKAL_ALLOW_UNISOLATED") or "0"
        ),
        step_max_attempts=_positive_int(e, "JEJAKEKAL_STEP_MAX_ATTEMPTS", "3"),
        step_retry_interval_sec=_seconds(e, "JEJAKEKAL_STEP_RETRY_INTERVAL_SEC", "0.1"),
        log_level=_choice(e, "JEJAKEKAL_LOG_LEVEL", _LOG_LEVELS, "ERROR"),
        max_upload_mb=_positive_int(e, "JEJAKEKAL_MAX_UPLOAD_MB", "64"),
        max_pages=_positive_int(e, "JEJAKEKAL_MAX_PAGES", "2000"),
        otlp_traces_url=_otlp_traces_url(e),
        ocr=_choice(e, "JEJAKEKAL_OCR", ("auto", "force", "off")),
        ui_poll_interval_ms=poll_ms,
        ui_poll_max_interval_ms=_poll_ceiling(e, poll_ms),
        ui_poll_timeout_ms=_positive_int(e, "JEJAKEKAL_UI_POLL_TIMEOUT_MS", "600000"),
    )


# -- reading values: a bad one names its variable, before anything starts -----------


class InvalidSetting(ValueError):
    """A setting's value cannot be used. Defined here, not among the domain's errors:
    this module sits below the domain and imports nothing of the product."""


_DB_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_PASSWORD = re.compile(r"(://[^:/@]*):[^@/]*@")


def check_database_url(url: str, source: str = "the database URL") -> str:
    """`url` if it names a database the product can open: a SQLite file or PostgreSQL."""
    scheme, sep, rest = url.partition("://")
    shown = _PASSWORD.sub(r"\1:***@", url)
    expected = "expected sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
    if not sep or scheme.lower() not in _DB_SCHEMES:
        raise InvalidSetting(f"{source} is not a database URL: {shown!r} ({expected})")
    if scheme.lower() == "sqlite":
        # `sqlite://` alone is an in-memory database: nothing would survive the process.
        path = rest[1:] if rest.startswith("/") else ""
        if not path or path == ":memory:":
            raise InvalidSetting(f"{source} names no SQLite file: {shown!r} ({expected})")
        return url
    try:
        urlsplit(url).port  # noqa: B018  (parsing the port is the check)
    except ValueError:
        raise InvalidSetting(f"{source} has a bad port: {shown!r} ({expected})") from None
    return url


def _database_url(e: Mapping[str, str]) -> str:
    name = "JEJAKEKAL_DATABASE_URL" if e.get("JEJAKEKAL_DATABASE_URL") else "DATABASE_URL"
    url = e.get(name) or ""
    return check_database_url(url, name) if url else ""


def _number(name: str, value: str, kind: type[int] | type[float]) -> float:
    try:
        number = kind(value.strip())
    except ValueError:
        article = "an integer" if kind is int else "a number"
        raise InvalidSetting(f"{name} must be {article}, not {value!r}") from None
    if not math.isfinite(number):
        raise InvalidSetting(f"{name} must be a finite number, not {value!r}")
    return number


def _port(name: str, value: str) -> int:
    port = int(_number(name, value, int))
    if not 1 <= port <= 65535:
        raise InvalidSetting(f"{name} must be a port from 1 to 65535, not {value!r}")
    return port


def _seconds(e: Mapping[str, str], name: str, default: str) -> float:
    value = e.get(name) or default
    seconds = _number(name, value, float)
    # Zero would make a polling loop spin on the database.
    if seconds <= 0:
        raise InvalidSetting(f"{name} must be a number of seconds above 0, not {value!r}")
    return seconds


def _positive_int(e: Mapping[str, str], name: str, default: str) -> int:
    value = e.get(name) or default
    attempts = int(_number(name, value, int))
    if attempts < 1:
        raise InvalidSetting(f"{name} must be 1 or more, not {value!r}")
    return attempts


def _poll_ceiling(e: Mapping[str, str], interval_ms: int) -> int:
    """The UI's longest poll interval: never below the first one, which doubles up to it."""
    name = "JEJAKEKAL_UI_POLL_MAX_INTERVAL_MS"
    ceiling = _positive_int(e, name, "10000")
    if ceiling < interval_ms:
        raise InvalidSetting(
            f"{name} must be at least JEJAKEKAL_UI_POLL_INTERVAL_MS ({interval_ms}), "
            f"not {e.get(name) or '10000'!r}"
        )
    return ceiling


def _otlp_traces_url(e: Mapping[str, str]) -> str | None:
    """The URL DBOS's span exporter posts to. As with OTEL_EXPORTER_OTLP_ENDPOINT, a bare
    collector address gets the traces path; a URL with a path is taken as it is."""
    name = "JEJAKEKAL_OTLP_ENDPOINT"
    value = (e.get(name) or "").strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (parsing the port is the check)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSetting(
            f"{name} must be an http(s) URL such as http://127.0.0.1:4318, not {value!r}"
        )
    if parts.path in ("", "/"):
        return value.rstrip("/") + "/v1/traces"
    return value


def _flag(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise InvalidSetting(f"{name} must be 1 or 0, not {value!r}")


def _choice(
    e: Mapping[str, str], name: str, choices: tuple[str, ...], default: str | None = None
) -> str:
    value = e.get(name) or default or choices[0]
    for choice in choices:
        if value.strip().lower() == choice.lower():
            return choice
    raise InvalidSetting(f"{name} must be one of {', '.join(choices)}, not {value!r}")
