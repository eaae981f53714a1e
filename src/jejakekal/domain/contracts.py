"""Request and workflow-input contracts: strict pydantic models, unknown fields rejected."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from jejakekal.domain.errors import BadRequest
from jejakekal.domain.ids import is_valid_id
from jejakekal.domain.jsonrules import MAX_JSON_DEPTH, check_json_tree, check_text
from jejakekal.domain.recipes import RecipeSpec

StrictModel = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    # A request body is level 1, so an object in one of its fields may use one less.
    return check_json_tree(value, max_depth=MAX_JSON_DEPTH - 1)


# Every string a client sends ends up in a database (and goals in a sandbox's environment).
Text = AfterValidator(check_text)
MAX_GOAL_CHARS = 4000
Goal = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_GOAL_CHARS),
    Text,
    AfterValidator(_not_blank),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128), Text]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]
DEFAULT_RECIPE = "compile-default"
# A document run's id is its workflowId, and `<run_id>:chunk-index` must still be an id.
MAX_DOC_RUN_ID = 128 - len(":chunk-index")


def _doc_run_id(value: str) -> str:
    if not is_valid_id(value) or len(value) > MAX_DOC_RUN_ID:
        raise ValueError(
            f"must match [A-Za-z0-9][A-Za-z0-9._:-]*, contain no '..', "
            f"and be at most {MAX_DOC_RUN_ID} characters"
        )
    return value


DocRunId = Annotated[str, AfterValidator(_doc_run_id)]


class IntentCreate(BaseModel):
    model_config = StrictModel
    goal: Goal
    inputs: JsonObject
    constraints: JsonObject


class Workload(BaseModel):
    model_config = StrictModel
    concurrency: int = Field(ge=1, le=10_000)
    steps: int = Field(ge=1, le=10_000)
    # Minutes may be fractional (0.05 = 3 s); strict mode still refuses strings.
    sandboxMinutes: float = Field(gt=0, le=24 * 60)


DEFAULT_WORKLOAD = Workload(concurrency=1, steps=1, sandboxMinutes=1)


class RunRequest(BaseModel):
    model_config = StrictModel
    traceId: Name | None = None
    recipeName: Name | None = None
    workload: Workload | None = None


class EventRequest(BaseModel):
    model_config = StrictModel
    type: Name
    payload: JsonObject = Field(default_factory=dict)


MAX_SLEEP_MS = 600_000
# The largest JSON body the API reads; the UI holds a command to the same size.
MAX_BODY_BYTES = 1_048_576
DOC_COMMAND = "/doc "


class DocRunRequest(BaseModel):
    """`POST /runs`: a document as `source`, or as the chat command `/doc <text>`."""

    model_config = StrictModel
    source: Annotated[str, StringConstraints(min_length=1), Text] | None = None
    cmd: Annotated[str, StringConstraints(min_length=1), Text] | None = None
    sleepMs: int = Field(default=0, ge=0, le=MAX_SLEEP_MS)
    workflowId: DocRunId | None = None
    format: Literal["text", "markdown"] = "text"

    @model_validator(mode="after")
    def _one_source(self) -> DocRunRequest:
        if (self.source is None) == (self.cmd is None):
            raise ValueError("give exactly one of `source` and `cmd`")
        if self.cmd is not None and not self.cmd.startswith(DOC_COMMAND):
            raise ValueError("`cmd` must be `/doc <text>`")
        if not self.document().strip():
            raise ValueError("the document is empty")
        return self

    def document(self) -> str:
        """The document text exactly as given (the raw artifact keeps these bytes)."""
        if self.source is not None:
            return self.source
        assert self.cmd is not None
        return self.cmd[len(DOC_COMMAND) :]


FileName = Annotated[str, StringConstraints(min_length=1, max_length=255), Text]


class DocUpload(BaseModel):
    """`POST /runs` with a file: the fields beside its bytes (form parts or query
    parameters, so they arrive as text and are converted)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    sleepMs: int = Field(default=0, ge=0, le=MAX_SLEEP_MS)
    workflowId: DocRunId | None = None
    format: Literal["text", "markdown", "pdf", "html", "docx"] | None = None
    filename: FileName | None = None


class BlobRef(BaseModel):
    """An uploaded document in the blob store, as a run's request records it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    sha256: str
    size: int
    contentType: str
    filename: str | None = None


class UploadedDocRun(BaseModel):
    """A document run's request when its bytes were uploaded: `app.runs.request`."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    blob: BlobRef
    format: str
    sleepMs: int = 0

    def request_hash_payload(self) -> dict[str, object]:
        """What makes two uploads the same request: the bytes, the format, the pause;
        not the file's name (the same bytes under another name are the same document)."""
        return {"blob": self.blob.sha256, "format": self.format, "sleepMs": self.sleepMs}


class DocIngestInput(BaseModel):
    """The input of workflow `doc_ingest`: fields may be added, never renamed."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    run_id: str
    source: str  # the text itself; empty when the bytes are in the blob store
    format: str
    sleep_ms: int
    source_kind: str  # "source", "cmd" or "upload"
    # An upload (release 4 on): the blob holding its bytes, and what it was sent as.
    blob: BlobRef | None = None


class ForkRequest(BaseModel):
    """`POST /runs/{id}/fork`: the step to start from (an operation's name on the run's
    timeline, e.g. `DecideST` or `side-effect`), and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fromStep: str = Field(min_length=1, max_length=100)
    reason: str | None = None


class RunIntentInput(BaseModel):
    """The input of workflow `run_intent`: fields may be added, never renamed."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    run_id: str
    intent_id: str
    recipe_name: str
    concurrency: int
    steps: int
    sandbox_minutes: float
    trace_id: str | None = None
    # The intent as the run was started (intents never change): CompileST needs no read.
    # None in a run started before these fields existed; CompileST then reads the intent.
    goal: str | None = None
    inputs: dict[str, Any] | None = None
    # The recipe's spec as the run started (RecipeSpec's JSON); None before release 3,
    # which had only stub-planner recipes.
    recipe: dict[str, Any] | None = None

    @property
    def spec(self) -> RecipeSpec:
        return RecipeSpec.model_validate(self.recipe or {})


class ExecNodeInput(BaseModel):
    """The input of child workflow `execute_node` (one sandbox execution)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    run_id: str
    node_id: str
    argv: list[str]
    env: dict[str, str]
    timeout_sec: float
    fail_mode: str = "none"  # none | always | first
    max_attempts: int = 3
    node_count: int = 1  # nodes in the wave: the last one to finish closes its ExecuteST
    # Added in release 3 (absent from earlier checkpoints: the defaults are their behaviour).
    step_id: str = "ExecuteST"  # ExecuteST, or ExecuteST#<n> in the agent loop
    closes_run: bool = True  # False in the agent loop: ObserveST follows the wave
    files: dict[str, str] = Field(default_factory=dict)
    retry_nonzero: bool = True  # release 2 retried every failure
    isolated_only: bool = False  # a user's or a model's command: refuse to run unisolated
    output_cap_bytes: int = 1024 * 1024
    max_out_files: int = 32
    max_out_file_bytes: int = 1024 * 1024


M = TypeVar("M", bound=BaseModel)


def parse_request(model: type[M], data: Any, error: type[BadRequest]) -> M:
    """`data` as `model`, or `error` naming the first offending field (API and UI alike)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        # A validator's own ValueError reads better without pydantic's "Value error, ".
        message = first["msg"].removeprefix("Value error, ")
        raise error(f"{field or 'body'}: {message}", field=field) from exc
