"""Live progress of the import probes on a terminal's stderr (rich): which probes run, for how long, and
each result as it lands. Only ever built by StderrProgress, which the CLI builds only when stderr is a
terminal: a pipe, a file, stdout and a notebook cell's output never see any of it."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live

    from envdoctor.redact import Redactor
    from envdoctor.runtime.outcomes import ImportProbe, ImportResult


class LiveProbes:
    """A context: ``started(probe)`` and ``landed(result)`` may be called from any thread."""

    def __init__(self, stream: TextIO, redact: Redactor, total: int, timeout: float) -> None:
        self._stream = stream
        self._redact = redact
        self._total = total
        self._timeout = timeout
        self._lock = threading.Lock()
        self._running: dict[str, float] = {}
        self._done = 0
        self._failed = 0
        self._start = time.monotonic()
        self._live: Live | None = None

    def __enter__(self) -> LiveProbes:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self._stream, highlight=False, soft_wrap=True)
        self._live = Live(get_renderable=self._render, console=console, refresh_per_second=4, transient=True)
        self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(kind, exc, tb)

    def started(self, probe: ImportProbe) -> None:
        with self._lock:
            self._running.setdefault(probe.statement, time.monotonic())

    def landed(self, result: ImportResult) -> None:
        from rich.text import Text

        with self._lock:
            self._running.pop(result.probe.statement, None)
            self._done += 1
            self._failed += 0 if result.ok else 1
        style = "green" if result.ok and not result.warned else "yellow" if result.ok else "red"
        said = self._redact(f" `{result.probe.statement}`: {result.outcome(self._timeout)}")
        if self._live is not None:
            self._live.console.print(Text.assemble(("  ok  " if result.ok else "  FAIL", style), said))

    def _render(self) -> RenderableType:
        from rich.text import Text

        now = time.monotonic()
        with self._lock:
            running = sorted(self._running.items(), key=lambda item: item[1])
            done, failed = self._done, self._failed
        text = Text(
            f"envdoctor: import probes {done}/{self._total} done, {failed} failed, {now - self._start:.1f} s",
            style="bold",
        )
        for statement, since in running[:8]:
            text.append(f"\n  running `{self._redact(statement)}` {now - since:.1f} s", style="dim")
        if len(running) > 8:
            text.append(f"\n  ... and {len(running) - 8} more", style="dim")
        return text
