"""Workflow functions are control flow only: no clock, randomness or I/O [policy:wf-purity]."""

from __future__ import annotations

import ast
from pathlib import Path

import jejakekal.workflows.intent as intent_module

FORBIDDEN_MODULES = {
    "time",
    "datetime",
    "random",
    "secrets",
    "uuid",
    "os",
    "subprocess",
    "socket",
    "httpx",
    "requests",
    "sqlalchemy",
    "pathlib",
    "shutil",
    "tempfile",
}
FORBIDDEN_CALLS = {"open", "print", "input", "now", "utcnow", "sleep", "urandom", "uuid4"}


def _workflow_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if isinstance(target, ast.Attribute) and target.attr == "workflow":
                    found.append(node)
    return found


def _source() -> ast.Module:
    return ast.parse(Path(intent_module.__file__).read_text())


def test_workflow_module_imports_no_clock_randomness_or_io() -> None:
    imported = set()
    for node in ast.walk(_source()):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported.isdisjoint(FORBIDDEN_MODULES), imported & FORBIDDEN_MODULES


def test_workflow_functions_call_no_clock_randomness_or_io() -> None:
    workflows = _workflow_functions(_source())
    assert {f.name for f in workflows} == {"run_intent", "execute_node"}
    offenders = []
    for fn in workflows:
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name in FORBIDDEN_CALLS:
                    offenders.append(f"{fn.name}:{node.lineno} calls {name}")
    assert offenders == []


def test_every_workflow_and_step_has_an_explicit_name() -> None:
    for fn in _workflow_functions(_source()):
        deco = fn.decorator_list[0]
        assert isinstance(deco, ast.Call)
        assert any(k.arg == "name" for k in deco.keywords), fn.name
    for node in ast.walk(_source()):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "run_step":
            options = node.args[0]
            assert isinstance(options, ast.Dict)
            keys = [k.value for k in options.keys if isinstance(k, ast.Constant)]
            assert "name" in keys, ast.unparse(node)
