"""Progress is injected: the library is silent unless a caller passes something to report to."""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

from envdoctor.redact import Redactor


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
