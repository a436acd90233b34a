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
from envdoctor.runtime.loaded import Installed, canonical, replaced, stale_modules, top_of

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


def stale_here(paths: Sequence[str] | None = None, modules: Mapping[str, object] | None = None) -> list[Finding]:
    """``module-stale`` findings for this process: loaded modules whose installed distribution changed since
    they were imported (see the module's docstring; envdoctor.runtime.loaded finds them)."""
    found = stale_modules(paths, modules)
    if not found:
        return []
    place = detect(pid=None) if paths is None else Place()  # the words of the advice (only when there is one)
    findings = [_finding(s.dist, s.loaded, s.installed, place, s.evidence) for s in found.values()]
    return sorted(findings, key=lambda f: f.packages)


def stale_in_kernel(pid: int, paths: Sequence[str], place: Place) -> list[Finding]:
    """What can be seen from outside of kernel ``pid`` (a `!` shell's parent): its mapped files under
    ``paths`` that were replaced on disk; plus one note saying that pure-Python modules cannot be seen, or
    that nothing can (its /proc/PID/maps cannot be read)."""
    installed = Installed(paths)
    try:
        gone = replaced(str(pid), strict=True)
    except OSError as exc:
        return [_partial(pid, f"its mapped files cannot be read (/proc/{pid}/maps: {exc.strerror or exc})")]
    found: dict[str, Finding] = {}
    for path in gone:
        where = top_of(path, installed)
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
        packages=(canonical(dist).replace("_", "-"),),
        evidence=(evidence,),
        advice=(restart[0].upper() + restart[1:],),
        check="kernel",
    )


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
