"""Durable names. Renaming any of these orphans in-flight runs: never do it."""

WF_RUN_INTENT = "run_intent"
WF_EXECUTE_NODE = "execute_node"

INTENT_QUEUE = "intentQ"
SANDBOX_QUEUE = "sandboxQ"

INPUT_TOPIC = "input"

STEP_COMPILE = "CompileST"
STEP_APPLY_PATCH = "ApplyPatchST"
STEP_DECIDE = "DecideST"
STEP_EXECUTE = "ExecuteST"
INTENT_STEPS = (STEP_COMPILE, STEP_APPLY_PATCH, STEP_DECIDE, STEP_EXECUTE)

# Engine-level operations of run_intent around the four steps (they show in the timeline).
OP_AWAIT_INPUT = "AwaitInput"
OP_INPUT_RECEIVED = "InputReceived"
OP_EXECUTE_END = "ExecuteST.end"
OP_EXECUTE_FAIL = "ExecuteST.fail"
OP_GET_RESULT = "DBOS.getResult"  # DBOS's own name for awaiting a child workflow
