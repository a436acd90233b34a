"""fork_map: the same list as a plain loop, in the same order, whether the work is split over forked children,
done here (few items, one process), or redone here after a child died."""

from __future__ import annotations

import os

import pytest

from envdoctor.source.parallel import fork_map
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
