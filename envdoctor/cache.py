"""A small on-disk cache of what envdoctor extracted from installed files, keyed by content.

One JSON file per (distribution, version, RECORD hash). Writes go through a temporary file and
``os.replace``, so two checks running at once never see half a file; a file that does not parse
is ignored and rewritten. Deleting the folder is always safe. Location: ``$ENVDOCTOR_CACHE_DIR``,
else the platform's user cache folder (``$XDG_CACHE_HOME/envdoctor`` or ``~/.cache/envdoctor`` on
Linux, ``~/Library/Caches/envdoctor`` on macOS, ``%LOCALAPPDATA%\\envdoctor\\Cache`` on Windows).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

FORMAT = 2
"""Bump when what is stored changes: older entries are then simply not found."""


def default_dir() -> Path:
    env = os.environ.get("ENVDOCTOR_CACHE_DIR")
    if env:
        return Path(env)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "envdoctor"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "envdoctor" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache") / "envdoctor"


class Cache:
    """Get and put JSON objects by key. A disabled cache (``directory=None``) stores nothing."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory / f"v{FORMAT}" if directory is not None else None

    def _path(self, key: str) -> Path | None:
        if self.directory is None:
            return None
        safe = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in key)
        return self.directory / f"{safe}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("key") == key else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value``; failures (read-only home, full disk) are ignored: a cache is optional."""
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({**value, "key": key}, fh, separators=(",", ":"))
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
