"""``check --distributed``: the ranks of one node that would build the same report build it once.

Ranks started by one launcher process (torchrun's agent, ``accelerate launch``, slurmstepd) on one node, for one
launch (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, the restart), with the same command line, working directory,
interpreter and environment (the launcher's per-rank variables aside) read the same installed environment: the
static checks and the import probes find the same thing on each. The first rank to take the node's lock builds
the report; the others wait for it (their distributed probes meanwhile import torch and join) and read it.

A training step (``--train``, ``--precision``, ``--accelerate-config``) runs on the rank's own device, so it is
shared only when the target's torch build can use no GPU (``torch/version.py``: no CUDA, HIP or XPU, read by
probes/torch_build.py without importing torch; or no torch at all): every rank would train on the same CPU.
Otherwise each rank builds its own report, as without sharing.

A rank that finds the builder gone without a result (it failed or was killed) builds its own report: sharing
changes how long the ranks take, never what they report. The files live in a folder of this user's in the
temporary directory (mode 0700) and the rank that built the report removes them when its check ends.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from envdoctor import runner
from envdoctor.report import Report

PER_TASK_VARS = frozenset(("SLURM_PROCID", "SLURM_LOCALID", "SLURM_TASK_PID", "SLURM_GTIDS", "PMI_RANK"))
"""Per-task variables of launchers other than torchrun (Slurm's own names for RANK and LOCAL_RANK)."""
SHELL_VARS = frozenset(("SHLVL", "_", "OLDPWD"))
"""What the shell that started a rank sets for itself (a launch script's last command gets another SHLVL)."""
PROBE_TIMEOUT = 30.0

Build = Callable[[dict[str, str]], Report]


def key(
    *,
    python: str,
    launch: Mapping[str, Any],
    per_rank: Callable[[str], bool],
    device_bound: bool,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The name of the report this rank would build, the same on every rank of its node that would build the
    same one; None when it must build its own (a training step on a torch build that may use a GPU, or a
    system without the means: no ``fcntl``). ``per_rank(name)``: an environment variable that differs between
    ranks by design (left out); ``launch``: what names this launch."""
    env = os.environ if environ is None else environ
    if _fcntl() is None:
        return None
    if device_bound and not cpu_only(python, env):
        return None
    parent = os.getppid()
    same = {
        "host": socket.gethostname(),
        "parent": [parent, _started(parent)],
        "launch": dict(launch),
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "python": python,
        "env": sorted((k, v) for k, v in env.items() if not per_rank(k) and k not in PER_TASK_VARS | SHELL_VARS),
    }
    return hashlib.sha256(json.dumps(same, sort_keys=True, default=str).encode("utf-8", "surrogateescape")).hexdigest()


def cpu_only(python: str, environ: Mapping[str, str]) -> bool:
    """True when the target's torch build can use no GPU (or there is no torch): probes/torch_build.py."""
    try:
        result = runner.run_probe(python, "torch_build", {}, timeout=PROBE_TIMEOUT, env=runner.child_environment())
    except Exception:  # the interpreter cannot start: the rank's own check says so
        return False
    payload = result.payload or {}
    if payload.get("error"):
        return False
    return not payload.get("found") or payload.get("gpu") is False


def _started(pid: int) -> str:
    """The process's start time (Linux: /proc/PID/stat field 22), so a reused pid names another launch."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def _fcntl() -> Any:
    try:
        import fcntl
    except ImportError:  # Windows
        return None
    return fcntl


def folder() -> Path | None:
    """This user's folder for shared reports (created 0700; None when it is not ours alone)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = Path(tempfile.gettempdir()) / f"envdoctor-node-{uid}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError:
        return None
    if not path.is_dir() or path.is_symlink() or info.st_uid != uid or info.st_mode & 0o077:
        return None
    return path


@dataclasses.dataclass
class Shared:
    """``build`` wrapped: one rank of the node builds, the others read (see the module's doc)."""

    build: Build
    name: str | None
    rank: int
    on_wait: Callable[[str], None] | None = None
    """Told once when another rank of the node is checking and this one waits for it (a progress line)."""
    checked_by: int | None = None
    """The rank whose check this rank's report is (its own, or the node's builder's)."""
    built_here: bool = False
    where: Path | None = None

    def __call__(self, step_env: dict[str, str]) -> Report:
        self.checked_by = self.rank
        where = folder() if self.name is not None else None
        fcntl = _fcntl()
        if where is None or fcntl is None or self.name is None:
            return self.build(step_env)
        self.where = where
        lock, result, claimed = (where / f"{self.name}.{ext}" for ext in ("lock", "json", "claimed"))
        with _locked(fcntl, lock, self.on_wait):  # blocks while the builder builds
            read = _read(result)
            if read is not None:
                self.checked_by, report = read
                return report
            if not claimed.exists():
                claimed.touch(mode=0o600)
                self.built_here = True
                report = self.build(step_env)
                _write(result, report, self.rank)
                return report
        return self.build(step_env)  # the builder failed or was killed: build our own, without the lock

    def clean(self) -> None:
        """Remove this report's files (the rank that built it, once its check has ended)."""
        if not self.built_here or self.where is None or self.name is None:
            return
        for ext in ("json", "claimed", "lock"):
            (self.where / f"{self.name}.{ext}").unlink(missing_ok=True)


@contextmanager
def _locked(fcntl: Any, path: Path, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait("another rank of this node is checking the same environment: waiting for its report")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def to_shared(report: Report) -> dict[str, Any]:
    """The report as the other ranks of the node read it: the JSON form and what it leaves out."""
    return {
        "report": report.to_dict(),
        "paths": list(report.summary.paths),
        "torch_builds": [list(b) for b in report.summary.torch_builds],
    }


def from_shared(data: Mapping[str, Any]) -> Report:
    """Inverse of ``to_shared`` (``from_shared(to_shared(r)) == r`` for a rank's report)."""
    report = Report.from_dict(data["report"])
    summary = dataclasses.replace(
        report.summary,
        paths=tuple(str(p) for p in data["paths"]),
        torch_builds=tuple((str(n), str(v)) for n, v in data["torch_builds"]),
    )
    return dataclasses.replace(report, summary=summary)


def _write(path: Path, report: Report, rank: int) -> None:
    tmp = path.with_suffix(".partial")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    builder = {"rank": rank, "pid": os.getpid(), "started": _started(os.getpid())}
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({**to_shared(report), "builder": builder}, fh)
    os.replace(tmp, path)


def _read(path: Path) -> tuple[int, Report] | None:
    """(the rank that built it, the report), or None when there is none, or when its builder no longer runs (a
    check killed before it could remove its files: what it saw may have changed since)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        builder = data["builder"]
        if not _running(int(builder["pid"]), str(builder["started"])):
            return None
        return int(builder["rank"]), from_shared(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _running(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: not the builder
        return False
    return _started(pid) == started
