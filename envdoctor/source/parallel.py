"""An ordered map over forked children, for reading many installed files once (the cold text pass).

``fork_map(fn, items)`` gives ``[fn(x) for x in items]``, in that order, with the items split over the
machine's cores: the caller does one share itself and each forked child one more, sending its results
back through a pipe (pickled). Fork only (Linux): the children inherit ``fn`` and the items, so nothing
but the results crosses a pipe. Where fork is not there, with few items, with other threads running (a
fork copies only the calling thread; native threads count too), or when a child fails, the work is done in
this process: the result is the same either way, only the wall-clock time differs.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

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
    children: list[tuple[int, int, int]] = []  # (share, pid, read end)
    for share in range(1, n):
        child = _start(fn, items, share, n)
        if child is not None:
            children.append((share, *child))
    out: list[R | None] = [None] * len(items)
    done = {0} | {share for share, _pid, _fd in children}
    for i in range(0, len(items), n):
        out[i] = fn(items[i])
    for share, pid, fd in children:
        got: list[R] | None = _collect(pid, fd)
        if got is None or len(got) != len(out[share::n]):  # the child failed: do its share here
            done.discard(share)
            continue
        out[share::n] = got
    for share in set(range(n)) - done:
        out[share::n] = [fn(x) for x in items[share::n]]
    return out  # type: ignore[return-value]  # every slot is filled above


def _can_fork() -> bool:
    """Fork only a single-threaded process: Python's threads, and native ones too (a torch or OpenMP pool in a
    training script that called ``assert_compatible()``), whose locks a child could find held forever."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _start(fn: Callable[[T], R], items: Sequence[T], share: int, n: int) -> tuple[int, int] | None:
    """Fork a child that computes ``fn`` over ``items[share::n]`` and writes the pickled list to a pipe."""
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
            data = pickle.dumps([fn(x) for x in items[share::n]], protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _collect(pid: int, fd: int) -> list[R] | None:
    """The child's results; None when it failed (nothing or a broken pickle came back, or it exited non-zero)."""
    with os.fdopen(fd, "rb") as pipe:
        data = pipe.read()
    _pid, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        return None
    try:
        got = pickle.loads(data)  # our own child's output
    except Exception:  # a truncated pickle: redo the share here
        return None
    return got if isinstance(got, list) else None
