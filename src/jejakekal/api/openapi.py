"""The OpenAPI 3.1 document: FastAPI's generated schema, completed from one table.

FastAPI knows the routes and their query parameters but not what the routes answer:
bodies are parsed by the routes themselves (typed 400s, never 422), and errors leave
through the one mapper in `api/errors.py`. So the generated document is post-processed
here rather than spread over the route decorators: every status an operation can
answer, the error envelope, the id grammar, the enums, and the success bodies.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from jejakekal.api.parsing import MAX_BODY_BYTES
from jejakekal.api.routes import GATE_STATUSES, RUN_STATUSES
from jejakekal.domain import errors as e
from jejakekal.domain.contracts import MAX_DOC_RUN_ID
from jejakekal.domain.gates import GATE_KEY
from jejakekal.domain.ids import ID_PATTERN
from jejakekal.domain.jsonrules import MAX_JSON_DEPTH
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.lifecycle import RunKind
from jejakekal.domain.names import ALL_ARTIFACT_TYPES

# The fragments built here are only emitted: `JsonObject`s. FastAPI's generated document is
# walked and edited in place, reading into its values: parts of it are `Generated`.
Schema = JsonObject
Generated = dict[str, Any]
DESCRIPTION = (
    "The jejakekal HTTP API. Every error answers the `Error` envelope, its `code` one of "
    "those listed under the status. Bodies are JSON (`Content-Type: application/json`), "
    f"at most {MAX_BODY_BYTES} bytes, nested at most {MAX_JSON_DEPTH} levels, finite "
    "numbers only, no duplicate keys, and no U+0000 in any string."
)
COMPONENTS = "#/components/schemas/"


def ref(name: str) -> Schema:
    return {"$ref": COMPONENTS + name}


def obj(required: dict[str, Schema], **optional: Schema) -> Schema:
    """An object with these keys; more may be added without breaking clients."""
    return {"type": "object", "required": list(required), "properties": {**required, **optional}}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
ARRAY: Schema = {"type": "array"}
OBJECT: Schema = {"type": "object"}
NULLABLE_STR: Schema = {"type": ["string", "null"]}
KIND: Schema = {"type": "string", "enum": [k.value for k in RunKind]}
ID: Schema = {
    "type": "string",
    "pattern": ID_PATTERN.pattern,
    "description": "an identifier; it never contains `..`",
}

# Response bodies (and the error envelope), published under components/schemas.
SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        {"error": STR, "code": STR, "message": STR},
        field=NULLABLE_STR,
        run_id=STR,
        workflow_id=STR,
        limit=INT,
    ),
    "Health": obj(
        {"ok": BOOL, "role": STR, "app_version": STR, "db": STR, "workers_alive": INT},
        workers={"type": "array", "items": STR},
        queues=NULLABLE_STR,
        sandbox=obj(
            {
                "isolation": STR,
                "allow_unisolated": BOOL,
                "foreign_commands": {"type": "string", "enum": ["allowed", "refused"]},
            }
        ),
    ),
    "IntentCreated": obj({"intentId": STR}),
    "RunStarted": obj({"runId": STR, "workflowId": STR}),
    "DocRunStarted": obj({"run_id": STR, "status": STR}),
    "EventAccepted": obj({"accepted": {"const": True}}),
    "RetryAccepted": obj({"accepted": {"const": True}, "newRunId": STR, "fromStep": STR}),
    "ResumeAccepted": obj({"run_id": STR, "status": STR}),
    "CancelAccepted": obj({"accepted": {"const": True}, "run_id": STR, "status": STR}),
    "ForkAccepted": obj(
        {
            "accepted": {"const": True},
            "runId": STR,
            "parentRunId": STR,
            "fromStep": STR,
            "startFunctionId": INT,
        }
    ),
    "BatchResult": obj(
        {
            "action": STR,
            "dryRun": BOOL,
            "batchId": NULLABLE_STR,
            "matched": INT,
            "limit": INT,
            "done": ARRAY,
            "refused": ARRAY,
        }
    ),
    "RunView": obj(
        {
            "run_id": STR,
            "runId": STR,
            "workflowId": STR,
            "kind": KIND,
            "status": STR,
            "dbos_status": NULLABLE_STR,
            "lastStep": NULLABLE_STR,
            "retryCount": INT,
            "nextAction": NULLABLE_STR,
            "error": {},
            "header": OBJECT,
            "steps": ARRAY,
            "timeline": ARRAY,
            "artifacts": ARRAY,
        },
        goal=NULLABLE_STR,
        recipe=NULLABLE_STR,
        plan=ARRAY,
        gates=ARRAY,
        ledger=ARRAY,
        actions=ARRAY,
        parentRunId=NULLABLE_STR,
        forkStep=NULLABLE_STR,
        forks=ARRAY,
    ),
    "GateReceipt": obj(
        {
            "accepted": {"const": True},
            "runId": STR,
            "key": STR,
            "answer": {},
            "actor": NULLABLE_STR,
            "origin": NULLABLE_STR,
            "answeredAt": NULLABLE_STR,
            "duplicate": BOOL,
        }
    ),
    "Fleet": obj(
        {
            "atMs": INT,
            "runs": ARRAY,
            "queues": ARRAY,
            "workers": ARRAY,
            "workersAlive": INT,
            "deadAfterSeconds": {"type": "number"},
            "openGates": OBJECT,
            "failedTotal": INT,
            "failed": ARRAY,
            "stepSample": INT,
            "steps": ARRAY,
        }
    ),
    "GateList": obj({"items": {"type": "array", "items": OBJECT}, "limit": INT, "offset": INT}),
    "RunList": obj({"items": {"type": "array", "items": OBJECT}, "limit": INT, "offset": INT}),
    "RunExport": obj(
        {
            "run_id": STR,
            "status": STR,
            "dbos_status": NULLABLE_STR,
            "artifacts": {"type": "array", "items": obj({"id": STR})},
            "run_bundle_path": STR,
        }
    ),
    "ArtifactMeta": obj(
        {
            "id": STR,
            "run_id": STR,
            "type": STR,
            "status": STR,
            "visibility": STR,
            "sha256": STR,
            "size": INT,
        },
        content_type=STR,
        created_at=STR,
    ),
    "ArtifactList": {"type": "array", "items": ref("ArtifactMeta")},
    "ArtifactDocument": obj({"meta": ref("ArtifactMeta"), "content": {}, "prov": {}}),
    "SearchHits": {
        "type": "array",
        "items": obj(
            {
                "run_id": STR,
                "chunk_id": STR,
                "score": {"type": "number"},
                "snippet": STR,
                "start": INT,
                "end": INT,
            }
        ),
    },
}


Codes = dict[int, tuple[str, ...]]


@dataclass(frozen=True)
class Op:
    """What one operation answers: its success, and the error codes under each status."""

    status: int
    body: str | None
    errors: Codes = field(default_factory=dict)
    reads_body: bool = False
    media: tuple[str, ...] = ()  # a byte body's types, when not an artifact's (DOWNLOAD_TYPES)


RUN_ID_ERRORS: Codes = {400: (e.InvalidRunId.code,), 404: (e.RunNotFound.code,)}
# An operator action's own 400s, beside the run id's: its body `{"reason"}` and headers.
ACTION_ERRORS = (
    e.InvalidRunId.code,
    e.InvalidJson.code,
    e.InvalidActor.code,
    e.InvalidReason.code,
)
ARTIFACT_ID_ERRORS: Codes = {400: (e.InvalidArtifactId.code,), 404: (e.ArtifactNotFound.code,)}

OPERATIONS: dict[tuple[str, str], Op] = {
    ("get", "/healthz"): Op(200, "Health"),
    ("post", "/intents"): Op(
        201, "IntentCreated", {400: (e.InvalidJson.code, e.InvalidIntent.code)}, reads_body=True
    ),
    ("post", "/intents/{intent_id}/run"): Op(
        202,
        "RunStarted",
        {
            400: (
                e.InvalidIntentId.code,
                e.InvalidJson.code,
                e.InvalidRunRequest.code,
                e.RecipeNotFound.code,
                e.QueuePolicyViolation.code,
            ),
            404: (e.IntentNotFound.code,),
            409: (e.RunPayloadMismatch.code, e.SandboxNotIsolated.code),
        },
        reads_body=True,
    ),
    ("get", "/runs"): Op(200, "RunList", {400: (e.InvalidQuery.code,)}),
    ("post", "/runs"): Op(
        202,
        "DocRunStarted",
        {
            400: (e.InvalidJson.code, e.InvalidRunRequest.code, e.FormatMismatch.code),
            409: (e.WorkflowIdPayloadMismatch.code,),
        },
        reads_body=True,
    ),
    ("get", "/runs/{run_id}"): Op(
        200, "RunView", {**RUN_ID_ERRORS, 400: (e.InvalidRunId.code, e.InvalidQuery.code)}
    ),
    ("post", "/runs/{run_id}/events"): Op(
        202,
        "EventAccepted",
        {
            **RUN_ID_ERRORS,
            400: (
                e.InvalidRunId.code,
                e.InvalidJson.code,
                e.InvalidEvent.code,
                e.InvalidAnswer.code,
                e.InvalidActor.code,
            ),
            409: (e.EventNotExpected.code, e.GateNotOpen.code, e.GateAlreadyAnswered.code),
        },
        reads_body=True,
    ),
    ("post", "/runs/{run_id}/gates/{key}"): Op(
        202,
        "GateReceipt",
        {
            **RUN_ID_ERRORS,
            400: (
                e.InvalidRunId.code,
                e.InvalidJson.code,
                e.InvalidAnswer.code,
                e.InvalidActor.code,
            ),
            409: (e.GateNotOpen.code, e.GateAlreadyAnswered.code, e.DedupeKeyReused.code),
        },
        reads_body=True,
    ),
    ("get", "/gates"): Op(200, "GateList", {400: (e.InvalidQuery.code,)}),
    ("post", "/runs/{run_id}/retry"): Op(
        202,
        "RetryAccepted",
        {**RUN_ID_ERRORS, 400: ACTION_ERRORS, 409: (e.RunNotRetryable.code,)},
        reads_body=True,
    ),
    # A retries_exceeded run resumes through the retry path, which can lose a race.
    ("post", "/runs/{run_id}/resume"): Op(
        202,
        "ResumeAccepted",
        {
            **RUN_ID_ERRORS,
            400: ACTION_ERRORS,
            409: (e.RunNotResumable.code, e.RunNotRetryable.code),
        },
        reads_body=True,
    ),
    ("post", "/runs/{run_id}/cancel"): Op(
        202,
        "CancelAccepted",
        {**RUN_ID_ERRORS, 400: ACTION_ERRORS, 409: (e.RunNotCancelable.code,)},
        reads_body=True,
    ),
    ("post", "/runs/{run_id}/fork"): Op(
        202,
        "ForkAccepted",
        {
            **RUN_ID_ERRORS,
            400: (*ACTION_ERRORS, e.InvalidFork.code),
            409: (e.RunNotForkable.code,),
        },
        reads_body=True,
    ),
    ("post", "/runs/batch"): Op(
        200,
        "BatchResult",
        {400: (e.InvalidJson.code, e.InvalidActor.code, e.InvalidReason.code, e.InvalidBatch.code)},
        reads_body=True,
    ),
    ("get", "/runs/{run_id}/export"): Op(200, "RunExport", RUN_ID_ERRORS),
    ("get", "/runs/{run_id}/bundle.zip"): Op(200, None, RUN_ID_ERRORS, media=("application/zip",)),
    ("get", "/artifacts"): Op(
        200, "ArtifactList", {400: (e.InvalidQuery.code, e.InvalidRunId.code)}
    ),
    ("get", "/artifacts/{artifact_id}"): Op(200, "ArtifactDocument", ARTIFACT_ID_ERRORS),
    ("get", "/artifacts/{artifact_id}/download"): Op(200, None, ARTIFACT_ID_ERRORS),
    ("get", "/runs/{run_id}/pages/{page}.png"): Op(
        200,
        None,
        {
            400: (e.InvalidRunId.code, e.InvalidQuery.code),
            404: (e.ArtifactNotFound.code, e.PageNotFound.code),
        },
    ),
    ("get", "/search"): Op(200, "SearchHits", {400: (e.InvalidQuery.code, e.InvalidRunId.code)}),
    ("get", "/ops"): Op(200, "Fleet"),
    ("get", "/metrics"): Op(200, None, media=("text/plain",)),
}

# The exact stored bytes of an artifact, under the content type it was stored with.
DOWNLOAD_TYPES = (
    "application/json",
    "text/plain",
    "text/markdown",
    "application/pdf",
    "text/html",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
)

# Query and path parameters, by name: the grammar and vocabularies the routes enforce.
PARAMETERS: dict[str, Schema] = {
    "run_id": ID,
    "intent_id": ID,
    "artifact_id": ID,
    "status": {"type": "string", "enum": list(RUN_STATUSES)},
    "kind": KIND,
    "type": {"type": "string", "enum": list(ALL_ARTIFACT_TYPES)},
    "key": {"type": "string", "pattern": GATE_KEY.pattern, "description": "a gate's key"},
}
# Where one path's parameter of a shared name takes another vocabulary.
PAGE_IMAGE = OPERATIONS[("get", "/runs/{run_id}/pages/{page}.png")]
PATH_PARAMETERS: dict[str, dict[str, Schema]] = {
    "/runs/{run_id}/pages/{page}.png": {"page": {"type": "integer", "minimum": 1}},
    "/gates": {"status": {"type": "string", "enum": list(GATE_STATUSES), "default": "open"}},
}


def build_openapi(app: FastAPI, *, token_required: bool) -> JsonObject:
    generated = get_openapi(
        title=app.title, version=app.version, description=DESCRIPTION, routes=app.routes
    )
    # A copy: parts of it may be the routes' own `openapi_extra`, shared by every app.
    doc = copy.deepcopy(generated)
    schemas: Generated = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(copy.deepcopy(SCHEMAS))
    if token_required:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            op = OPERATIONS.get((method, path))
            if op is None:
                raise LookupError(f"{method.upper()} {path} is missing from api/openapi.py")
            _hoist_body(operation, schemas)
            _describe_parameters(operation, PATH_PARAMETERS.get(path, {}))
            secured = token_required and path != "/healthz"
            operation["responses"] = _responses(op, method, secured=secured)
            if secured:
                operation["security"] = [{"bearer": []}]
            elif token_required:
                operation["security"] = []
    _document_doc_run_request(schemas)
    return doc


def install_openapi(app: FastAPI, *, token_required: bool) -> None:
    """Serve `build_openapi` at /openapi.json, built once on first use."""

    def openapi() -> JsonObject:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, token_required=token_required)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _responses(op: Op, method: str, *, secured: bool) -> Schema:
    responses: Schema = {str(op.status): _success(op)}
    statuses = dict(op.errors)
    # Every route refuses a query parameter no database can store (U+0000).
    statuses[400] = tuple(dict.fromkeys([*statuses.get(400, ()), e.InvalidQuery.code]))
    if secured:
        statuses[401] = (e.Unauthorized.code,)
    if op.reads_body:
        statuses[413] = (e.PayloadTooLarge.code,)
    if method == "post":
        statuses[415] = (e.UnsupportedMediaType.code,)
    statuses[421] = (e.HostNotAllowed.code,)
    for status in sorted(statuses):
        responses[str(status)] = _error(status, statuses[status])
    return responses


def _success(op: Op) -> Schema:
    if op.body is None:
        types = op.media or (("image/png",) if op is PAGE_IMAGE else DOWNLOAD_TYPES)
        content: Schema = {media: {"schema": {}} for media in types}
        return {"description": "the stored bytes, as an attachment", "content": content}
    return {
        "description": "accepted" if op.status == 202 else "success",
        "content": {"application/json": {"schema": ref(op.body)}},
    }


_STATUS_TEXT = {
    400: "the request is malformed",
    401: "a token is configured and the bearer token is missing or wrong",
    404: "nothing has that id",
    409: "the request conflicts with the run's state or an earlier request",
    413: f"the body exceeds {MAX_BODY_BYTES} bytes (an upload: JEJAKEKAL_MAX_UPLOAD_MB)",
    415: "the body is not `application/json` (nor, for `POST /runs`, a document type)",
    421: "the Host header is not in the allow-list",
}


def _error(status: int, codes: tuple[str, ...]) -> Schema:
    listed = ", ".join(f"`{code}`" for code in codes)
    return {
        "description": f"{_STATUS_TEXT[status]}: {listed}",
        "content": {"application/json": {"schema": ref("Error")}},
    }


def _hoist_body(operation: Generated, schemas: Generated) -> None:
    """Move a body's pydantic schema (and its `$defs`) into components."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None or "$ref" in content["schema"]:
        return
    schema = content["schema"]
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = _rewrite_refs(definition)
    schemas[schema["title"]] = _rewrite_refs(schema)
    content["schema"] = ref(schema["title"])


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (v.replace("#/$defs/", COMPONENTS) if k == "$ref" else _rewrite_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def _describe_parameters(operation: Generated, own: dict[str, Schema]) -> None:
    for parameter in operation.get("parameters", []):
        schema = parameter["schema"]
        # An absent query parameter is how a client says "none": null is not a value.
        branches = [s for s in schema.pop("anyOf", []) if s.get("type") != "null"]
        if branches:
            schema.update(branches[0])
        override = own.get(parameter["name"]) or PARAMETERS.get(parameter["name"])
        if override is not None:
            schema.pop("$ref", None)
            schema.update(override)


def _document_doc_run_request(schemas: Generated) -> None:
    """`POST /runs` takes exactly one of `source` and `cmd`; pydantic says so in code only."""
    body = schemas["DocRunRequest"]
    body["oneOf"] = [
        {"required": ["source"], "properties": {"source": STR}},
        {"required": ["cmd"], "properties": {"cmd": STR}},
    ]
    _string_branch(body["properties"]["cmd"])["pattern"] = "^/doc "
    workflow_id = _string_branch(body["properties"]["workflowId"])
    workflow_id.update(pattern=ID_PATTERN.pattern, maxLength=MAX_DOC_RUN_ID)


def _string_branch(schema: Generated) -> Generated:
    branch: Generated = next(s for s in schema.get("anyOf", [schema]) if s.get("type") == "string")
    return branch
