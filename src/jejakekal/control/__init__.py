"""Use cases: the one place that writes on behalf of operators (API, UI, CLI)."""

from jejakekal.control.context import DocStarter
from jejakekal.control.facade import Control
from jejakekal.control.intents import StartedRun
from jejakekal.control.reads import BUSY

__all__ = ["BUSY", "Control", "DocStarter", "StartedRun"]
