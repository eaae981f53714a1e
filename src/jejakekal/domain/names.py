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
# The agent loop (release 3): after each wave ObserveST sums up its nodes for the
# planner; AnswerST stores the planner's final answer. A later iteration's steps carry
# its number: CompileST#2, DecideST#2, ExecuteST#2, ObserveST#2 (`iterated`).
STEP_OBSERVE = "ObserveST"
STEP_ANSWER = "AnswerST"
OP_LOOP_EXHAUSTED = "LoopExhausted"


def iterated(step: str, iteration: int) -> str:
    """`step` as the agent loop's `iteration` names it: the first keeps the plain name."""
    return step if iteration == 1 else f"{step}#{iteration}"


def base_step(step_id: str) -> str:
    """`ExecuteST#2` -> `ExecuteST`."""
    return step_id.split("#", 1)[0]


def failed_op(step_id: str) -> str:
    """The operation that records a wave's failure: ExecuteST.fail, ExecuteST#2.fail."""
    return f"{step_id}.fail"


# Engine-level operations of run_intent around the four steps (they show in the timeline).
OP_AWAIT_INPUT = "AwaitInput"
OP_INPUT_RECEIVED = "InputReceived"
OP_EXECUTE_FAIL = "ExecuteST.fail"  # failed_op(STEP_EXECUTE): a later wave's is ExecuteST#2.fail
OP_GET_RESULT = "DBOS.getResult"  # DBOS's own name for awaiting a child workflow

STEP_PREPARE = "prepare"
OP_SLEEP = "DBOS.sleep"  # DBOS's own name for a durable sleep
STEP_SIDE_EFFECT = "side-effect"
STEP_FINALIZE = "finalize"
# An uploaded PDF, HTML or DOCX file adds these between the sleep and the side effect,
# and one `ocr:<first>-<last>` step per batch of pages recognised.
STEP_SURVEY = "survey"
DOC_STEPS = (STEP_PREPARE, OP_SLEEP, STEP_SIDE_EFFECT, STEP_FINALIZE)

# The four document artifacts, in the order a run produces (and lists) them.
ARTIFACT_TYPES = ("raw", "docir", "chunk-index", "memo")
# What an intent run's nodes leave (README, "Outputs"): per node attempt a `node-result`
# (exit code, duration, isolation, the cuts), its `stdout` and `stderr`, an `out-file`
# per file under out/; and the agent loop's final `answer`.
NODE_ARTIFACT_TYPES = ("node-result", "stdout", "stderr", "out-file", "answer")
ALL_ARTIFACT_TYPES = ARTIFACT_TYPES + NODE_ARTIFACT_TYPES
