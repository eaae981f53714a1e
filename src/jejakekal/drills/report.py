"""Progress on stderr with rich, so that stdout carries nothing but the verdict."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class Reporter:
    """One progress bar: stages of a drill, or rounds of a soak."""

    def __init__(self, drill: str, total: int) -> None:
        self.drill = drill
        self.console = Console(stderr=True, log_path=False)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._task: TaskID = self.progress.add_task(drill, total=total)
        self._stages = 0

    def __enter__(self) -> Reporter:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def stage(self, text: str) -> None:
        """Begin the next stage; the one before it counts as done."""
        advance = 1 if self._stages else 0
        self._stages += 1
        self.progress.update(self._task, description=f"{self.drill}: {text}", advance=advance)

    def advance(self, by: float = 1) -> None:
        self.progress.update(self._task, advance=by)

    def describe(self, text: str) -> None:
        self.progress.update(self._task, description=f"{self.drill}: {text}")

    def set_completed(self, done: float) -> None:
        self.progress.update(self._task, completed=done)

    def finish(self, text: str) -> None:
        total = self.progress.tasks[0].total
        self.progress.update(self._task, description=f"{self.drill}: {text}", completed=total)

    def note(self, text: str) -> None:
        self.progress.console.log(text)
