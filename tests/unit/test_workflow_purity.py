"""Workflow functions are control flow only: no clock, randomness or I/O (CONTRIBUTING.md)."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

import jejakekal.workflows as workflows_package

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


def _parsed(name: str) -> ast.Module:
    return ast.parse((Path(workflows_package.__file__).parent / f"{name}.py").read_text())


# Every module of the package that defines a workflow (a test below keeps this list true).
WORKFLOW_MODULES = sorted(
    m.name
    for m in pkgutil.iter_modules(workflows_package.__path__)
    if _workflow_functions(_parsed(m.name))
)
EXPECTED = {
    "intent": {"run_intent", "execute_node"},
    "doc_ingest": {"doc_ingest"},
    "crash_drill": {"crash_drill"},
    "bench": {"bench_bare", "bench_bare_node", "bench_bare_doc"},
}


def test_the_purity_checks_see_every_workflow() -> None:
    found = {m: {f.name for f in _workflow_functions(_parsed(m))} for m in WORKFLOW_MODULES}
    assert found == EXPECTED


def _is_dbos_call(call: ast.Call) -> bool:
    """DBOS's own calls (`DBOS.sleep`, `DBOS.recv`, `DBOS.run_step`) are durable operations."""
    f = call.func
    return isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "DBOS"


@pytest.mark.parametrize("module", WORKFLOW_MODULES)
def test_workflow_module_imports_no_clock_randomness_or_io(module: str) -> None:
    imported = set()
    for node in ast.walk(_parsed(module)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported.isdisjoint(FORBIDDEN_MODULES), imported & FORBIDDEN_MODULES


def _module_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    """Every function a workflow module defines: its workflows and the helpers they call
    (the workflow `run_intent` runs its nodes through `_execute`, in workflow context)."""
    return [node for node in tree.body if isinstance(node, ast.FunctionDef)]


@pytest.mark.parametrize("module", WORKFLOW_MODULES)
def test_workflow_functions_call_no_clock_randomness_or_io(module: str) -> None:
    offenders = []
    for fn in _module_functions(_parsed(module)):
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and not _is_dbos_call(node):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name in FORBIDDEN_CALLS:
                    offenders.append(f"{fn.name}:{node.lineno} calls {name}")
    assert offenders == []


@pytest.mark.parametrize("module", WORKFLOW_MODULES)
def test_every_workflow_and_step_has_an_explicit_name(module: str) -> None:
    tree = _parsed(module)
    for fn in _workflow_functions(tree):
        deco = fn.decorator_list[0]
        assert isinstance(deco, ast.Call)
        assert any(k.arg == "name" for k in deco.keywords), fn.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "run_step":
            options = node.args[0]
            assert isinstance(options, ast.Dict)
            keys = [k.value for k in options.keys if isinstance(k, ast.Constant)]
            assert "name" in keys, ast.unparse(node)
