"""A small on-disk cache of what envdoctor extracted from installed files, keyed by content.

One JSON file per (distribution, version, RECORD hash). Writes go through a temporary file and
``os.replace``, so two checks running at once never see half a file; a file that does not parse,
is not a regular file, is larger than ``ENTRY_LIMIT`` or is not of the shape its reader expects
(``get(key, shape)``) is ignored and rewritten. Deleting the folder is always safe. Location: ``$ENVDOCTOR_CACHE_DIR``,
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
from typing import Any, Union

from envdoctor.installed import MiB, Unread, read_bytes

FORMAT = 1
"""Bump when what is stored changes: older entries are then simply not found."""
ENTRY_LIMIT = 64 * MiB

Shape = Union[type, None, list[Any], tuple[Any, ...], dict[Any, Any], "OneOf"]
"""What a stored value must look like: ``str``/``int``/``bool`` (that type), ``None`` (null), ``[S]`` (a list
of S), ``(S1, S2, ...)`` (a list of exactly those), ``{str: S}`` (an object of S), ``{"k": S, ...}`` (an
object with at least these keys), ``OneOf(S1, S2)`` (either)."""


class OneOf:
    def __init__(self, *shapes: Shape) -> None:
        self.shapes = shapes


def conforms(value: object, shape: Shape) -> bool:
    """Whether the JSON ``value`` has ``shape``."""
    if shape is None:
        return value is None
    if isinstance(shape, OneOf):
        return any(conforms(value, s) for s in shape.shapes)
    if isinstance(shape, type):
        return isinstance(value, shape) and (shape is not int or not isinstance(value, bool))
    if isinstance(shape, list):
        return isinstance(value, list) and all(conforms(v, shape[0]) for v in value)
    if isinstance(shape, tuple):
        return isinstance(value, list) and len(value) == len(shape) and all(map(conforms, value, shape))
    if not isinstance(value, dict):
        return False
    if list(shape) == [str]:
        return all(isinstance(k, str) and conforms(v, shape[str]) for k, v in value.items())
    return all(k in value and conforms(value[k], s) for k, s in shape.items())


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

    def get(self, key: str, shape: Shape = dict) -> dict[str, Any] | None:
        """The entry stored under ``key`` when it is there and has ``shape``; else None (the caller computes
        it again, and its ``put`` replaces the bad entry)."""
        path = self._path(key)
        if path is None:
            return None
        try:
            data = json.loads(read_bytes(str(path), ENTRY_LIMIT))
        except (Unread, ValueError, RecursionError):
            return None
        ok = isinstance(data, dict) and data.get("key") == key and conforms(data, shape)
        return data if ok else None

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
