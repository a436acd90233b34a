"""What the benchmarks share: one whole process timed (``timed_process``: wall and CPU time, exit status), and the
timing loop of the training-step benchmarks (bench_train.py, bench_stack.py): envdoctor's probe against a
hand-written script in the same target, one untimed warm-up each, then alternating round by round (so a change of
load on the machine hits both); the medians and their ratio. Asserts nothing about speed."""

from __future__ import annotations

import resource
import shlex
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Run = Callable[[], float]
"""One timed run: its wall-clock seconds (it raises SystemExit when the run failed)."""


@dataclass(frozen=True)
class Comparison:
    label: str
    times: Mapping[str, list[float]]  # "envdoctor", "hand-written"
    goal: float | None = None

    @property
    def ratio(self) -> float:
        return statistics.median(self.times["envdoctor"]) / statistics.median(self.times["hand-written"])

    def lines(self) -> list[str]:
        out = [f"{self.label}:"]
        for name, t in self.times.items():
            listed = ", ".join(f"{x:.2f}" for x in t)
            out.append(f"  {name:<13} median {statistics.median(t):6.2f} s  min {min(t):6.2f} s  ({listed})")
        goal = f" (goal <= {self.goal:g}x)" if self.goal is not None else ""
        out.append(f"  ratio envdoctor / hand-written (medians): {self.ratio:.2f}x{goal}")
        return out


def compare(label: str, envdoctor: Run, hand_written: Run, rounds: int, goal: float | None = None) -> Comparison:
    """``rounds`` timed runs of each, alternating (envdoctor first in even rounds), after one untimed warm-up each
    (page cache, bytecode)."""
    envdoctor(), hand_written()
    times: dict[str, list[float]] = {"envdoctor": [], "hand-written": []}
    for i in range(rounds):
        order = [("envdoctor", envdoctor), ("hand-written", hand_written)]
        for name, run in order if i % 2 == 0 else reversed(order):
            times[name].append(run())
    return Comparison(label, times, goal)


def timed_script(python: str, code: str, env: Mapping[str, str] | None = None) -> float:
    """Seconds to run ``python -c code`` to its end (SystemExit with its stderr when it fails)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, timeout=600, env=dict(env) if env else None
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"the hand-written script failed: {proc.stderr[-2000:]}")
    return elapsed


def timed_probe(python: str, probe: str, request: Mapping[str, object], env: Mapping[str, str] | None = None) -> float:
    """Seconds for envdoctor.runner to run probes/<probe>.py in ``python`` (launcher, JSON request and result)."""
    from envdoctor import runner

    start = time.perf_counter()
    result = runner.run_probe(python, probe, dict(request), timeout=600, env=env)
    elapsed = time.perf_counter() - start
    steps = (result.payload or {}).get("steps") or ()
    if not result.ok or result.payload is None or not all(s.get("ran") or s.get("attempted") is False for s in steps):
        raise SystemExit(f"envdoctor's {probe} probe failed: {result.message} {result.payload}")
    return elapsed


@dataclass(frozen=True)
class Timed:
    """One whole process: wall seconds, CPU seconds (user + system of it and of every process it waited for: what
    load on a shared machine distorts least), its exit status and the end of its stderr."""

    wall: float
    cpu: float
    returncode: int
    stderr: str


def timed_process(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    ok: tuple[int, ...] | None = None,
    timeout: float = 1800,
) -> Timed:
    """Run ``argv`` to its end, its stdout discarded. With ``ok``, an exit status outside it is a SystemExit that
    quotes the command and its stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        list(argv),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else None,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if ok is not None and proc.returncode not in ok:
        raise SystemExit(f"{shlex.join(argv)} exited {proc.returncode}: {proc.stderr[-3000:]}")
    return Timed(wall, cpu, proc.returncode, proc.stderr[-3000:])
