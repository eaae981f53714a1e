"""Canonical JSON: the one spelling of a value that hashes and bundle files are made of.

Request hashes, plan hashes and bundle files are stored or compared byte for byte, so
every writer goes through `canonical_json`: sorted keys, UTF-8 as is (no `\\u` escapes),
NaN and infinities refused (they are not JSON). Compact by default, for hashing;
`indent=2` for files a reader opens.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any, *, indent: int | None = None) -> str:
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(
        value,
        sort_keys=True,
        indent=indent,
        separators=separators,
        ensure_ascii=False,
        allow_nan=False,
    )
