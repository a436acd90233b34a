"""Import probes: run the imports a training script makes, for real, in the target interpreter.

Each statement runs in its own process (probes/imports.py through envdoctor.runner: own process group,
``timeout`` seconds, the group killed on expiry, output capped), so one failing import can neither hide
nor cause another; they run in parallel, at most one per CPU. The environment is offline for the Hugging
Face libraries and writes no bytecode, so nothing reaches the network and nothing is written into the
target. Every ending is a value (``ImportResult``): ok with its time; the exception with its last frames;
a timeout; a signal (a segfault in a compiled package is a finding, never a crash of envdoctor).

``probe_findings`` turns the failures into findings: a failure that a static finding already explains
(same packages) becomes evidence on that finding; the others become ``import-failed`` errors, one per
distinct error, each with its diagnosis (envdoctor.runtime.diagnosis).
"""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from envdoctor import runner
from envdoctor.errors import UsageError
from envdoctor.knowledge.matrix import MatrixError, MatrixIssue
from envdoctor.report import Finding, Severity
from envdoctor.resources import data_dir
from envdoctor.runtime.outcomes import ImportProbe, ImportResult, ended
from envdoctor.versions import canonical

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from envdoctor.inventory import Inventory
    from envdoctor.knowledge.wheelfacts import Facts

FINDING_ID = "import-failed"
WARNING_ID = "import-warning"

OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONFAULTHANDLER": "1",  # a segfault prints the Python frames it happened in (-> the packages)
}
"""Set for every import probe: no download, no bytecode written into the target."""

_KEYS = {"package", "statement", "needs", "share"}


def parse_statement(text: str) -> str:
    """``text`` if it is one or more import statements (``import x``, ``from x import y``); else UsageError."""
    try:
        tree = ast.parse(text.strip())
    except SyntaxError as exc:
        raise UsageError(f"--import {text!r}: not Python ({exc.msg})") from None
    if not tree.body or not all(isinstance(node, ast.Import | ast.ImportFrom) for node in tree.body):
        raise UsageError(f"--import {text!r}: only import statements (`import x`, `from x import y`)")
    if any(isinstance(node, ast.ImportFrom) and node.level for node in tree.body):
        raise UsageError(f"--import {text!r}: a relative import has no package to be relative to")
    return text.strip()


def load_probes(path: Path | None = None) -> tuple[ImportProbe, ...]:
    """The probes of ``matrix/probes/imports.toml``; raises MatrixError listing every problem (file, line)."""
    if path is None:
        path = data_dir("matrix") / "probes" / "imports.toml"
    name = f"probes/{path.name}"
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError([MatrixIssue(name, 1, f"not valid TOML: {exc}")]) from None
    issues: list[MatrixIssue] = [
        MatrixIssue(name, 1, f"unknown top-level key {k!r}") for k in sorted(set(data) - {"probe"})
    ]
    starts = [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"(?m)^\[\[probe\]\]", text)]
    probes: list[ImportProbe] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(data.get("probe", [])):
        line = starts[index] if index < len(starts) else 1
        problems = [f"unknown key {k!r}" for k in sorted(set(raw) - _KEYS)]
        package, statement, needs = raw.get("package"), raw.get("statement"), raw.get("needs", [])
        share = raw.get("share", False)
        if not isinstance(share, bool):
            problems.append("share must be true or false")
        if not isinstance(package, str) or not package:
            problems.append("package must be a distribution name")
        if not isinstance(needs, list) or not all(isinstance(n, str) and n for n in needs):
            problems.append("needs must be a list of distribution names")
        if not isinstance(statement, str):
            problems.append("statement must be a string")
        else:
            try:
                parse_statement(statement)
            except UsageError as exc:
                problems.append(str(exc).replace("--import", "statement", 1))
            if statement in seen:
                problems.append(f"duplicate statement (first at line {seen[statement]})")
            seen.setdefault(statement, line)
        issues.extend(MatrixIssue(name, line, p) for p in problems)
        if not problems:
            probes.append(
                ImportProbe(statement, canonical(package), tuple(canonical(n) for n in needs), f"{name}:{line}", share)
            )
    if issues:
        raise MatrixError(issues)
    return tuple(probes)


_NOT_PROBED = {"tests", "test", "testing", "docs", "doc", "examples", "benchmarks", "setup", "conftest"}


def select(
    probes: Iterable[ImportProbe],
    inv: Inventory,
    extra: Sequence[str] = (),
    every: Mapping[str, Iterable[str]] | None = None,
) -> list[ImportProbe]:
    """The probes whose package (and ``needs``) are installed; with ``every`` (distribution -> its
    top-level modules, ``--probe-all``), ``import TOP`` for each public top-level module of every other
    distribution; then the user's own statements. Each statement once."""
    chosen: dict[str, ImportProbe] = {}
    for probe in probes:
        wanted = [probe.package or "", *probe.needs]
        if all(inv.get(name) is not None for name in wanted):
            chosen.setdefault(probe.statement, probe)
    covered = {p.package for p in chosen.values()}
    for dist, tops in sorted((every or {}).items()):
        if dist in covered:
            continue
        for top in sorted(tops):
            if not top.startswith("_") and top not in _NOT_PROBED:
                chosen.setdefault(f"import {top}", ImportProbe(f"import {top}", dist, source="--probe-all"))
    for text in extra:
        statement = parse_statement(text)
        chosen.setdefault(statement, ImportProbe(statement))
    return list(chosen.values())


def share_levels(inv: Inventory, probes: Sequence[ImportProbe]) -> Callable[[ImportProbe], int]:
    """How many of the share probes (in order) a probe's child should have preloaded: the longest run of
    them, from the first, whose distributions the probe's own distribution requires (transitively, as
    installed); all of them for the user's own statements; 0: not worth a fork (``import numpy``). A
    child's pass counts only when its own imports reach every module it found preloaded, so a probe
    that would not is started in its own process at once."""
    from envdoctor.fix.pinfile import closure

    order = [p.package for p in probes if p.share]

    def level(probe: ImportProbe) -> int:
        if probe.share:
            return 0
        if probe.package is None:
            return len(order)
        needs = {d.name for d in closure(inv, [probe.package])}
        done = 0
        for package in order:
            if package not in needs:
                break
            done += 1
        return done

    return level


def run_imports(
    python: str,
    probes: Sequence[ImportProbe],
    *,
    timeout: float,
    owners: Any = None,
    facts: Facts | None = None,
    jobs: int | None = None,
    on_result: Callable[[ImportResult], None] | None = None,
    on_start: Callable[[ImportProbe], None] | None = None,
    share: bool = True,
    levels: Callable[[ImportProbe], int] | None = None,
) -> list[ImportResult]:
    """Run each probe in the target ``python``, at most ``jobs`` (default: the CPU count) at a time;
    results in the order of ``probes``. With ``share`` and a ``share`` probe among them (``import
    torch``), one parent pays for the shared probes and forks a child for each other probe
    (envdoctor.runtime.shared); every probe that did not pass there runs again in its own process, and
    that run's result is the one reported. ``levels``: how many share probes each other probe's child
    needs preloaded (share_levels; default: all); those at 0 run in their own processes from the start,
    beside the parent. Raises TargetError only when ``python`` cannot be started."""
    from envdoctor.errors import check_timeout

    check_timeout(timeout)
    if not probes:
        return []
    workers = max(1, min(len(probes), jobs or os.cpu_count() or 1))
    run = _ImportRun(
        python, probes, timeout=timeout, owners=owners, facts=facts, on_result=on_result, on_start=on_start
    )
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="envdoctor-import")
    try:  # an interrupt may land while the first probes already run and the last are being queued
        level = levels or (lambda probe: sum(1 for p in probes if p.share))
        tried = [i for i, p in enumerate(probes) if p.share or level(p) > 0]
        fresh = run.share_first(pool, tried, level, workers) if share else list(range(len(probes)))
        for index in fresh:
            run.submit(pool, index)
        for future in list(run.futures):
            _result(future)
        return [run.results[index] for index in range(len(probes))]
    except BaseException:  # Ctrl-C, SIGTERM: no probe outlives the run, none still queued starts
        run.stopping.set()
        runner.kill_groups(run.groups)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _ImportRun:
    """What the threads of one ``run_imports`` share: the process groups started (killed on an interrupt),
    the results by index, and whether the run is stopping."""

    def __init__(
        self,
        python: str,
        probes: Sequence[ImportProbe],
        *,
        timeout: float,
        owners: Any,
        facts: Facts | None,
        on_result: Callable[[ImportResult], None] | None,
        on_start: Callable[[ImportProbe], None] | None,
    ) -> None:
        self.python, self.probes, self.timeout = python, probes, timeout
        self.owners, self.facts, self.on_result, self.on_start = owners, facts, on_result, on_start
        self.env = runner.child_environment(OFFLINE)
        self.groups: list[int] = []
        self.stopping = threading.Event()
        self.results: dict[int, ImportResult] = {}
        self.futures: list[Future[None]] = []
        self._lock = threading.Lock()

    def started(self, pgid: int) -> None:
        self.groups.append(pgid)
        if self.stopping.is_set():  # started just as the run was interrupted
            runner.kill_groups([pgid])

    def landed(self, index: int, result: ImportResult) -> None:
        with self._lock:
            self.results[index] = result
        if self.on_result is not None:
            self.on_result(result)

    def share_first(
        self, pool: ThreadPoolExecutor, tried: list[int], level: Callable[[ImportProbe], int], workers: int
    ) -> list[int]:
        """When sharing a parent is worth it: start the probes that need no share probe in their own processes,
        run ``tried`` in the shared parent, and return the indices that must still run fresh (all of them
        when it is not worth it)."""
        from envdoctor.runtime import shared

        probes = self.probes
        if not shared.worth_it([probes[i] for i in tried]):
            return list(range(len(probes)))
        for index in range(len(probes)):  # the others run in their own processes at once, beside the parent
            if index not in tried:
                self.submit(pool, index)
        for index in tried:
            if self.on_start is not None:
                self.on_start(probes[index])
        return _in_shared_parent(  # a probe that did not count in its child: its own process, at once
            self.python,
            probes,
            tried,
            level=level,
            submit=lambda index: self.submit(pool, index),
            landed=self.landed,
            started=self.started,
            timeout=self.timeout,
            env=self.env,
            jobs=workers,
            owners=self.owners,
            facts=self.facts,
        )

    def submit(self, pool: ThreadPoolExecutor, index: int) -> None:
        self.futures.append(pool.submit(self._one, index))

    def _one(self, index: int) -> None:
        if self.stopping.is_set():
            raise KeyboardInterrupt
        probe = self.probes[index]
        if self.on_start is not None:
            self.on_start(probe)
        kwargs = {"timeout": self.timeout, "env": self.env, "owners": self.owners, "facts": self.facts}
        self.landed(index, run_import(self.python, probe, on_start=self.started, **kwargs))


def _in_shared_parent(
    python: str,
    probes: Sequence[ImportProbe],
    tried: Sequence[int],
    *,
    level: Callable[[ImportProbe], int],
    submit: Callable[[int], None],
    landed: Callable[[int, ImportResult], None],
    started: Callable[[int], None],
    **shares: Any,
) -> list[int]:
    """Run the ``tried`` probes in a shared parent (envdoctor.runtime.shared) on its own thread, waited
    for in slices; those that must run in their own processes go to ``submit`` as soon as that is known.
    Returns the ones the parent left (it gave up), to run fresh too."""
    from envdoctor.runtime import shared

    parent = ThreadPoolExecutor(max_workers=1, thread_name_prefix="envdoctor-shared")
    run = parent.submit(
        shared.run_shared,
        python,
        [probes[i] for i in tried],
        [0 if probes[i].share else level(probes[i]) for i in tried],
        on_start=started,
        on_result=lambda k, result: landed(tried[k], result),
        on_fresh=lambda k: submit(tried[k]),
        **shares,
    )
    parent.shutdown(wait=False)
    done = _result(run)  # waited for in slices, as every probe (see _result)
    return [tried[k] for k in range(len(tried)) if k not in done]


_T = TypeVar("_T")

_WAKE_EVERY = 0.2
"""Seconds between the main thread's wake-ups while it waits for a probe (see ``_result``)."""


def _result(future: Future[_T]) -> _T:
    """``future.result()``, waited for in slices. The workers start processes, so they cannot block the
    stop signals (``runner.start_deaf``: the probes would inherit the mask); when the kernel hands Ctrl-C
    to a worker, the main thread, blocked on the future's lock, would only run the handler once that
    probe ended (up to its timeout). Waking up every ``_WAKE_EVERY`` seconds bounds that to a fraction of
    a second."""
    while True:
        try:
            return future.result(timeout=_WAKE_EVERY)
        except FuturesTimeout:
            if future.done():  # the probe's own TimeoutError (an OSError), not our slice
                raise


def run_import(
    python: str,
    probe: ImportProbe,
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    owners: Any = None,
    facts: Facts | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ImportResult:
    """Run one probe in its own process; every ending is an ImportResult."""
    env = env if env is not None else runner.child_environment(OFFLINE)
    request = {"statement": probe.statement, "exit_at_once": True}
    res = runner.run_probe(python, "imports", request, timeout=timeout, env=env, on_start=on_start)
    payload = res.payload if res.ok else None
    return ended(probe, res.command, res.outcome, payload, res.message, owners=owners, facts=facts)


def probe_findings(
    static: Sequence[Finding], results: Sequence[ImportResult], timeout: float
) -> tuple[list[Finding], list[Finding]]:
    """(the static findings, with the probe outcomes they explain merged in as evidence, a failure raising
    the finding to error; the new findings: ``import-failed`` (error) for each distinct failure and
    ``import-warning`` for each distinct known warning of an import that worked, that nothing static
    explained)."""
    merged = list(static)
    unexplained: dict[tuple[str, str], list[ImportResult]] = {}
    for result in results:
        if result.ok and not result.warned:
            continue
        index = _explaining(merged, result)
        diag = result.diagnosis
        if index is None:
            key = (
                result.ending,
                diag.cause if diag and diag.cause else diag.error if diag else result.outcome(timeout),
            )
            unexplained.setdefault(key, []).append(result)
            continue
        f = merged[index]
        if result.warned:
            line = f"import probe: `{result.probe.statement}` works but warns: {diag.cause if diag else ''}"
            merged[index] = dataclasses.replace(f, evidence=(*f.evidence, line))
            continue
        line = f"import probe: `{result.probe.statement}` really fails: {result.outcome(timeout)}"
        merged[index] = dataclasses.replace(f, severity=max(f.severity, Severity.ERROR), evidence=(*f.evidence, line))
    return merged, [_finding(group, timeout) for group in unexplained.values()]


def _explaining(findings: Sequence[Finding], result: ImportResult) -> int | None:
    """The static finding that explains ``result``: at warning or above, all of its packages among the
    failure's (one package only when it is the failure's first); the one naming the missing symbol or
    the most packages wins."""
    packages = result.packages
    if not packages:
        return None
    best: tuple[int, int, int] | None = None
    text = (result.diagnosis.error if result.diagnosis else "") + " " + result.message
    for index, f in enumerate(findings):
        if f.severity < Severity.WARNING or f.check == "probes" or not f.packages:
            continue
        if not set(f.packages) <= set(packages):
            continue
        if len(f.packages) == 1 and f.packages[0] != packages[0]:
            continue
        names = sum(1 for word in re.findall(r"\w{6,}", f.title) if word in text)
        score = (names, len(f.packages), -index)
        if best is None or score > best:
            best = score
    return -best[2] if best is not None else None


def _finding(group: Sequence[ImportResult], timeout: float) -> Finding:
    first = group[0]
    statements = ", ".join(f"`{r.probe.statement}`" for r in group)
    diag = first.diagnosis
    how = first.outcome(timeout)
    verb = "fails" if len(group) == 1 else "fail"
    title = f"{statements} {verb}: {how}" if first.ending == "failed" else f"{statements}: {how}"
    if first.warned and diag is not None:
        title = f"{statements} {'works but warns' if len(group) == 1 else 'work but warn'}: {diag.cause}"
    if diag is not None and diag.cause:
        detail = f"Cause: {diag.cause}."
    elif first.ending == "timeout":
        detail = "The import did not finish in time: it hangs, or is slower than --timeout allows."
    else:
        detail = "No known cause: the error is reported as it is."
    detail += " Each import ran in its own process of the target interpreter (offline, no bytecode written)."
    evidence = [f"import probe: `{r.probe.statement}`: {r.outcome(timeout)}" for r in group]
    evidence += [f"at {frame}" for frame in first.frames[-3:]]
    if first.stdout_bytes > runner.OUTPUT_TAIL_BYTES:
        evidence.append(f"it printed {first.stdout_bytes} bytes to stdout (the last {runner.OUTPUT_TAIL_BYTES} kept)")
    return Finding(
        id=WARNING_ID if first.warned else FINDING_ID,
        severity=Severity.WARNING if first.warned else Severity.ERROR,
        title=title,
        detail=detail,
        packages=first.packages,
        evidence=tuple(evidence),
        fix=diag.fix if diag is not None else (),
        check="probes",
    )


class RecordOwners:
    """Which installed distribution owns a file or a top-level module, read from each RECORD."""

    def __init__(self, inv: Inventory) -> None:
        self._paths: dict[str, str] = {}
        self._modules: dict[str, str] = {}
        self.tops: dict[str, set[str]] = {}
        """Each distribution's top-level modules (packages, modules, extensions), from its RECORD."""
        self._versions = {name: d.raw_version or "" for name, d in inv.winners.items()}
        for dist in reversed(inv.dists):  # the first copy on sys.path wins
            if dist.planned or not dist.has_record or not dist.path:
                continue
            try:
                record = Path(dist.path, "RECORD").read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for line in record.splitlines():
                rel = line.rsplit(",", 2)[0].strip().strip('"')
                if not rel or rel.startswith("/"):
                    continue
                self._paths[os.path.normpath(os.path.join(dist.location, rel))] = dist.name
                top = rel.split("/")[0]
                if top.endswith(".py"):
                    top = top[:-3]
                elif "/" not in rel and top.endswith((".so", ".pyd")):
                    top = top.split(".")[0]
                elif "/" not in rel or top.endswith((".dist-info", ".egg-info", ".data")) or top == "..":
                    continue
                if top.isidentifier():
                    self._modules[top] = dist.name
                    self.tops.setdefault(dist.name, set()).add(top)

    def of_path(self, path: str) -> str | None:
        return self._paths.get(os.path.normpath(path))

    def of_module(self, module: str) -> str | None:
        return self._modules.get(module.split(".", maxsplit=1)[0])

    def version(self, name: str) -> str | None:
        return self._versions.get(canonical(name)) or None
