"""Settings: the only module that reads the environment.

Every setting has a documented default, so `jejakekal serve` on a fresh machine needs
no configuration at all. The README's configuration table is checked against
`SETTINGS_DOC` by a test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from jejakekal import __version__

SETTINGS_DOC: dict[str, str] = {
    "JEJAKEKAL_HOME": "state folder (SQLite database, bundles); default ./.jejakekal",
    "JEJAKEKAL_DATABASE_URL": "sqlite:///PATH or postgresql://...; default SQLite in the home",
    "DATABASE_URL": "fallback for JEJAKEKAL_DATABASE_URL",
    "API_PORT": "API port (alias PORT); default 4010",
    "UI_PORT": "web UI port; default 4110",
    "UI_EMBED_API": "1 (default): `serve` runs API and UI in one process; 0: only the UI",
    "JEJAKEKAL_API_URL": "API the UI talks to when it runs alone; default http://127.0.0.1:API_PORT",
    "JEJAKEKAL_API_TOKEN": "bearer token; required when binding a non-loopback host",
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
    "JEJAKEKAL_STEP_MAX_ATTEMPTS": "attempts of ExecuteST before retries_exceeded; default 3",
    "JEJAKEKAL_STEP_RETRY_INTERVAL_SEC": "first ExecuteST retry delay (doubles); default 0.1",
    "JEJAKEKAL_LOG_LEVEL": "log level of the DBOS logger; default ERROR",
}


@dataclass(frozen=True)
class Settings:
    home: Path = Path(".jejakekal")
    database_url: str = ""
    api_port: int = 4010
    ui_port: int = 4110
    ui_embed_api: bool = True
    api_url: str = ""  # empty: the API of this host's API_PORT
    host: str = "127.0.0.1"
    api_token: str | None = None
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
    step_max_attempts: int = 3
    step_retry_interval_sec: float = 0.1
    log_level: str = "ERROR"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'jejakekal.sqlite').resolve()}"

    @property
    def resolved_api_url(self) -> str:
        return self.api_url or f"http://127.0.0.1:{self.api_port}"

    @property
    def bundles_dir(self) -> Path:
        return self.home / "bundles"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment (or the mapping given, for tests)."""
    e = os.environ if env is None else env
    port = e.get("API_PORT") or e.get("PORT") or "4010"
    return Settings(
        home=Path(e.get("JEJAKEKAL_HOME", ".jejakekal")),
        database_url=e.get("JEJAKEKAL_DATABASE_URL") or e.get("DATABASE_URL") or "",
        api_port=int(port),
        ui_port=int(e.get("UI_PORT", "4110")),
        ui_embed_api=e.get("UI_EMBED_API", "1").strip().lower() not in ("0", "false", "no"),
        api_url=(e.get("JEJAKEKAL_API_URL") or "").rstrip("/"),
        api_token=e.get("JEJAKEKAL_API_TOKEN") or None,
        app_version=e.get("DBOS__APPVERSION") or __version__,
        executor_id=e.get("JEJAKEKAL_EXECUTOR_ID") or None,
        queue_poll_sec=float(e.get("JEJAKEKAL_QUEUE_POLL_SEC", "0.02")),
        queue_idle_poll_sec=float(e.get("JEJAKEKAL_QUEUE_IDLE_POLL_SEC", "0.25")),
        result_poll_sec=float(e.get("JEJAKEKAL_RESULT_POLL_SEC", "0.005")),
        decider=e.get("JEJAKEKAL_DECIDER", "stub"),
        openai_base_url=e.get("JEJAKEKAL_OPENAI_BASE_URL", "https://api.openai.com/v1"),
        openai_model=e.get("JEJAKEKAL_OPENAI_MODEL", "gpt-4o-mini"),
        openai_api_key=e.get("JEJAKEKAL_OPENAI_API_KEY") or None,
        sandbox=e.get("JEJAKEKAL_SANDBOX", "shell"),
        step_max_attempts=int(e.get("JEJAKEKAL_STEP_MAX_ATTEMPTS", "3")),
        step_retry_interval_sec=float(e.get("JEJAKEKAL_STEP_RETRY_INTERVAL_SEC", "0.1")),
        log_level=e.get("JEJAKEKAL_LOG_LEVEL", "ERROR"),
    )
