"""What workflow steps reach at run time, bound once by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from jejakekal.config import Settings
from jejakekal.domain.ports import Decider, Sandbox

T = TypeVar("T")


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Any  # sqlalchemy.Engine; typed loosely so this package imports no SQLAlchemy
    datasource: Any  # dbos.SQLAlchemyDatasource over the same engine
    decider: Decider
    sandbox: Sandbox


_runtime: Runtime | None = None


def bind(runtime: Runtime) -> None:
    global _runtime
    _runtime = runtime


def current() -> Runtime:
    if _runtime is None:
        raise RuntimeError("workflow runtime is not bound; build the kernel first")
    return _runtime


def tx_step(name: str, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(session, *args)` as a datasource transaction step named `name`.

    The app writes and the step's checkpoint commit together, so a replay after a
    crash neither loses nor repeats them.
    """
    ds = current().datasource

    def body(*a: Any) -> T:
        return fn(ds.sql_session(), *a)

    result: T = ds.run_tx_step({"name": name}, body, *args)
    return result
