"""Work shared with forked children: an ordered map for reading many installed files once (the cold text pass),
and one call run beside this process's own work (the calls and matrix checks beside the symbols check).

``fork_map(fn, items)`` gives ``[fn(x) for x in items]``, in that order, with the items split over the
machine's cores: the caller does one share itself and each forked child one more, sending its results
back through a pipe (pickled). Fork only (Linux): the children inherit ``fn`` and the items, so nothing
but the results crosses a pipe. Where fork is not there, with few items, with other threads running (a
fork copies only the calling thread; native threads count too), or when a child fails, the work is done in
this process: the result is the same either way, only the wall-clock time differs.

``fork_call(fn)`` starts ``fn()`` in one forked child (same rules) and gives a ``Forked``: ``join()`` its
pickled result, or None when the child failed (the caller then calls ``fn`` itself); ``stop()`` (also on
leaving a ``with`` block: Ctrl-C, SIGTERM's exception, an error here) kills a child still running and reaps it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS = 500
"""Fewer items than this are done in this process: a fork and a pipe cost more than they save."""


def workers() -> int:
    """How many processes share the work: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def fork_map(
    fn: Callable[[T], R], items: Sequence[T], *, processes: int | None = None, minimum: int = MIN_ITEMS
) -> list[R]:
    """``[fn(x) for x in items]``, computed by ``processes`` processes (default: ``workers()``) when there are
    at least ``minimum`` items and fork is safe here; ``fn`` must not raise, and its results must pickle."""
    n = min(processes or workers(), len(items))
    if n < 2 or len(items) < minimum or not _can_fork():
        return [fn(x) for x in items]
    children: list[tuple[int, Forked[list[R]]]] = []
    try:
        for share in range(1, n):
            child = _forked(_share(fn, items, share, n))
            if child is not None:
                children.append((share, child))
        out: list[R | None] = [None] * len(items)
        done = {0} | {share for share, _child in children}
        for i in range(0, len(items), n):
            out[i] = fn(items[i])
        for share, child in children:
            got = child.join()
            if got is None or len(got) != len(out[share::n]):  # the child failed: do its share here
                done.discard(share)
                continue
            out[share::n] = got
    finally:  # an interrupt (Ctrl-C, SIGTERM's exception): no child outlives this call
        for _n, child in children:
            child.stop()
    for share in set(range(n)) - done:
        out[share::n] = [fn(x) for x in items[share::n]]
    return out  # type: ignore[return-value]  # every slot is filled above


class Forked(Generic[R]):
    """A call running in a forked child (``fork_call``): ``join()`` once, or ``stop()``; a ``with`` block stops
    it on the way out, so no child outlives the block and none is left a zombie."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid: int | None = pid
        self._fd = fd

    def join(self) -> R | None:
        """The call's result, once the child has ended; None when it failed (it raised, was killed, or its pickle
        came back cut), and after ``stop()``. Interrupted while waiting (Ctrl-C), it stops the child."""
        if self.pid is None:
            return None
        try:
            with os.fdopen(self._fd, "rb", closefd=False) as pipe:
                data = pipe.read()
            _pid, status = os.waitpid(self.pid, 0)
        except BaseException:
            self.stop()
            raise
        self.pid = None
        os.close(self._fd)
        got = _loaded(status, data)
        return got[0] if isinstance(got, tuple) and len(got) == 1 else None

    def stop(self) -> None:
        """Kill the child if it still runs (its result is not wanted: an interrupt, an error here) and reap it."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        os.close(self._fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    def __enter__(self) -> Forked[R]:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def fork_call(fn: Callable[[], R]) -> Forked[R] | None:
    """Start ``fn()`` in a forked child, to run beside this process's own work; None where fork is not safe here
    (``_can_fork``), this process may use fewer than 2 cores, or the fork fails: then the caller calls ``fn``
    itself. The child works on a copy of this process: what ``fn`` changes stays in the child, and only its
    result (which must pickle) comes back."""
    if workers() < 2 or not _can_fork():
        return None
    return _forked(fn)


def _forked(fn: Callable[[], R]) -> Forked[R] | None:
    """``fn()`` started in a forked child (the caller checked that fork is safe); None when the fork failed."""
    child = _start(lambda: (fn(),))
    return Forked(*child) if child is not None else None


def _can_fork() -> bool:
    """Fork only a single-threaded process: Python's threads, and native ones too (a torch or OpenMP pool in a
    training script that called ``assert_compatible()``), whose locks a child could find held forever."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _start(work: Callable[[], object]) -> tuple[int, int] | None:
    """Fork a child that computes ``work()`` and writes its pickle to a pipe: (pid, read end), or None."""
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # the child: never returns
        status = 1
        try:
            os.close(read_end)
            data = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _share(fn: Callable[[T], R], items: Sequence[T], share: int, n: int) -> Callable[[], list[R]]:
    """The work of fork_map's child number ``share`` of ``n``."""
    return lambda: [fn(x) for x in items[share::n]]


def _loaded(status: int, data: bytes) -> object | None:
    """What a child that ended with ``status`` sent (``data``); None when it failed."""
    if status != 0 or not data:
        return None
    try:
        got: object = pickle.loads(data)  # our own child's output
    except Exception:  # a truncated pickle: redo the work here
        return None
    return got
