"""Names for JSON values whose shape is not ours to fix (a user's inputs, a schema fragment).

Shapes we own have their own types (dataclasses, TypedDicts, pydantic models); these are
for values passed through without reading into them.
"""

from __future__ import annotations

JsonObject = dict[str, object]
