"""Tests of code that forks only a single-threaded process (envdoctor.source.parallel): in a pytest-xdist worker,
whose execnet threads make fork unsafe, such a test reruns itself in a fresh single-process pytest instead of
passing there without ever forking."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., None])

ROOT = Path(__file__).resolve().parent.parent


def single_threaded() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return True


def in_a_single_threaded_process(test: F) -> F:
    """Run ``test`` here when this process has one thread; otherwise run just this test (its node id, from
    PYTEST_CURRENT_TEST) in a new `pytest -n 0`, and pass or fail with it."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        if single_threaded():
            test(*args, **kwargs)
            return
        node = os.environ["PYTEST_CURRENT_TEST"].rsplit(" ", 1)[0]
        cmd = [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", node]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
        assert re.search(r"^1 passed\b", proc.stdout, re.M), proc.stdout[-2000:]  # it ran, and was not skipped

    return wrapper  # type: ignore[return-value]
