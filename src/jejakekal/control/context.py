"""What every use case shares: settings, the database, the DBOS client, and the runs
this process started and has not seen end."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from dbos import DBOSClient

from jejakekal.config import Settings
from jejakekal.storage.database import Database

# Starts a document workflow in this process at once (given where workflows run); returns
# the local execution's future, if any.
DocStarter = Callable[[str, dict[str, Any]], "Future[Any] | None"]


@dataclass
class Context:
    settings: Settings
    db: Database
    client: DBOSClient
    # What a node would run under here ("bwrap" isolates): refuses unisolated recipes.
    isolation: Callable[[], str] = lambda: "subprocess"
    # Runs started in this process, until they end: a long poll waits on these.
    running_here: dict[str, Future[Any]] = field(default_factory=dict)

    def track(self, run_id: str, future: Future[Any] | None) -> None:
        if future is not None:
            self.running_here[run_id] = future
            future.add_done_callback(lambda _: self.running_here.pop(run_id, None))
