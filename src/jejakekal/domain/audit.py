"""Who did what to which run: the operator actions the audit records (README, "Operator
actions").

Every cancel, resume, retry, fork, gate answer, export and batch operation writes one
`operator_actions` row in the transaction of its effect; a refused action writes none.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from jejakekal.domain import errors
from jejakekal.domain.gates import Origin

MAX_REASON_CHARS = 500
# A client's own request id (`X-Request-Id`) is kept if it is short and printable.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


@dataclass(frozen=True)
class Who:
    """The operator behind an action, where it came from, why, and the request that
    carried it."""

    actor: str
    origin: Origin
    reason: str | None = None
    request_id: str | None = None
    # Set on each run's row of a batch operation: one id for the whole call.
    batch_id: str | None = None

    def in_batch(self, batch_id: str) -> Who:
        return Who(self.actor, self.origin, self.reason, self.request_id, batch_id)


def parse_reason(raw: object, where: str = "reason") -> str | None:
    """An optional reason: a string of at most MAX_REASON_CHARS, blank meaning none."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise errors.InvalidReason(f"{where}: a string", field=where)
    reason = raw.strip()
    if len(reason) > MAX_REASON_CHARS:
        raise errors.InvalidReason(f"{where}: at most {MAX_REASON_CHARS} characters", field=where)
    if any(ord(c) < 32 and c not in "\t\n" for c in reason):
        raise errors.InvalidReason(f"{where}: no control characters", field=where)
    return reason or None


def request_id(raw: str | None) -> str:
    """The client's `X-Request-Id` when it is well formed, else a new one."""
    if raw is not None and _REQUEST_ID.fullmatch(raw):
        return raw
    return f"req-{uuid.uuid4().hex}"


def new_batch_id() -> str:
    return f"batch-{uuid.uuid4().hex}"
