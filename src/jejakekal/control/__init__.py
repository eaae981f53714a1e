"""Use cases: the one place that writes on behalf of operators (API, UI, CLI)."""

from jejakekal.control.documents import DocStarter
from jejakekal.control.runs import BUSY, Control, StartedRun

__all__ = ["BUSY", "Control", "DocStarter", "StartedRun"]
