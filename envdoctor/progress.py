"""Progress is injected: the library is silent unless a caller passes something to report to."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol, TextIO

from envdoctor.redact import Redactor

if TYPE_CHECKING:
    from envdoctor.runtime.live import LiveProbes


class Progress(Protocol):
    def step(self, message: str) -> None: ...


class Silent:
    def step(self, message: str) -> None:
        pass


class StderrProgress:
    """Narration on stderr (never stdout, which carries the product), secrets masked."""

    def __init__(self, stream: TextIO | None = None, redactor: Redactor | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._redact = redactor or Redactor.from_environment()

    def step(self, message: str) -> None:
        print(f"envdoctor: {self._redact(message)}", file=self._stream, flush=True)

    def live_probes(self, total: int, timeout: float) -> LiveProbes:
        """A live view of the import probes while they run (rich; the CLI builds a StderrProgress only
        for a terminal)."""
        from envdoctor.runtime.live import LiveProbes

        return LiveProbes(self._stream, self._redact, total, timeout)
