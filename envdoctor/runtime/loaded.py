"""What this process has loaded that an install replaced since it started: the detection behind ``module-stale``
(envdoctor.runtime.kernel turns it into findings). Standard library only and light, so that the warm
``assert_compatible()`` (envdoctor.verdict) can run it without loading the report classes."""

from __future__ import annotations

import os
import sys
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence


def _start_time(pid: str = "self") -> float | None:
    """When process ``pid`` started (seconds since the epoch), from /proc; None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            ticks = int(fh.read().decode(errors="replace").rpartition(")")[2].split()[19])
        with open("/proc/stat", "rb") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith(b"btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


Dist = namedtuple("Dist", "name version folder")
"""An installed distribution: its name and version as its dist-info folder spells them, and that folder."""


Stale = namedtuple("Stale", "dist loaded installed evidence")
"""A loaded distribution that is not what is installed now: the version loaded and the one installed (None
when unknown), and how that shows (evidence)."""


class Installed:
    """The dist-info folders of some ``sys.path`` folders, by project name and by top-level module."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.dists: dict[str, Dist] = {}
        self.roots: list[str] = []
        for root in paths:
            try:
                names = os.listdir(root or ".")
            except OSError:
                continue
            infos = [entry for entry in names if entry.endswith(".dist-info")]
            if not infos:  # the script's or the notebook's own folder: nothing there is installed
                continue
            self.roots.append(os.path.join(os.path.abspath(root or "."), ""))
            for entry in infos:
                name, _, version = entry[: -len(".dist-info")].rpartition("-")
                self.dists.setdefault(canonical(name), Dist(name, version, os.path.join(root, entry)))
        self._tops: dict[str, Dist] | None = None

    def root_of(self, path: str) -> str | None:
        return next((r for r in self.roots if path.startswith(r)), None)

    def owner(self, top: str) -> Dist | None:
        """The distribution that provides top-level module ``top``: by name, else by its top_level.txt."""
        dist = self.dists.get(canonical(top))
        if dist is not None:
            return dist
        if self._tops is None:
            self._tops = {}
            for d in self.dists.values():
                try:
                    with open(os.path.join(d.folder, "top_level.txt"), encoding="utf-8") as fh:
                        for line in fh:
                            self._tops.setdefault(line.strip(), d)
                except (OSError, UnicodeDecodeError):
                    continue
        return self._tops.get(top)


def canonical(name: str) -> str:
    return name.replace("-", "_").replace(".", "_").lower()


def stale_modules(paths: Sequence[str] | None = None, modules: Mapping[str, object] | None = None) -> dict[str, Stale]:
    """This process's loaded top-level modules (``modules``, default sys.modules) from a folder of ``paths``
    (default sys.path) whose installed distribution changed since this process started, by distribution
    (envdoctor.runtime.kernel's docstring says how that is seen)."""
    modules = sys.modules if modules is None else modules
    installed = Installed(sys.path if paths is None else paths)
    started = _start_time()
    found: dict[str, Stale] = {}
    for name, module in list(modules.items()):
        if "." in name or module is None or name in ("__main__", "__mp_main__"):
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        path = namespace.get("__file__")
        if not isinstance(path, str) or path.startswith("<") or installed.root_of(os.path.abspath(path)) is None:
            continue
        loaded = namespace.get("__version__")
        dist = installed.owner(name)
        if dist is None:
            if not os.path.exists(path):
                found[name] = Stale(name, str(loaded or "?"), None, f"{path} no longer exists")
            continue
        if not isinstance(loaded, str) or _same(loaded, dist.version) or not _newer(dist.folder, started):
            continue
        found[dist.name] = Stale(
            dist.name, loaded, dist.version, f"{name}.__version__ == {loaded!r}; installed: {dist.folder}"
        )
    for path in replaced("self"):
        where = top_of(path, installed)
        dist = installed.owner(where[0]) if where else None
        if where and dist is not None and dist.name not in found:
            found[dist.name] = Stale(
                dist.name, None, dist.version, f"this process maps the old, deleted copy of {where[1]}"
            )
    return found


def _same(loaded: str, installed: str) -> bool:
    loaded = loaded.strip()
    return loaded == installed or loaded.partition("+")[0] == installed.partition("+")[0]


def _newer(folder: str, started: float | None) -> bool:
    """Whether dist-info ``folder`` was written after this process started (always true when that time is
    unknown): an older one was there at import time, so a version mismatch is the package's own quirk."""
    if started is None:
        return True
    try:
        st = os.stat(folder)
    except OSError:
        return False
    return max(st.st_ctime, st.st_mtime) > started


def replaced(pid: str, *, strict: bool = False) -> list[str]:
    """The files process ``pid`` maps that were deleted or replaced since ("(deleted)" in /proc/PID/maps)."""
    try:
        with open(f"/proc/{pid}/maps", "rb") as fh:
            raw = fh.read()
    except OSError:
        if strict:
            raise
        return []
    return _deleted(raw.decode(errors="surrogateescape")) if b" (deleted)" in raw else []


def _deleted(maps: str) -> list[str]:
    out: list[str] = []
    for line in maps.splitlines():
        if line.endswith(" (deleted)"):
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].startswith("/"):
                path = fields[5][: -len(" (deleted)")]
                if path not in out:
                    out.append(path)
    return out


def top_of(path: str, installed: Installed) -> tuple[str, str] | None:
    """The top-level module a file under one of ``installed``'s folders belongs to, and the file's path as it
    is installed now: ``yaml`` for ``.../site-packages/yaml/_yaml.cpython-311-x86_64-linux-gnu.so``. pip
    moves a package it replaces aside first (``~aml/`` for ``yaml/``, then deletes it): such a path is the
    package's old copy."""
    root = installed.root_of(path)
    if root is None:
        return None
    first, _, rest = path[len(root) :].partition("/")
    if first.startswith("~"):
        tail = first.lstrip("~")
        try:
            names = os.listdir(root)
        except OSError:
            return None
        first = next((n for n in names if len(n) == len(first) and n.endswith(tail) and n[0] != "~"), "")
    top = first.split(".", 1)[0]
    return (top, os.path.join(root, first, rest) if rest else os.path.join(root, first)) if top else None
