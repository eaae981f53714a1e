"""`jejakekal smoke ...`: one real call through a configured adapter (README, "Smoke commands").

Each prints one JSON verdict line on stdout and, when it failed, one `error:` line on
stderr and exit code 1. Neither touches the database.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Annotated, TypeVar

import httpx
import typer

from jejakekal.config import Settings, load_settings
from jejakekal.domain.canonical import canonical_json
from jejakekal.domain.compiler import sha256_text
from jejakekal.domain.errors import JejakekalError
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.ports import DecisionRequest, ExecNode, ExecResult, PlanRequest, Sandbox

smoke_app = typer.Typer(
    help="One real call through a configured adapter; a one-line JSON verdict, exit 1 on failure.",
    no_args_is_help=True,
)

SMOKE_GOAL = "print the current date"
_T = TypeVar("_T")


@smoke_app.command("oc")
def oc(
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for each answer.")
    ] = 60.0,
) -> None:
    """Ask the OpenAI-compatible endpoint (JEJAKEKAL_OPENAI_*) for a plan, then a decision.

    The goal is a fixed, tiny one. The verdict names the endpoint, the model, the plan's
    size, the decision and each call's milliseconds; never the API key.
    """
    verdict = openai_verdict(load_settings(), timeout)
    _finish(verdict, f"smoke oc failed at the {verdict.get('failed')}: {verdict.get('error')}")


@smoke_app.command("sbx")
def sbx(
    require_isolated: Annotated[
        bool,
        typer.Option(
            "--require-isolated",
            help="Fail too when the node ran without bubblewrap or could reach loopback.",
        ),
    ] = False,
) -> None:
    """Run one node through the configured sandbox (JEJAKEKAL_SANDBOX); print its isolation.

    The verdict says what the node actually had: bwrap or subprocess, what bounded its
    processes, the uid it ran as, and whether it could connect to this host's loopback.
    """
    from jejakekal.bootstrap import make_sandbox

    verdict = sandbox_verdict(make_sandbox(load_settings()), require_isolated=require_isolated)
    _finish(verdict, f"smoke sbx failed: {verdict.get('error')}")


def openai_verdict(settings: Settings, timeout: float) -> JsonObject:
    from jejakekal.adapters.decider import OpenAIDecider
    from jejakekal.adapters.planner_openai import OpenAIPlanner

    endpoint = (settings.openai_base_url, settings.openai_model, settings.openai_api_key)
    verdict: JsonObject = {"ok": False, "endpoint": endpoint[0], "model": endpoint[1]}
    ms: dict[str, float] = {}
    request = PlanRequest(
        run_id="smoke", goal=SMOKE_GOAL, inputs={}, recipe_name="openai", iteration=1
    )
    try:
        reply = _timed(ms, "plan", lambda: OpenAIPlanner(*endpoint, timeout).plan(request))
    except (JejakekalError, httpx.InvalidURL) as exc:
        return {**verdict, "failed": "plan", "error": _message(exc), "ms": ms}
    verdict["plan"] = {"nodes": len(reply.nodes), "done": reply.done}
    argvs = [node.argv for node in reply.nodes]
    decision_request = DecisionRequest(
        run_id="smoke",
        goal=SMOKE_GOAL,
        plan_sha256=sha256_text(canonical_json(argvs)),
        nodes=[f"exec-{n}" for n in range(1, len(argvs) + 1)],
    )
    decider = OpenAIDecider(*endpoint, timeout)
    try:
        envelope = _timed(ms, "decision", lambda: decider.decide(decision_request))
    except (JejakekalError, httpx.InvalidURL) as exc:
        return {**verdict, "failed": "decision", "error": _message(exc), "ms": ms}
    return {**verdict, "ok": True, "decision": envelope.response["action"], "ms": ms}


def sandbox_verdict(sandbox: Sandbox, *, require_isolated: bool = False) -> JsonObject:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        node = ExecNode(node_id="smoke-1", argv=_probe_argv(port), env={}, timeout_sec=20.0)
        result = sandbox.execute(node)
    lines = result.stdout.splitlines()
    reachable = {"net=reachable": True, "net=unreachable": False}.get(lines[-1] if lines else "")
    verdict: JsonObject = {
        "ok": result.exit_code == 0 and lines[:1] == ["ok"],
        "sandbox": sandbox.name,
        "isolation": result.isolation,
        "process_bound": result.process_bound,
        "exit_code": result.exit_code,
        "fault": result.fault,
        "uid": lines[1] if len(lines) > 1 else None,
        # None: the node had no bash to try with.
        "network_reachable": reachable,
        "ms": round(result.duration_ms, 1),
    }
    if not verdict["ok"]:
        return {**verdict, "error": _node_failure(result)}
    if require_isolated and (result.isolation != "bwrap" or reachable is not False):
        return {**verdict, "ok": False, "error": _not_isolated(result.isolation, reachable)}
    return verdict


def _probe_argv(port: int) -> list[str]:
    # bash's /dev/tcp needs no other tool; the host's listener makes a reachable loopback
    # answer, so only a separate network namespace refuses the connection.
    probe = f"exec 3<>/dev/tcp/127.0.0.1/{port}"
    script = (
        "echo ok; id -u; "
        "if command -v bash >/dev/null 2>&1; then "
        f"if bash -c '{probe}' 2>/dev/null; then echo net=reachable; "
        "else echo net=unreachable; fi; "
        "else echo net=untested; fi"
    )
    return ["/bin/sh", "-c", script]


def _node_failure(result: ExecResult) -> str:
    tail = " | ".join(result.stderr.strip().splitlines()[-3:])
    cause = f"sandbox fault {result.fault}" if result.fault else f"exit {result.exit_code}"
    return f"the node ended with {cause}" + (f": {tail}" if tail else "")


def _not_isolated(isolation: str, reachable: bool | None) -> str:
    if isolation != "bwrap":
        return f"the node ran under {isolation}, not bubblewrap"
    return "the node could reach loopback" if reachable else "the network probe did not run"


def _timed(ms: dict[str, float], name: str, call: Callable[[], _T]) -> _T:
    started = time.perf_counter()
    try:
        return call()
    finally:
        ms[name] = round((time.perf_counter() - started) * 1000, 1)


def _message(exc: Exception) -> str:
    text = exc.message if isinstance(exc, JejakekalError) else str(exc)
    return " ".join(text.split())


def _finish(verdict: JsonObject, error: str) -> None:
    typer.echo(json.dumps(verdict))
    if not verdict["ok"]:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1)
