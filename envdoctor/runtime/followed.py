"""Progress from a probe while it runs: a file the probe appends one line to as it starts each part (an
import, a step), followed on a thread and handed to a callback line by line. A file, because the probe's
stdout and stderr belong to the libraries it imports (envdoctor.runner keeps only their tails)."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from types import TracebackType


class ProgressFile:
    """``with ProgressFile(callback) as path``: ``path`` (None without a callback) goes to the probe in its
    request; each complete line it appends reaches ``callback``, the last ones when the block ends."""

    def __init__(self, callback: Callable[[str], None] | None) -> None:
        self._callback = callback
        self._stop = threading.Event()
        self._dir: str | None = None
        self._thread: threading.Thread | None = None
        self._seen = 0

    def __enter__(self) -> str | None:
        if self._callback is None:
            return None
        self._dir = tempfile.mkdtemp(prefix="envdoctor-progress-")
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()
        return self.path

    @property
    def path(self) -> str:
        return os.path.join(self._dir or "", "progress.txt")

    def _drain(self) -> None:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                fh.seek(self._seen)
                text = fh.read()
        except OSError:
            return
        done = text.rfind("\n") + 1
        self._seen += len(text[:done].encode("utf-8"))
        for line in text[:done].splitlines():
            if self._callback is not None and line.strip():
                self._callback(line.strip())

    def _follow(self) -> None:
        while not self._stop.wait(0.2):
            self._drain()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._drain()
        shutil.rmtree(self._dir or "", ignore_errors=True)
