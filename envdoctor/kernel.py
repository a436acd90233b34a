"""Notebooks: where envdoctor runs (a Jupyter, Colab or Kaggle kernel, the `!` shell of one, anything else),
and what a live kernel has loaded that is no longer what is installed (``module-stale``).

In the kernel's own process (``check()``, ``assert_compatible()``, ``%envdoctor``) every loaded top-level
module from a ``sys.path`` folder is compared with the distribution installed there now: its ``__version__``
(read from the module's namespace, never through a module ``__getattr__``) against the installed dist-info's
version, when that dist-info was written after this process started; and every file this process maps that
was replaced on disk (``/proc/self/maps``, "(deleted)"). From a `!` shell the kernel is found among the
ancestors of this process, and only the files it maps can be seen (compiled modules): pure-Python modules
cannot be seen from outside, which the report says. Standard library only; no module is imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from envdoctor.report import Finding, Severity

STALE = "module-stale"
PARTIAL = "kernel-modules-partial"

_KERNEL_MARKERS = ("ipykernel", "colab_kernel_launcher", "kaggle", "jupyter-kernel")


@dataclass(frozen=True)
class Place:
    """Where this process runs. ``kind``: "colab", "kaggle", "jupyter", or "" (not in a notebook).
    ``kernel_pid``: the kernel among this process's ancestors (a `!` shell), or None; ``inside``: this
    process is a kernel itself."""

    kind: str = ""
    kernel_pid: int | None = None
    inside: bool = False

    @property
    def notebook(self) -> bool:
        return bool(self.kind)

    def restart(self) -> str:
        """How to restart the kernel here, in the place's own words."""
        return RESTART.get(self.kind, "restart the Python process")


RESTART = {
    "colab": "restart the runtime (Runtime > Restart session)",
    "kaggle": "restart the kernel (Run > Restart & clear cell outputs)",
    "jupyter": "restart the kernel (Kernel > Restart)",
}


def detect(env: Mapping[str, str] | None = None, pid: int | None = None) -> Place:
    """This process's place: the kernel among its ancestors (``pid``'s, default this process) and the
    variables Colab (COLAB_RELEASE_TAG), Kaggle (KAGGLE_KERNEL_RUN_TYPE) and Jupyter (JPY_PARENT_PID, set by
    jupyter_client for a kernel and inherited by its `!` shells) set."""
    env = os.environ if env is None else env
    inside = pid is None and "ipykernel" in sys.modules
    kernel = None if inside else _kernel_ancestor(os.getpid() if pid is None else pid)
    if env.get("COLAB_RELEASE_TAG") or "google.colab" in sys.modules:
        kind = "colab"
    elif env.get("KAGGLE_KERNEL_RUN_TYPE"):
        kind = "kaggle"
    elif inside or kernel is not None or env.get("JPY_PARENT_PID"):
        kind = "jupyter"
    else:
        kind = ""
    return Place(kind, kernel, inside)


def _kernel_ancestor(pid: int, depth: int = 8) -> int | None:
    """The nearest ancestor of ``pid`` whose command line is a Python kernel's (Linux /proc; None elsewhere)."""
    for _ in range(depth):
        parent = _ppid(pid)
        if parent is None or parent <= 1:
            return None
        try:
            with open(f"/proc/{parent}/cmdline", "rb") as fh:
                argv = fh.read().decode(errors="replace").split("\0")
        except OSError:
            return None
        if any(m in arg for arg in argv[:4] for m in _KERNEL_MARKERS):
            return parent
        pid = parent
    return None


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
        return int(stat.rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


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


@dataclass(frozen=True)
class _Dist:
    name: str
    version: str
    folder: str


class _Installed:
    """The dist-info folders of some ``sys.path`` folders, by project name and by top-level module."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.dists: dict[str, _Dist] = {}
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
                self.dists.setdefault(_canonical(name), _Dist(name, version, os.path.join(root, entry)))
        self._tops: dict[str, _Dist] | None = None

    def root_of(self, path: str) -> str | None:
        return next((r for r in self.roots if path.startswith(r)), None)

    def owner(self, top: str) -> _Dist | None:
        """The distribution that provides top-level module ``top``: by name, else by its top_level.txt."""
        dist = self.dists.get(_canonical(top))
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


def _canonical(name: str) -> str:
    return name.replace("-", "_").replace(".", "_").lower()


def stale_here(paths: Sequence[str] | None = None, modules: Mapping[str, object] | None = None) -> list[Finding]:
    """``module-stale`` findings for this process: loaded modules whose installed distribution changed since
    they were imported (see the module's docstring)."""
    modules = sys.modules if modules is None else modules
    installed = _Installed(sys.path if paths is None else paths)
    started = _start_time()
    found: dict[str, _Stale] = {}
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
                found[name] = _Stale(name, str(loaded or "?"), None, f"{path} no longer exists")
            continue
        if not isinstance(loaded, str) or _same(loaded, dist.version) or not _newer(dist.folder, started):
            continue
        found[dist.name] = _Stale(
            dist.name, loaded, dist.version, f"{name}.__version__ == {loaded!r}; installed: {dist.folder}"
        )
    for path in _replaced("self"):
        where = _top_of(path, installed)
        dist = installed.owner(where[0]) if where else None
        if where and dist is not None and dist.name not in found:
            found[dist.name] = _Stale(
                dist.name, None, dist.version, f"this process maps the old, deleted copy of {where[1]}"
            )
    if not found:
        return []
    place = detect(pid=None) if paths is None else Place()  # the words of the advice (only when there is one)
    findings = [_finding(s.dist, s.loaded, s.installed, place, s.evidence) for s in found.values()]
    return sorted(findings, key=lambda f: f.packages)


@dataclass(frozen=True)
class _Stale:
    dist: str
    loaded: str | None
    installed: str | None
    evidence: str


def stale_in_kernel(pid: int, paths: Sequence[str], place: Place) -> list[Finding]:
    """What can be seen from outside of kernel ``pid`` (a `!` shell's parent): its mapped files under
    ``paths`` that were replaced on disk; plus one note saying that pure-Python modules cannot be seen, or
    that nothing can (its /proc/PID/maps cannot be read)."""
    installed = _Installed(paths)
    try:
        replaced = _replaced(str(pid), strict=True)
    except OSError as exc:
        return [_partial(pid, f"its mapped files cannot be read (/proc/{pid}/maps: {exc.strerror or exc})")]
    found: dict[str, Finding] = {}
    for path in replaced:
        where = _top_of(path, installed)
        dist = installed.owner(where[0]) if where else None
        if where and dist is not None and dist.name not in found:
            found[dist.name] = _finding(
                dist.name, None, dist.version, place, f"kernel process {pid} maps the old, deleted copy of {where[1]}"
            )
    note = _partial(
        pid,
        "only the compiled modules it maps can be seen from a shell; run `envdoctor.check()` (or `%envdoctor`) "
        "in a cell to compare every module it has imported",
    )
    return [*sorted(found.values(), key=lambda f: f.packages), note]


def _partial(pid: int, why: str) -> Finding:
    return Finding(
        id=PARTIAL,
        severity=Severity.INFO,
        title=f"the notebook kernel (process {pid}) was checked from a shell: {why}",
        check="kernel",
    )


def _finding(dist: str, loaded: str | None, installed: str | None, place: Place, evidence: str) -> Finding:
    where = "this kernel" if place.notebook else "this process"
    if loaded and installed:
        title = f"{dist} {loaded} is loaded in {where}, {installed} is installed"
    elif installed:
        title = f"{dist} was replaced on disk after {where} loaded it ({installed} is installed now)"
    else:
        title = f"{dist} {loaded} is loaded in {where}, and no longer installed"
    restart = place.restart()
    return Finding(
        id=STALE,
        severity=Severity.ERROR,
        title=f"{title}: {restart.split(' (')[0]} before training",
        detail=f"{where.capitalize()} keeps running the code it imported before the install; the next import of "
        "another part of it mixes both versions.",
        packages=(_canonical(dist).replace("_", "-"),),
        evidence=(evidence,),
        advice=(restart[0].upper() + restart[1:],),
        check="kernel",
    )


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


def _replaced(pid: str, *, strict: bool = False) -> list[str]:
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


def _top_of(path: str, installed: _Installed) -> tuple[str, str] | None:
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


def restart_advice(place: Place, moved: Iterable[str], seen: Iterable[str] = ()) -> str:
    """The one line ``pin --apply`` prints in a notebook after pip changed ``moved``: ``seen`` are the
    distributions the kernel is known to hold old code of."""
    moved, seen = sorted(moved), sorted(seen)
    if not moved:
        return ""
    head = place.restart()
    head = head[0].upper() + head[1:]
    if seen:
        return f"{head} before training: the kernel runs the old code of {', '.join(seen)} until it restarts"
    how = (
        "from a `!` shell only the compiled modules it maps can be seen, and none of these is among them"
        if place.kernel_pid is not None
        else "envdoctor cannot see the kernel's modules from here"
    )
    return (
        f"{head} before training if the kernel imported any of {', '.join(moved)}: it keeps the old code "
        f"until it restarts ({how})"
    )
