"""The `script` recipe's `inputs` contract (README, "Planners and recipes").

    {"commands": ["pytest -q", ["python3", "transform.py"]],
     "files": {"transform.py": "...", "data/in.csv": "..."},
     "gates": [{"key": "go", "question": "Run the transform?"}]}

Each command is one execution node: a string runs under `/bin/sh -c`, a list is the
argv itself. `files` are written into every node's workspace before it runs. Checked
when the run starts (a typed 400 naming the field, nothing written), with the caps of
the recipe; the planner reads the same model, so what started is what runs. `gates` are
asked after DecideST, before the commands run (`domain.gates`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from jejakekal.domain.errors import InvalidRunRequest
from jejakekal.domain.gates import parse_gates
from jejakekal.domain.jsontypes import JsonObject
from jejakekal.domain.ports import NodeDraft
from jejakekal.domain.recipes import RecipeSpec

MAX_COMMAND_CHARS = 8192
# A relative path of plain names: no `..`, no leading `/`, no empty parts.
_FILE_NAME = re.compile(r"^(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")

Command = Annotated[str, StringConstraints(min_length=1, max_length=MAX_COMMAND_CHARS)]
Arg = Annotated[str, StringConstraints(min_length=1, max_length=MAX_COMMAND_CHARS)]


class ScriptInputs(BaseModel):
    """The keys the script planner reads; other keys of `inputs` are the intent's own."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)
    commands: list[Command | Annotated[list[Arg], Field(min_length=1)]] = Field(min_length=1)
    files: dict[str, str] = Field(default_factory=dict)
    # Checked by `gates.parse_gates` (README, "Human gates").
    gates: list[Any] = Field(default_factory=list)


def script_inputs(inputs: JsonObject, spec: RecipeSpec) -> ScriptInputs:
    """`inputs` as the script recipe takes them, or `InvalidRunRequest` naming the field."""
    try:
        script = ScriptInputs.model_validate(inputs)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][:2])
        raise InvalidRunRequest(f"inputs.{where}: {first['msg']}", field=f"inputs.{where}") from exc
    _check(script, spec)
    parse_gates(script.gates, "inputs.gates")
    return script


def _check(script: ScriptInputs, spec: RecipeSpec) -> None:
    def refuse(field: str, message: str) -> InvalidRunRequest:
        return InvalidRunRequest(f"inputs.{field}: {message}", field=f"inputs.{field}")

    if len(script.commands) > spec.max_commands:
        raise refuse(
            "commands", f"{len(script.commands)} commands, the recipe allows {spec.max_commands}"
        )
    for i, command in enumerate(script.commands):
        if isinstance(command, str) and not command.strip():
            raise refuse(f"commands.{i}", "must not be blank")
    if len(script.files) > spec.max_files:
        raise refuse("files", f"{len(script.files)} files, the recipe allows {spec.max_files}")
    for name, text in script.files.items():
        if not _FILE_NAME.match(name) or len(name) > 255:
            raise refuse(
                f"files.{name}",
                "a file name must be a relative path of letters, digits, '.', '_', '-' and '/', "
                "without '..'",
            )
        if any(other.startswith(name + "/") for other in script.files):
            raise refuse(f"files.{name}", "is a file and also a folder of another file")
        size = len(text.encode())
        if size > spec.max_file_bytes:
            raise refuse(f"files.{name}", f"{size} bytes, the recipe allows {spec.max_file_bytes}")


def argv_of(command: str | list[str]) -> list[str]:
    return ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)


def script_nodes(script: ScriptInputs) -> list[NodeDraft]:
    return [
        NodeDraft(argv=argv_of(command), purpose=f"command {i}")
        for i, command in enumerate(script.commands, start=1)
    ]
