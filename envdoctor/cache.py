"""A small on-disk cache of what envdoctor extracted from installed files, keyed by content.

One JSON file per (distribution, version, RECORD hash). Writes go through a temporary file and
``os.replace``, so two checks running at once never see half a file; a file that does not parse,
is not a regular file, is larger than ``ENTRY_LIMIT`` or is not of the shape its reader expects
(``get(key, shape)``) is ignored and rewritten. Deleting the folder is always safe. Location: ``$ENVDOCTOR_CACHE_DIR``,
else the platform's user cache folder (``$XDG_CACHE_HOME/envdoctor`` or ``~/.cache/envdoctor`` on
Linux, ``~/Library/Caches/envdoctor`` on macOS, ``%LOCALAPPDATA%\\envdoctor\\Cache`` on Windows). An
empty or relative ``$HOME`` is not used: the home of the password database is, else a folder of the
process, removed when it ends. The folder is kept under ``$ENVDOCTOR_CACHE_MAX_MB`` (default 1024):
after a run that wrote to it, the least recently used entries are removed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys

TYPE_CHECKING = False  # not typing's: envdoctor.replay reads the cache folder without loading typing
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, TypeAlias

    Shape: TypeAlias = "type | list[Any] | tuple[Any, ...] | dict[Any, Any] | OneOf | None"
    """What a stored value must look like: ``str``/``int``/``bool`` (that type), ``None`` (null), ``[S]`` (a
    list of S), ``(S1, S2, ...)`` (a list of exactly those), ``{str: S}`` (an object of S), ``{"k": S, ...}``
    (an object with at least these keys), ``OneOf(S1, S2)`` (either). For annotations only."""

FORMAT = 3
"""Bump when what is stored changes: older entries are then simply not found."""
ENTRY_LIMIT = 64 * 1024 * 1024


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
    from pathlib import Path

    return Path(default_folder())


def default_folder() -> str:
    """The cache folder (see the module's docstring), as a string: the warm paths read it without pathlib."""
    env = os.environ.get("ENVDOCTOR_CACHE_DIR")
    if env:
        return env
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
        return os.path.join(base, "envdoctor", "Cache")
    home = _home()
    if sys.platform == "darwin" and home is not None:
        return os.path.join(home, "Library", "Caches", "envdoctor")
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "envdoctor")
    return os.path.join(home, ".cache", "envdoctor") if home is not None else _private_dir()


def _home() -> str | None:
    """$HOME when it is an absolute path other than /, else the user's home in the password database
    (``HOME=`` must not put the cache in /.cache), else None."""
    for candidate in (os.environ.get("HOME"), _passwd_home()):
        if candidate and os.path.isabs(candidate) and os.path.realpath(candidate) != "/":
            return candidate
    return None


def _passwd_home() -> str | None:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError, OSError):
        return None


@functools.cache
def _private_dir() -> str:
    """No home at all: a folder of this process, removed when it ends."""
    import atexit
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="envdoctor-cache-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


MAX_BYTES_DEFAULT = 1024 * 1024 * 1024
"""The cache's size bound unless ``$ENVDOCTOR_CACHE_MAX_MB`` says otherwise (1 GiB: about 200 environment
changes of a large training stack)."""


def max_bytes() -> int:
    try:
        return max(0, int(os.environ["ENVDOCTOR_CACHE_MAX_MB"])) * 1024 * 1024
    except (KeyError, ValueError):
        return MAX_BYTES_DEFAULT


def trim(root: Path, limit: int) -> None:
    """Remove the least recently used entries of the cache folder ``root`` (stored JSON files, unpacked
    wheels) until what is left takes at most three quarters of ``limit`` bytes; nothing when it is within
    ``limit``. An entry in use by another envdoctor at that moment is simply read again or recomputed."""
    from pathlib import Path

    entries: list[tuple[float, int, Path]] = []
    for folder in (root / f"v{FORMAT}", root / "unpacked"):
        try:
            children = list(os.scandir(folder))
        except OSError:
            continue
        for child in children:
            try:
                entries.append((child.stat().st_mtime, _size(child), Path(child.path)))
            except OSError:
                continue
    total = sum(size for _, size, _ in entries)
    if total <= limit:
        return
    for _, size, path in sorted(entries):
        if total <= limit * 3 // 4:
            break
        if path.is_dir() and not path.is_symlink():
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        total -= size


def _size(entry: os.DirEntry[str]) -> int:
    if not entry.is_dir(follow_symlinks=False):
        return entry.stat(follow_symlinks=False).st_size
    total = 0
    for folder, _dirs, files in os.walk(entry.path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


class Cache:
    """Get and put JSON objects by key. A disabled cache (``directory=None``) stores nothing."""

    def __init__(self, directory: Path | None) -> None:
        self.root = directory
        self.directory = directory / f"v{FORMAT}" if directory is not None else None
        self.wrote = False

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
        from envdoctor.source.installed import Unread, read_bytes  # not for envdoctor.replay, which only reads

        try:
            data = json.loads(read_bytes(str(path), ENTRY_LIMIT))
        except (Unread, ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or data.get("key") != key or not conforms(data, shape):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: trimmed last
        return data

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value``; failures (read-only home, full disk) are ignored: a cache is optional."""
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            import tempfile  # loaded only when something is stored: a warm run stores nothing

            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({**value, "key": key}, fh, separators=(",", ":"))
            os.replace(tmp, path)
            self.wrote = True
        except OSError:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)

    def trim(self) -> None:
        """Keep the whole cache folder within its bound (see trim); only after this cache wrote something."""
        if self.root is not None and self.wrote:
            trim(self.root, max_bytes())
