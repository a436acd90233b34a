"""A hostile world for envdoctor: fabricated venvs whose .pth files start processes, hang, or hold pipes;
and the checks a user would make afterwards (exit code, one line, no traceback, nothing left running,
nothing written)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.fakes import ROOT

BOUND = 90.0
"""No hostile test waits longer than this for anything: a regression fails instead of hanging."""


def pth(site: Path, code: str, name: str = "hostile.pth") -> None:
    """A .pth file in ``site`` whose one line runs ``code`` at every start of the venv's Python."""
    (site / name).write_text(f"import sys; exec({code!r})\n")


def envdoctor(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = BOUND
) -> subprocess.CompletedProcess[str]:
    """``python -m envdoctor ARGS`` to completion (at most ``timeout`` seconds)."""
    return subprocess.run(
        [sys.executable, "-m", "envdoctor", *args],
        capture_output=True,
        text=True,
        env=environment(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def start(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "envdoctor", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(env),
        cwd=cwd,
    )


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.update(extra or {})
    return env


def read_fifo_line(path: Path, timeout: float = BOUND) -> str:
    """The first line a writer puts in FIFO ``path``; fails after ``timeout`` seconds without one."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    data = b""
    try:
        while b"\n" not in data:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise AssertionError(f"nothing was written to {path} within {timeout:g} s")
            data += os.read(fd, 4096)
    finally:
        os.close(fd)
    return data.decode().splitlines()[0]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, killed but not yet reaped by its parent, does not run)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def group_alive(pgid: int) -> bool:
    """True while any process of group ``pgid`` runs."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


@contextlib.contextmanager
def reaper(pids: list[int | subprocess.Popen[str]]) -> Iterator[None]:
    """Kill whatever ``pids`` holds at the end (process ids, or Popen objects whose pipes are then closed
    and which are reaped), so a failing test leaves nothing running and no open pipe for the next test."""
    try:
        yield
    finally:
        for entry in pids:
            proc = entry if isinstance(entry, subprocess.Popen) else None
            with contextlib.suppress(OSError):
                os.kill(entry.pid if isinstance(entry, subprocess.Popen) else entry, signal.SIGKILL)
            if proc is not None:
                for stream in (proc.stdin, proc.stdout, proc.stderr):
                    if stream is not None:
                        stream.close()
                proc.wait()


def one_line_error(stderr: str) -> str:
    """The single ``envdoctor: error:`` line of ``stderr``; fails on a traceback or more lines."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("envdoctor: error: "), stderr
    return lines[0]


def snapshot(*roots: Path) -> dict[str, tuple[int, int, float]]:
    """Every path under ``roots`` with its mode, size and modification time."""
    seen: dict[str, tuple[int, int, float]] = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in [*dirs, *files]:
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):
                    st = os.lstat(path)
                    seen[path] = (st.st_mode, st.st_size, st.st_mtime)
    return seen


def leftovers(tmp: Path, before: Sequence[str] = ()) -> list[str]:
    """envdoctor's temporary folders in ``tmp`` that were not there ``before``."""
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("envdoctor-") and p.name not in before)


_TGKILL = {"x86_64": 234, "aarch64": 131}
"""Linux syscall numbers of tgkill (a signal to one thread of another process), per machine."""


def blocked_signals(pid: int, tid: int) -> set[signal.Signals]:
    """The signals thread ``tid`` of process ``pid`` blocks (Linux: SigBlk in /proc)."""
    status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)
    return {s for s in signal.Signals if s < 65 and mask & (1 << (s - 1))}


def signal_a_thread(pid: int, tid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to one thread of another process, as the kernel may when a signal is sent to the process."""
    import ctypes

    number = _TGKILL.get(os.uname().machine)
    if number is None or not sys.platform.startswith("linux"):
        raise NotImplementedError("tgkill is only wired for Linux on x86_64 and aarch64")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, pid, tid, int(sig)) != 0:
        raise OSError(ctypes.get_errno(), f"tgkill({pid}, {tid}, {sig.name}) failed")
