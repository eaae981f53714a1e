"""One error family: every failure the API can answer carries a code and a status."""

from __future__ import annotations

from typing import Any, ClassVar

from jejakekal.domain.jsontypes import JsonObject


class JejakekalError(Exception):
    status: int = 500
    code: str = "internal_error"
    default_message: str = "internal error"
    # Fields every error of the class carries; the ones given to a constructor win.
    implied_fields: ClassVar[JsonObject] = {}

    def __init__(self, message: str | None = None, **fields: object) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.fields = {**self.implied_fields, **fields}

    def body(self) -> JsonObject:
        return {"error": self.code, "code": self.code, "message": self.message, **self.fields}


class BadRequest(JejakekalError):
    status = 400
    code = "bad_request"


class InvalidJson(BadRequest):
    code = "invalid_json"
    default_message = "request body is not valid JSON"


class InvalidIntent(BadRequest):
    code = "invalid_intent"
    default_message = "intent does not match the schema"


class InvalidRunRequest(BadRequest):
    code = "invalid_run_request"
    default_message = "run request does not match the schema"


class InvalidEvent(BadRequest):
    code = "invalid_event"
    default_message = "event does not match the schema"


class FormatMismatch(BadRequest):
    """An upload whose bytes are not what its type, its `format` or its name says."""

    code = "format_mismatch"
    default_message = "the file's bytes do not match its declared type"


class InvalidAnswer(BadRequest):
    code = "invalid_answer"
    default_message = "the answer does not match the gate's schema"


class InvalidActor(BadRequest):
    code = "invalid_actor"
    default_message = "X-Actor or X-Origin is not valid"


class InvalidReason(BadRequest):
    code = "invalid_reason"
    default_message = "reason must be a short string"


class InvalidFork(BadRequest):
    """`fromStep` names no step of the run at which a fork can start."""

    code = "invalid_fork"
    default_message = "fromStep names no step the run can be forked from"


class InvalidBatch(BadRequest):
    code = "invalid_batch"
    default_message = "batch operation does not match the schema"


class InvalidQuery(BadRequest):
    code = "invalid_query"
    default_message = "query parameters do not match the schema"


class InvalidRunId(BadRequest):
    code = "invalid_run_id"
    default_message = "run id is not a valid identifier"
    implied_fields = {"field": "run_id"}


class InvalidIntentId(BadRequest):
    code = "invalid_intent_id"
    default_message = "intent id is not a valid identifier"
    implied_fields = {"field": "intent_id"}


class InvalidArtifactId(BadRequest):
    code = "invalid_artifact_id"
    default_message = "artifact id is not a valid identifier"
    implied_fields = {"field": "artifact_id"}


class RecipeNotFound(BadRequest):
    code = "recipe_not_found"
    default_message = "no recipe of that name"


class QueuePolicyViolation(BadRequest):
    code = "queue_policy_violation"
    default_message = "workload exceeds the recipe's caps"


class Unauthorized(JejakekalError):
    status = 401
    code = "unauthorized"
    default_message = "missing or wrong bearer token"


class HostNotAllowed(JejakekalError):
    """The `Host` header names no host this server answers to (DNS rebinding, or a name
    the operator has not added to JEJAKEKAL_ALLOWED_HOSTS)."""

    status = 421
    code = "host_not_allowed"
    default_message = "this server does not answer to that Host; see JEJAKEKAL_ALLOWED_HOSTS"


class NotFound(JejakekalError):
    status = 404
    code = "not_found"


class PageNotFound(NotFound):
    code = "page_not_found"
    default_message = "the document has no such page"


class IntentNotFound(NotFound):
    code = "intent_not_found"
    default_message = "no intent with that id"


class RunNotFound(NotFound):
    code = "run_not_found"
    default_message = "no run with that id"


class ArtifactNotFound(NotFound):
    code = "artifact_not_found"
    default_message = "no artifact with that id"


class Conflict(JejakekalError):
    status = 409
    code = "conflict"


class RunPayloadMismatch(Conflict):
    code = "run_payload_mismatch"
    default_message = "this intent already has a run started with a different body"


class WorkflowIdPayloadMismatch(Conflict):
    code = "workflow_id_payload_mismatch"
    default_message = "a run with this workflowId was started with a different payload"


class EventNotExpected(Conflict):
    code = "event_not_expected"
    default_message = "the run is not waiting for this event"


class GateNotOpen(Conflict):
    code = "gate_not_open"
    default_message = "the run has no open gate of that key"


class GateAlreadyAnswered(Conflict):
    code = "gate_already_answered"
    default_message = "the gate was answered already"


class DedupeKeyReused(Conflict):
    code = "dedupe_key_reused"
    default_message = "this dedupeKey was used with a different answer"


class RunNotRetryable(Conflict):
    code = "run_not_retryable"
    default_message = "only failed or retries_exceeded runs can be retried"


class RunNotForkable(Conflict):
    code = "run_not_forkable"
    default_message = "only a finished, failed or cancelled run can be forked"


class RunNotResumable(Conflict):
    code = "run_not_resumable"
    default_message = "only cancelled or recovery-exhausted runs (or retries_exceeded) resume"


class RunNotCancelable(Conflict):
    code = "run_not_cancelable"
    default_message = "the run is already finished"


class ExecutorIdInUse(Conflict):
    """A process may not start under the executor id of a live one (never an HTTP answer)."""

    code = "executor_id_in_use"
    default_message = "a live process holds this executor id"


class PayloadTooLarge(JejakekalError):
    status = 413
    code = "payload_too_large"
    default_message = "request body is too large"


class DecisionInvalid(JejakekalError):
    """The decider answered something that does not match the decision schema."""

    code = "decision_invalid"
    default_message = "decider response failed schema validation"


class ModelUnavailable(JejakekalError):
    """A model endpoint failed in a way worth retrying: a network error, 429 or 5xx."""

    code = "model_unavailable"
    default_message = "the model endpoint is unavailable"


class PlanInvalid(JejakekalError):
    """A planner answered something that is not a valid plan; `raw_reply` keeps it."""

    code = "plan_invalid"
    default_message = "the planner's answer is not a valid plan"

    def __init__(self, message: str | None = None, *, raw_reply: str = "", **fields: object):
        super().__init__(message, **fields)
        self.raw_reply = raw_reply


class SandboxNotIsolated(Conflict):
    """A recipe that runs a user's or a model's commands, where no isolating sandbox is
    usable and the operator has not opted in (JEJAKEKAL_ALLOW_UNISOLATED=1)."""

    code = "sandbox_not_isolated"
    default_message = (
        "this recipe runs commands from a user or a model, and no isolating sandbox "
        "(bubblewrap) is usable here; install bubblewrap, or set "
        "JEJAKEKAL_ALLOW_UNISOLATED=1 to run them unisolated"
    )


class DecisionRejected(JejakekalError):
    """The decider looked at the plan and said no."""

    code = "decision_rejected"
    default_message = "decider rejected the plan"


class NodeFailed(JejakekalError):
    """An execution node's command failed (a non-zero exit, or the `fail`/`flaky` lanes):
    an outcome of the run, retried by ExecuteST, not a fault of the product."""

    code = "node_failed"
    default_message = "the execution node's command failed"


class DatabaseUnavailable(JejakekalError):
    """No product database at the configured URL: no SQLite file, or a PostgreSQL server
    that cannot be reached or holds no app tables. Raised by the CLI's checks only."""

    status = 503
    code = "database_unavailable"
    default_message = "no database at the configured URL"


class UnsupportedMediaType(JejakekalError):
    """A body that is not declared JSON: what a cross-site form can send unasked."""

    status = 415
    code = "unsupported_media_type"
    default_message = "the body must be JSON: send Content-Type: application/json"


class HttpStatusError(JejakekalError):
    """An HTTP status with no typed error of its own: a page the UI does not have, or an
    API answer whose code this release does not know. Positional-only, so that `fields`
    may hold a `status` or `code` of their own (a run's status, say)."""

    def __init__(self, status: int, code: str, message: str, /, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.status = status
        self.code = code


class ClientDisconnected(BadRequest):
    """The client left before its body was complete. Nobody reads this answer (so it is
    not in ERROR_CODES); raising it ends the request without an unhandled-error log."""

    code = "client_disconnected"
    default_message = "the client disconnected before sending the whole body"


# Every error the HTTP API can answer (the README lists each code; a test holds that).
ERROR_CODES: tuple[type[JejakekalError], ...] = (
    InvalidJson,
    InvalidQuery,
    InvalidIntent,
    InvalidRunRequest,
    FormatMismatch,
    InvalidEvent,
    InvalidAnswer,
    InvalidActor,
    InvalidReason,
    InvalidFork,
    InvalidBatch,
    InvalidRunId,
    InvalidIntentId,
    InvalidArtifactId,
    RecipeNotFound,
    QueuePolicyViolation,
    Unauthorized,
    HostNotAllowed,
    IntentNotFound,
    RunNotFound,
    ArtifactNotFound,
    PageNotFound,
    RunPayloadMismatch,
    WorkflowIdPayloadMismatch,
    EventNotExpected,
    GateNotOpen,
    GateAlreadyAnswered,
    DedupeKeyReused,
    RunNotRetryable,
    RunNotCancelable,
    RunNotResumable,
    RunNotForkable,
    SandboxNotIsolated,
    PayloadTooLarge,
    UnsupportedMediaType,
)
