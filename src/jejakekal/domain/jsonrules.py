"""What any JSON the product accepts must satisfy, whichever door it comes in by.

Both databases and the engine's serializer must be able to hold every accepted value:
PostgreSQL text cannot hold U+0000 and UTF-8 cannot encode a lone surrogate; JSON has
no infinity; and deep nesting exhausts the recursion of the decoders and serializers.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeVar

# The top-level value of a body is level 1; only arrays and objects open a level.
MAX_JSON_DEPTH = 64

T = TypeVar("T")

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why a database could not store `value` as text, or None."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain U+0000 (NUL)"
    return f"must not contain the unpaired surrogate U+{ord(found.group()):04X}"


def check_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_json_tree(value: T, *, max_depth: int) -> T:
    """Refuse (ValueError naming the place) what is not plain, storable JSON.

    Iterative, so a value nested deeper than the limit cannot exhaust the stack here.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict | list) and depth > max_depth:
            raise ValueError(f"nested deeper than {max_depth} levels at {path or 'the top'}")
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise ValueError(f"key {key!r} at {path or 'the top'} is not a string")
                where = f"{path}.{_printable(key)}" if path else _printable(key)
                problem = text_problem(key)
                if problem is not None:
                    raise ValueError(f"key {where}: {problem}")
                stack.append((child, where, depth + 1))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(node))
        elif isinstance(node, str):
            problem = text_problem(node)
            if problem is not None:
                raise ValueError(f"{path or 'value'}: {problem}")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise ValueError(f"{path or 'value'}: {node} is not a JSON number")
        elif node is not None and not isinstance(node, int):
            raise ValueError(f"{path or 'value'}: a {type(node).__name__} is not JSON")
    return value


def _printable(key: str) -> str:
    """A key as it can be shown in a message (U+0000 and surrogates escaped, long cut)."""
    shown = _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", key)
    return shown if len(shown) <= 64 else shown[:61] + "..."
