"""What workflow steps reach at run time, bound once by the composition root."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from jejakekal.config import Settings
from jejakekal.domain.ports import Decider, DocumentParser, Sandbox

T = TypeVar("T")


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Any  # sqlalchemy.Engine; typed loosely so this package imports no SQLAlchemy
    decider: Decider
    sandbox: Sandbox
    parsers: Mapping[str, DocumentParser] = field(default_factory=dict)  # by docir format


_runtime: Runtime | None = None


def bind(runtime: Runtime) -> None:
    global _runtime
    _runtime = runtime


def current() -> Runtime:
    if _runtime is None:
        raise RuntimeError("workflow runtime is not bound; build the kernel first")
    return _runtime


def tx_step(name: str, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(conn, *args)` in one transaction as the DBOS step `name`.

    Every such body is an idempotent upsert keyed by run and step, so a replay after
    a crash between its commit and the step's checkpoint writes the same rows again.
    """
    from dbos import DBOS

    from jejakekal.storage.runs import write

    def body(*a: Any) -> T:
        with write(current().engine) as conn:
            return fn(conn, *a)

    result: T = DBOS.run_step({"name": name}, body, *args)
    return result
