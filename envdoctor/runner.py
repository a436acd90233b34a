"""The only module that starts processes.

``run_probe`` runs probes/<name>.py in the target interpreter, through probes/_launch.py, with a
JSON request and a time limit. ``run_command`` runs any other command (``python -m pip ...``) the
same guarded way. Neither lets a hang, a segfault, a flood of output or garbage become a traceback
of envdoctor: each ending is an ``Outcome`` in the returned value. On every way out, an interrupt
(KeyboardInterrupt, the CLI's SIGTERM) included, the child's process group is killed, and so is any
process that left the group but still holds the child's stdout or stderr (found by that pipe).
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import select
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from envdoctor.errors import TargetError, check_timeout
from envdoctor.resources import data_dir

OUTPUT_TAIL_BYTES = 64 * 1024
"""How much of a child's stdout / stderr is kept (the end of it: where tracebacks are)."""

MAX_RESULT_BYTES = 512 * 1024 * 1024
"""A probe's JSON result larger than this is not read."""

TOO_OLD_EXIT = 97
"""probes/_launch.py exits with this when the interpreter is older than the probes support."""


class Outcome(enum.Enum):
    OK = "ok"
    FAILED = "failed"  # non-zero exit, or the probe reported an exception
    TIMEOUT = "timeout"  # process group killed after the limit
    CRASHED = "crashed"  # killed by a signal (a segfault in a compiled extension, say)
    BAD_OUTPUT = "bad-output"  # ended normally but wrote no usable result
    TOO_OLD = "too-old"  # the interpreter is older than the probes support


@dataclass(frozen=True)
class CommandResult:
    """How a child process ended, with the tails of what it printed."""

    outcome: Outcome
    returncode: int | None
    stdout: str
    stderr: str
    duration: float
    stdout_bytes: int = 0
    stderr_bytes: int = 0

    @property
    def signal_name(self) -> str:
        if self.returncode is None or self.returncode >= 0:
            return ""
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


@dataclass(frozen=True)
class ProbeResult:
    """A probe's ending and, when it is OK, its JSON payload."""

    outcome: Outcome
    payload: Mapping[str, Any] | None
    message: str
    command: CommandResult

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


STOP_SIGNALS = frozenset(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
"""The signals that stop envdoctor (KeyboardInterrupt, the CLI's Terminated)."""


def start_deaf(thread: threading.Thread) -> None:
    """Start ``thread`` with the stop signals blocked in it.

    The kernel hands a signal sent to the process to any thread that does not block it. CPython runs
    the Python handler in the main thread, but a signal taken by another thread does not wake the main
    thread from a blocking wait (``proc.wait()``, a lock): Ctrl-C then waited for a hung probe's whole
    timeout. A helper thread that never needs a signal is started deaf to them (a new thread inherits the
    mask of the thread that starts it), so they reach a thread that acts on them. Threads that start
    processes must not be deaf: their children would inherit the blocked signals.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no per-thread masks
        thread.start()
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class _Tail:
    """Drains a pipe on a thread and keeps only its last ``limit`` bytes.

    The thread reads the raw file descriptor (no buffered object whose lock it would hold) and also
    waits on a wake-up pipe, so ``stop()`` ends it at once even while a process that escaped the
    group (``setsid``) still holds the other end open.
    """

    def __init__(self, stream: IO[bytes], limit: int, on_line: Callable[[str], None] | None = None) -> None:
        self._stream = stream
        self.fd = stream.fileno()
        self._limit = limit
        self._buf = bytearray()
        self.total = 0
        self._on_line = on_line
        self._line = bytearray()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._drain, daemon=True, name="envdoctor-tail")
        start_deaf(self._thread)

    def _add(self, chunk: bytes) -> None:
        if self._on_line is not None:
            self._lines(chunk)
        self.total += len(chunk)
        self._buf += chunk
        if len(self._buf) > 2 * self._limit:
            del self._buf[: len(self._buf) - self._limit]

    def _drain(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            try:
                while True:
                    ready = {key.fd for key, _ in sel.select()}
                    if self._wake_r in ready:
                        self._take_what_is_there()
                        return
                    chunk = os.read(self.fd, 65536)
                    if not chunk:
                        return
                    self._add(chunk)
            except OSError:
                return

    def _lines(self, chunk: bytes) -> None:
        """Each complete line to ``on_line`` as it arrives (a line longer than MAX_RESULT_BYTES is dropped)."""
        assert self._on_line is not None
        self._line += chunk
        *lines, rest = self._line.split(b"\n")
        self._line = bytearray(rest if len(rest) <= MAX_RESULT_BYTES else b"")
        for line in lines:
            self._on_line(line.decode("utf-8", errors="replace"))

    def _take_what_is_there(self) -> None:
        """After stop(): what is already in the pipe, without waiting for more (at most a few limits)."""
        os.set_blocking(self.fd, False)
        taken = 0
        while taken < 4 * self._limit:
            try:
                chunk = os.read(self.fd, 65536)
            except (BlockingIOError, OSError):
                return
            if not chunk:
                return
            taken += len(chunk)
            self._add(chunk)

    def hung_up(self) -> bool:
        """True when no process holds the pipe's write end any more."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        return any(ev & select.POLLHUP for _, ev in poller.poll(0))

    def stop(self) -> None:
        """Take what is in the pipe and stop reading; closes everything this reader opened."""
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self._thread.join()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError, ValueError):
            self._stream.close()

    def text(self) -> str:
        data = bytes(self._buf[-self._limit :])
        prefix = f"[... {self.total - len(data)} earlier bytes not kept ...]\n" if self.total > len(data) else ""
        return prefix + data.decode("utf-8", errors="replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        proc.kill()


def kill_groups(pgids: Sequence[int]) -> None:
    """SIGKILL these process groups (started by run_command, reported through ``on_start``); the
    run_command calls waiting on them then end as usual, cleaning up after themselves."""
    for pgid in pgids:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)


def _pipe_holders(fds: Sequence[int]) -> set[int]:
    """Other processes that hold one of these pipes open (Linux: /proc/PID/fd). A child that left its
    process group (``setsid``) but kept the output pipe is found this way; only processes of this user
    are visible, which is every process envdoctor could have started."""
    try:
        names = {f"pipe:[{os.fstat(fd).st_ino}]" for fd in fds}
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return set()
    me, found = os.getpid(), set()
    for pid in pids:
        if pid == me:
            continue
        try:
            links = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in names for fd in links):
                found.add(pid)
        except OSError:
            continue
    return found


def _kill_and_wait(pids: set[int]) -> None:
    """SIGKILL each of ``pids`` and wait (a few seconds at most) until each has ended."""
    for pid in pids:
        try:
            handle = os.pidfd_open(pid)
        except (OSError, AttributeError):
            handle = -1
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        if handle >= 0:
            with contextlib.suppress(OSError):
                select.select([handle], [], [], 5.0)  # readable once the process has ended
            os.close(handle)


def _group_members(pgid: int) -> set[int]:
    """The processes of group ``pgid`` that have not ended (Linux: /proc/PID/stat; zombies have ended)."""
    found = set()
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] not in (b"Z", b"X"):
                found.add(int(name))
    return found


def _wait_group_gone(pgid: int) -> None:
    """After the group's SIGKILL, wait (a few seconds at most) until each of its processes has ended: a
    grandchild dies a moment after the signal, and envdoctor must not exit while it still runs."""
    try:
        os.killpg(pgid, 0)
    except OSError:
        return  # nothing is left in the group (the usual case: no /proc scan)
    _kill_and_wait(_group_members(pgid))


def _end(proc: subprocess.Popen[bytes], tails: Sequence[_Tail]) -> None:
    """Every way out of run_command: kill the process group and wait until it has ended, then any process
    that escaped it but still holds our pipes, then stop reading. Nothing started here outlives this call."""
    _kill_group(proc)
    with contextlib.suppress(OSError):
        proc.wait()
    _wait_group_gone(proc.pid)
    if not all(t.hung_up() for t in tails):
        _kill_and_wait(_pipe_holders([t.fd for t in tails]))
    for t in tails:
        t.stop()
    read = {t.fd for t in tails}
    for stream in (proc.stdout, proc.stderr):  # a pipe no reader took (interrupted before it started)
        if stream is not None and not stream.closed and stream.fileno() not in read:
            stream.close()


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a child gets: ours, writing no bytecode, with UTF-8 I/O."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # nothing on disk changes unless the user asked
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("PYTHONSTARTUP", None)
    if extra:
        env.update(extra)
    return env


def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    on_start: Callable[[int], None] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> CommandResult:
    """Run ``argv`` in its own process group, kill the group after ``timeout`` seconds.

    ``on_start`` gets the process group id as soon as the child runs (a caller that runs several
    commands on threads kills them all with it when it is interrupted); ``on_line`` gets each line of
    its stdout as it arrives, on the reading thread (a child that streams its answers). Raises TargetError when the
    program cannot be started at all (missing, not executable, not a program); every other ending is
    a CommandResult.
    """
    timeout = check_timeout(timeout)
    start = time.monotonic()
    proc = _start(argv, env, cwd)
    assert proc.stdout is not None and proc.stderr is not None
    # A timer kills the group at the limit while we block in wait(): Popen.wait(timeout=...) polls
    # with sleeps of up to 50 ms, which would add that much to every probe.
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        _kill_group(proc)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.name = "envdoctor-timer"
    tails: list[_Tail] = []
    try:  # from the start: an interrupt while the readers or the timer start must not leave the child running
        if on_start is not None:
            on_start(proc.pid)
        tails.append(_Tail(proc.stdout, OUTPUT_TAIL_BYTES, on_line))
        tails.append(_Tail(proc.stderr, OUTPUT_TAIL_BYTES))
        start_deaf(timer)
        proc.wait()
    finally:  # also on KeyboardInterrupt / SIGTERM: the group and its escapees never outlive us
        timer.cancel()
        _end(proc, tails)
    out, err = tails
    timed_out = expired.is_set()
    rc = proc.returncode
    return CommandResult(
        outcome=_outcome(rc, timed_out=timed_out),
        returncode=None if timed_out else rc,
        stdout=out.text(),
        stderr=err.text(),
        duration=time.monotonic() - start,
        stdout_bytes=out.total,
        stderr_bytes=err.total,
    )


def _start(argv: Sequence[str], env: Mapping[str, str] | None, cwd: str | Path | None) -> subprocess.Popen[bytes]:
    """``argv`` started in a new session (its own process group), stdin closed, output piped."""
    try:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else child_environment(),
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise TargetError(f"cannot run {argv[0]}: no such file") from exc
    except PermissionError as exc:
        raise TargetError(f"cannot run {argv[0]}: permission denied (not executable?)") from exc
    except OSError as exc:
        raise TargetError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc


def _outcome(rc: int, *, timed_out: bool) -> Outcome:
    if timed_out:
        return Outcome.TIMEOUT
    if rc < 0:
        return Outcome.CRASHED
    if rc == TOO_OLD_EXIT:
        return Outcome.TOO_OLD
    return Outcome.FAILED if rc != 0 else Outcome.OK


def run_probe(
    python: str,
    probe: str,
    request: Mapping[str, Any],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> ProbeResult:
    """Run probes/<probe>.py inside ``python`` and read the JSON result it writes.

    Raises TargetError only when ``python`` cannot be started; a hang is Outcome.TIMEOUT,
    a signal Outcome.CRASHED, a missing or unparsable result Outcome.BAD_OUTPUT.
    """
    probes = data_dir("probes")
    workdir = Path(tempfile.mkdtemp(prefix="envdoctor-"))
    try:
        req_path, res_path = workdir / "request.json", workdir / "result.json"
        req_path.write_text(json.dumps(dict(request)), encoding="utf-8")
        argv = [python, "-B", str(probes / "_launch.py"), probe, str(req_path), str(res_path)]
        cmd = run_command(argv, timeout=timeout, env=env, cwd=workdir, on_start=on_start, on_line=on_line)
        return _read_result(probe, cmd, res_path, timeout)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _read_result(probe: str, cmd: CommandResult, res_path: Path, timeout: float) -> ProbeResult:
    def fail(outcome: Outcome, message: str) -> ProbeResult:
        return ProbeResult(outcome, None, message, cmd)

    if cmd.outcome is Outcome.TIMEOUT:
        return fail(Outcome.TIMEOUT, f"the {probe} probe did not finish within {timeout:g} s and was stopped")
    if cmd.outcome is Outcome.CRASHED:
        return fail(Outcome.CRASHED, f"the {probe} probe was killed by {cmd.signal_name}")
    if cmd.outcome is Outcome.TOO_OLD:
        return fail(Outcome.TOO_OLD, _last_line(cmd.stderr) or "the interpreter is too old for envdoctor's probes")
    if cmd.outcome is Outcome.FAILED:
        return fail(Outcome.FAILED, f"the {probe} probe exited with status {cmd.returncode}: {_whole(cmd.stderr)}")
    try:
        if res_path.stat().st_size > MAX_RESULT_BYTES:
            return fail(Outcome.BAD_OUTPUT, f"the {probe} probe wrote more than {MAX_RESULT_BYTES} bytes")
        payload = json.loads(res_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return fail(Outcome.BAD_OUTPUT, f"the {probe} probe wrote no result (is this a Python interpreter?)")
    except (OSError, ValueError) as exc:
        return fail(Outcome.BAD_OUTPUT, f"the {probe} probe wrote an unreadable result: {exc}")
    except RecursionError:
        return fail(Outcome.BAD_OUTPUT, f"the {probe} probe wrote a result nested too deeply to read")
    if not isinstance(payload, dict):
        return fail(Outcome.BAD_OUTPUT, f"the {probe} probe wrote a {type(payload).__name__}, not an object")
    error = payload.get("probe_error")
    if isinstance(error, dict):
        return ProbeResult(Outcome.FAILED, payload, f"the {probe} probe failed: {error.get('message', '')}", cmd)
    return ProbeResult(Outcome.OK, payload, "", cmd)


STDERR_LINES = 20
"""How many lines of a failed program's stderr a message quotes (the first and the last ones)."""


def _whole(text: str) -> str:
    """All of ``text``'s non-blank lines (a wrapper such as a pyenv shim explains itself in its first
    lines, Python in its last), capped at STDERR_LINES lines of 300 characters, on one line each."""
    lines = [line.rstrip()[:300] for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "no message"
    if len(lines) > STDERR_LINES:
        head, tail = lines[: STDERR_LINES // 4], lines[-(STDERR_LINES - STDERR_LINES // 4) :]
        lines = [*head, f"[... {len(lines) - len(head) - len(tail)} lines ...]", *tail]
    return lines[0] if len(lines) == 1 else "\n" + "\n".join(f"  {line}" for line in lines)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""
