"""fork_map: the same list as a plain loop, in the same order, whether the work is split over forked children,
done here (few items, one process), or redone here after a child died. fork_call: one call's result from a
child, None when the child failed or no fork is safe, and no child left behind."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

from envdoctor.source import parallel
from envdoctor.source.parallel import fork_call, fork_map
from tests.alone import in_a_single_threaded_process

ITEMS = list(range(1003))


def _square(x: int) -> int:
    return x * x


@pytest.mark.parametrize("processes", [1, 2, 3, 8])
@in_a_single_threaded_process
def test_fork_map_gives_the_plain_loop_result_in_order(processes: int) -> None:
    assert fork_map(_square, ITEMS, processes=processes, minimum=0) == [x * x for x in ITEMS]


@in_a_single_threaded_process
def test_fork_map_splits_the_work_over_children() -> None:
    pids = set(fork_map(lambda x: os.getpid(), ITEMS, processes=3, minimum=0))
    assert len(pids) == 3 and os.getpid() in pids


def test_fork_map_with_few_items_works_here() -> None:
    parent = os.getpid()
    assert fork_map(lambda x: os.getpid() == parent, ITEMS[:10], processes=4) == [True] * 10


@in_a_single_threaded_process
def test_a_child_that_dies_has_its_share_redone_here() -> None:
    parent = os.getpid()

    def fn(x: int) -> int:
        if os.getpid() != parent:
            os._exit(3)  # a child killed halfway: nothing, or a cut pickle, comes back
        return x + 1

    assert fork_map(fn, ITEMS, processes=3, minimum=0) == [x + 1 for x in ITEMS]


def test_a_process_with_another_thread_does_not_fork() -> None:
    """A thread (Python's or a native pool's) holding a lock at the fork would leave a child stuck: no fork."""
    import threading

    parent, stop = os.getpid(), threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert set(fork_map(lambda x: os.getpid(), ITEMS, processes=3, minimum=0)) == {parent}
    finally:
        stop.set()
        helper.join()


@in_a_single_threaded_process
def test_an_interrupt_during_fork_map_stops_its_children() -> None:
    """Ctrl-C, or the CLI's SIGTERM exception, in this process's share: the children (still reading) are killed and
    reaped before the exception leaves fork_map, not left running after envdoctor exited."""
    parent, (read_end, write_end) = os.getpid(), os.pipe()

    def fn(x: int) -> int:
        if os.getpid() != parent:
            os.read(read_end, 1)  # never written: works for ever
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fork_map(fn, ITEMS, processes=3, minimum=0)
    _no_child_left()
    os.close(read_end)
    os.close(write_end)


def _no_child_left() -> None:
    with pytest.raises(ChildProcessError):  # neither running nor a zombie
        os.waitpid(-1, os.WNOHANG)


@in_a_single_threaded_process
def test_fork_call_gives_the_result_computed_in_a_child() -> None:
    forked = fork_call(lambda: (os.getpid(), [x * x for x in ITEMS]))
    assert forked is not None
    got = forked.join()
    assert got is not None and got[0] != os.getpid() and got[1] == [x * x for x in ITEMS]
    assert forked.join() is None  # joined once
    _no_child_left()


def _exits() -> int:
    os._exit(0)  # "success", but nothing sent


def _killed() -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return 1


def _raises() -> int:
    raise ValueError("a bug")


def _unpicklable() -> object:
    return lambda: None


@pytest.mark.parametrize("fn", [_exits, _killed, _raises, _unpicklable])
@in_a_single_threaded_process
def test_fork_call_join_is_none_when_the_child_failed(fn: Callable[[], object]) -> None:
    forked = fork_call(fn)
    assert forked is not None
    assert forked.join() is None
    _no_child_left()


@in_a_single_threaded_process
def test_fork_call_stop_kills_a_running_child_and_reaps_it() -> None:
    read_end, write_end = os.pipe()
    started = fork_call(lambda: os.read(read_end, 1))  # waits for ever
    assert started is not None
    with started as forked:
        assert forked.pid is not None
    assert forked.join() is None
    _no_child_left()
    os.close(read_end)
    os.close(write_end)


def test_fork_call_does_not_fork_with_one_core_or_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert fork_call(os.getpid) is None
    finally:
        stop.set()
        helper.join()
    monkeypatch.setattr(parallel, "workers", lambda: 1)
    assert fork_call(os.getpid) is None
