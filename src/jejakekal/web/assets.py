"""The UI's static files: Starlette's `StaticFiles` with a cache policy on top.

Pages name each file by a versioned URL, `/static/<name>?v=<digest of its bytes>`: a
changed file gets a new URL, so a response to the current URL may be kept a year and
never asked for again (`immutable`). Any other URL of a file (no `v`, a stale one) is
still served, but must be revalidated (`no-cache`; `StaticFiles` answers a matching
`If-None-Match` with 304). Compression is the app's `GZipMiddleware`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

VERSIONED = "public, max-age=31536000, immutable"
UNVERSIONED = "no-cache"


class VersionedStaticFiles(StaticFiles):
    """The files of one folder, each with a digest of the bytes it had at start."""

    def __init__(self, folder: Path) -> None:
        super().__init__(directory=folder)
        self.digests = {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            for p in folder.iterdir()
            if p.is_file()
        }

    def url(self, name: str) -> str:
        """The versioned URL of a file: a template naming a missing file fails at once."""
        return f"/static/{name}?v={self.digests[name]}"

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [""])[0]
        current = self.digests.get(Path(full_path).name)
        response.headers["Cache-Control"] = VERSIONED if asked == current else UNVERSIONED
        return response
