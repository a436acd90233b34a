"""Import probes that share a parent: pay for the heavy common imports once, fork a child per probe.

``run_shared`` starts probes/import_fork.py in the target (through envdoctor.runner: its own process
group, killed when it ends or is interrupted, so nothing it or its children started outlives it). The
parent runs the ``share`` probes (``import torch``, ``from transformers import Trainer, ...``) itself, in
order, in a fresh interpreter: those are their results. If one fails (or takes longer than the
timeout), it stops there, and every probe runs in its own process as without sharing. After each share
probe, a serving parent forked at that point forks one child for each probe whose ``level`` says it
needs exactly the share probes done so far (each child with its own time limit and captured, capped
output), while the parent goes on with the next share probe; every ending streams back as it happens.

Sharing never changes a verdict:

- a child that did not pass (an exception, a signal, a timeout, no answer) proves nothing: the probe
  runs again in its own fresh interpreter (``on_fresh``), and that run is the result. So an import that
  fails only because something was already imported, or only in a forked process, is not reported as
  failing.
- a child that passed counts only when the imported code itself asked for every top-level module the
  parent preloaded (an ``import`` or ``importlib.import_module``, probes/imports.py notes them): a fresh
  interpreter would then have imported them too. A pass that asked for none of them (``import numpy``
  beside a preloaded torch) runs again fresh, so an import that works only because a preloaded module
  was already there is not reported as working.

What it does not cover: a module that the fresh run would import *before* the preloaded one sees it
already imported here (only code that looks into sys.modules without importing can tell).
Fork is used only where it is safe (Linux and the other POSIX systems but macOS); elsewhere the
parent says so at once and every probe runs in its own process.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from envdoctor import runner

if TYPE_CHECKING:
    from envdoctor.knowledge.wheelfacts import Facts
    from envdoctor.runtime.outcomes import ImportProbe, ImportResult


def worth_it(probes: Sequence[ImportProbe]) -> bool:
    """A shared parent pays off with a ``share`` probe and at least one other probe to fork."""
    shared = sum(1 for p in probes if p.share)
    return 0 < shared < len(probes)


def run_shared(
    python: str,
    probes: Sequence[ImportProbe],
    levels: Sequence[int],
    *,
    timeout: float,
    env: Mapping[str, str],
    jobs: int,
    owners: Any = None,
    facts: Facts | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[int, ImportResult], None],
    on_fresh: Callable[[int], None],
) -> set[int]:
    """Run ``probes`` in one shared parent; ``levels``: for each, how many of the share probes its
    child has preloaded (the parent forks a serving parent after each share probe). Each result that
    counts goes to ``on_result`` as it lands, each index that must run in its own process to
    ``on_fresh`` as soon as that is known. Returns the indices handled either way; the others (the
    parent gave up: a share probe failed or hung, no fork, the parent itself died) are the caller's to
    run fresh."""
    from envdoctor.runtime.outcomes import ended

    preload = [i for i, p in enumerate(probes) if p.share]
    request = {
        "statements": [p.statement for p in probes],
        "preload": preload,
        "levels": list(levels),
        "timeout": timeout,
        "jobs": jobs,
        "tail": runner.OUTPUT_TAIL_BYTES,
        "exit_at_once": True,
    }
    watchdog = _Watchdog(timeout)  # each share probe gets --timeout, as in its own process
    hooks = {"owners": owners, "facts": facts, "on_result": on_result, "on_fresh": on_fresh}
    parent = _ParentLines(probes, levels, len(preload), watchdog, **hooks)

    def started(pgid: int) -> None:
        watchdog.watch(pgid)
        if on_start is not None:
            on_start(pgid)

    children = len(probes) - len(preload)
    limit = timeout * (len(preload) + math.ceil(children / max(1, jobs)) + 1)
    try:
        res = runner.run_probe(
            python, "import_fork", request, timeout=limit, env=env, on_start=started, on_line=parent.line
        )
    finally:
        watchdog.stop()
    if parent.gave_up or watchdog.fired or len(parent.preloaded) < len(preload):
        return parent.handled  # the share probes' own outcomes come from their fresh runs
    for index, payload in parent.preloaded.items():
        cmd = runner.CommandResult(runner.Outcome.OK, 0, "", res.command.stderr, 0.0)
        on_result(
            index,
            ended(probes[index], cmd, runner.Outcome.OK, payload, "", owners=owners, facts=facts, process="shared"),
        )
        parent.handled.add(index)
    return parent.handled


class _ParentLines:
    """What the shared parent says, one JSON line at a time, as it happens: a share probe preloaded (its
    result kept until the parent ends), a child's result (reported when it counts, else the probe is handed
    back to run fresh), or that the parent gave up."""

    def __init__(
        self,
        probes: Sequence[ImportProbe],
        levels: Sequence[int],
        shares: int,
        watchdog: _Watchdog,
        *,
        owners: Any,
        facts: Facts | None,
        on_result: Callable[[int, ImportResult], None],
        on_fresh: Callable[[int], None],
    ) -> None:
        self.probes, self.levels, self.shares, self.watchdog = probes, levels, shares, watchdog
        self.owners, self.facts, self.on_result, self.on_fresh = owners, facts, on_result, on_fresh
        self.handled: set[int] = set()
        self.preloaded: dict[int, Mapping[str, Any]] = {}
        self.watched: list[list[str]] = []  # each share probe's top-level modules, in order
        self.gave_up = False

    def line(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        if msg.get("preload") and len(self.preloaded) + 1 < self.shares:
            self.watchdog.again()  # the next share probe's time starts
        elif msg.get("preload"):
            self.watchdog.stop()
        if "abandon" in msg or msg.get("fork") is False:
            self.gave_up = True
            return
        index = msg.get("index")
        if not isinstance(index, int) or not 0 <= index < len(self.probes) or self.gave_up:
            return
        payload = msg.get("payload") if isinstance(msg.get("payload"), dict) else None
        if msg.get("preload"):
            if payload is not None and payload.get("ok"):
                self.preloaded[index] = payload  # reported when the parent ends (its stderr belongs to them)
                self.watched.append([r for r in payload.get("roots") or () if isinstance(r, str)])
            return
        self._child(index, msg, payload)

    def _child(self, index: int, msg: Mapping[str, Any], payload: Mapping[str, Any] | None) -> None:
        """A forked child's result counts only when it passed and its own imports reached every module its
        parent had preloaded; anything else runs again in its own process."""
        self.handled.add(index)
        requested = set(payload.get("reached") or ()) if payload is not None else set()
        passed = payload is not None and payload.get("ok") and not msg.get("timed_out") and not msg.get("signal")
        preloaded_here = {root for roots in self.watched[: self.levels[index]] for root in roots}
        if payload is None or not passed or not preloaded_here <= requested:
            self.on_fresh(index)
            return
        self.on_result(index, _forked(self.probes[index], msg, payload, self.owners, self.facts))


class _Watchdog:
    """Kills the parent's process group when a share probe takes longer than ``timeout`` (a hang in
    ``import torch``): the parent gives up, and that probe's own fresh run reports the timeout."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._pgid: int | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self.fired = False

    def watch(self, pgid: int) -> None:
        self._pgid = pgid
        self.again()

    def again(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._timeout, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self.fired = True
        if self._pgid is not None:
            runner.kill_groups([self._pgid])


def _forked(probe: ImportProbe, msg: Mapping[str, Any], payload: Mapping[str, Any], owners: Any, facts: Any) -> Any:
    """The ImportResult of a probe that passed in a forked child, from the parent's line about it."""
    from envdoctor.runtime.outcomes import ended

    cmd = runner.CommandResult(
        outcome=runner.Outcome.OK,
        returncode=0,
        stdout=str(msg.get("stdout", "")),
        stderr=str(msg.get("stderr", "")),
        duration=float(msg.get("seconds") or 0.0),
        stdout_bytes=int(msg.get("stdout_bytes") or 0),
        stderr_bytes=int(msg.get("stderr_bytes") or 0),
    )
    return ended(probe, cmd, runner.Outcome.OK, payload, "", owners=owners, facts=facts, process="forked")
