"""Durable names. Renaming any of these orphans in-flight runs: never do it."""

WF_RUN_INTENT = "run_intent"
WF_EXECUTE_NODE = "execute_node"
WF_DOC_INGEST = "doc_ingest"

INTENT_QUEUE = "intentQ"
SANDBOX_QUEUE = "sandboxQ"
# Document runs start directly where a worker runs; an API-only process enqueues them here.
DOC_QUEUE = "docQ"

INPUT_TOPIC = "input"

STEP_COMPILE = "CompileST"
STEP_APPLY_PATCH = "ApplyPatchST"
STEP_DECIDE = "DecideST"
STEP_EXECUTE = "ExecuteST"
INTENT_STEPS = (STEP_COMPILE, STEP_APPLY_PATCH, STEP_DECIDE, STEP_EXECUTE)

# Engine-level operations of run_intent around the four steps (they show in the timeline).
OP_AWAIT_INPUT = "AwaitInput"
OP_INPUT_RECEIVED = "InputReceived"
OP_EXECUTE_FAIL = "ExecuteST.fail"
OP_GET_RESULT = "DBOS.getResult"  # DBOS's own name for awaiting a child workflow

STEP_PREPARE = "prepare"
OP_SLEEP = "DBOS.sleep"  # DBOS's own name for a durable sleep
STEP_SIDE_EFFECT = "side-effect"
STEP_FINALIZE = "finalize"
DOC_STEPS = (STEP_PREPARE, OP_SLEEP, STEP_SIDE_EFFECT, STEP_FINALIZE)

# The four document artifacts, in the order a run produces (and lists) them.
ARTIFACT_TYPES = ("raw", "docir", "chunk-index", "memo")
