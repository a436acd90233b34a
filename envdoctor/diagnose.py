"""The orchestrator: which checks run on an Inventory, in which order, and how their results become one
Report. Every static check has one shape (``Check``: an Inventory and a ``Context`` in, findings or
``CouldNotCheck`` out); the runtime stages (import probes, the training step) run after them on the
report. The public functions (envdoctor.api, envdoctor.fix.pin) call this module; it prints nothing and
returns values.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from envdoctor import warm
from envdoctor.cache import Cache, default_dir
from envdoctor.errors import UsageError
from envdoctor.progress import Progress
from envdoctor.redact import Redactor, redacted
from envdoctor.report import SCHEMA, Finding, Report, Severity, Skipped, Summary
from envdoctor.target import Target

if TYPE_CHECKING:
    from envdoctor.inventory import Inventory
    from envdoctor.knowledge.importers import Lookup
    from envdoctor.knowledge.matrix import Matrix, MatrixError
    from envdoctor.knowledge.wheelfacts import Facts
    from envdoctor.predict.dryrun import Resolution, ResolveError
    from envdoctor.source.index import SourceIndex
    from envdoctor.source.parallel import Forked


def _debug(message: str) -> None:
    """Log ``message`` with the exception being handled (logging is loaded only then)."""
    import logging

    logging.getLogger(__name__).debug(message, exc_info=True)


DEFAULT_TIMEOUT = 60.0
"""Seconds one probe may take before its process group is killed."""


@dataclass
class Context:
    """What the static checks share in one run: the cache, the release reader of pin's online path, and the
    SourceIndex the symbols check built (the matrix check's signals reuse its text pass)."""

    cache: Cache
    releases: Lookup | None = None
    index: SourceIndex | None = None


@dataclass(frozen=True)
class CouldNotCheck:
    """A check that could not run: the reason, shown as a skipped check (never a finding)."""

    reason: str


class Check(Protocol):
    """One static check: a name (the ``check`` field of its findings) and a run over the Inventory."""

    @property
    def name(self) -> str: ...

    def run(self, inv: Inventory, context: Context) -> list[Finding] | CouldNotCheck: ...


@dataclass(frozen=True)
class _Check:
    """A check from a function. ``guarded``: an exception in it (a bug) becomes ``CouldNotCheck``, so the
    other checks' findings still show; the metadata check is not guarded (it reads only the Inventory)."""

    name: str
    function: Callable[[Inventory, Context], list[Finding]]
    guarded: bool = True

    def run(self, inv: Inventory, context: Context) -> list[Finding] | CouldNotCheck:
        if not self.guarded:
            return self.function(inv, context)
        try:
            return self.function(inv, context)
        except Exception as exc:  # a bug in one check must not hide the others' findings
            _debug(f"the {self.name} check failed")
            return CouldNotCheck(f"internal error: {type(exc).__name__}: {exc}")


def _metadata(inv: Inventory, context: Context) -> list[Finding]:
    from envdoctor.checks.metadata import check_metadata

    return check_metadata(inv)


def _symbols_check(inv: Inventory, context: Context, started: Started | None = None) -> list[Finding]:
    found, context.index = _symbols(inv, context.cache, context.releases, started)
    return found


def _calls_check(inv: Inventory, context: Context) -> list[Finding]:
    """The calls check (envdoctor.checks.symbols.calls), stored like the symbols check's result."""
    from envdoctor.checks.symbols.calls import check_calls
    from envdoctor.knowledge.wheelfacts import Facts
    from envdoctor.source.index import SourceIndex, fingerprint

    key = f"calls-{fingerprint(inv)}-{SCHEMA}"
    stored = context.cache.get(key, {"findings": [_STORED_FINDING]})
    if stored is not None:
        try:
            return [Finding.from_dict(f) for f in stored["findings"]]
        except (KeyError, TypeError, ValueError):
            pass  # an unreadable entry is recomputed and overwritten
    facts = Facts.shipped()
    index = context.index or SourceIndex(inv, context.cache, facts)
    found = check_calls(index, facts)
    index.save()
    context.cache.put(key, {"findings": [f.to_dict() for f in found]})
    return found


def _rules(inv: Inventory, context: Context) -> list[Finding]:
    from envdoctor.checks.rules import check_rules
    from envdoctor.checks.signals.base import Files

    index = context.index
    return check_rules(inv, load_matrix(context.cache), Files(context.cache, index.importing if index else None))


def static_checks(*, symbols: bool = True) -> list[Check]:
    """The static checks, in the order they run and report."""
    checks: list[Check] = [_Check("metadata", _metadata, guarded=False)]
    if symbols:
        checks += [_Check("symbols", _symbols_check), _Check("calls", _calls_check)]
    checks.append(_Check("matrix", _rules))
    return checks


def check_inventory(
    inv: Inventory, *, symbols: bool = True, cache: Cache | None = None, releases: Lookup | None = None
) -> Report:
    """Run the static checks on an Inventory. Reads installed files, starts no process, unless ``releases``
    is given: then an error's fix that the facts do not cover is read from the importer's release wheels
    (pip lists and downloads them; envdoctor.knowledge.importers)."""
    from envdoctor.source.syntax import collector_paused

    context = Context(cache or Cache(None), releases)
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    checks = static_checks(symbols=symbols)
    names = [check.name for check in checks]
    # The collector paused: the checks leave little cyclic garbage (322 objects on the hf-stack), and each full
    # collection walked every object they hold (~0.25 s of CPU in a cold hf-stack check).
    with collector_paused():
        results = overlapped(inv, context, checks) if symbols else [check.run(inv, context) for check in checks]
    for check, result in zip(checks, results, strict=True):
        if isinstance(result, CouldNotCheck):
            skipped.append(Skipped(check.name, result.reason))
        else:
            findings += result
    if cache is not None:
        cache.trim()
    return Report.build(findings, skipped=skipped, summary=summary_of(inv), checks=names)


CheckResult = list[Finding] | CouldNotCheck
"""What one static check gives: its findings, or why it could not run."""
Started = Callable[["SourceIndex", "Facts"], Callable[[], list[Finding]] | None]
"""Called by the symbols check with its new index: None, or what gives its undeclared part (computed elsewhere)."""
_Handed = tuple[list[Finding], dict[str, str], list[CheckResult], dict[str, Any], bool]
"""What the forked child sends back (``_in_child``)."""


def overlapped(inv: Inventory, context: Context, checks: Sequence[Check]) -> list[CheckResult]:
    """The results of ``checks`` in order, as running them one after the other gives. When the symbols check is
    computed (no stored result) over 500 files or more and fork is safe here (envdoctor.source.parallel), the
    text pass runs first; then the symbols check's undeclared part and the calls and matrix checks (they need
    its imports, not the broken-name findings) run in a forked child while this process finds the broken names.
    A failed child (killed, raised, cut result): its part runs here, as before; a failed symbols check: the calls
    and matrix checks run here afterwards."""
    if [c.name for c in checks] != ["metadata", "symbols", "calls", "matrix"]:
        return [check.run(inv, context) for check in checks]
    overlap = _Overlap(inv, context, checks[2:])
    results = [checks[0].run(inv, context)]
    with overlap:
        symbols = _Check("symbols", functools.partial(_symbols_check, started=overlap.start))
        results.append(symbols.run(inv, context))
        results += overlap.results(here=isinstance(results[-1], CouldNotCheck))
    return results


class _Overlap:
    """The symbols check's undeclared part and the checks after it, started in a forked child once the text pass
    is done."""

    def __init__(self, inv: Inventory, context: Context, rest: Sequence[Check]) -> None:
        self.inv, self.context, self.rest = inv, context, rest
        self.index: SourceIndex | None = None
        self.child: Forked[_Handed] | None = None
        self.got: tuple[list[CheckResult], bool] | None = None

    def start(self, index: SourceIndex, facts: Facts) -> Callable[[], list[Finding]] | None:
        """Run the text pass (what the symbols check reads first), then fork the child on a copy of ``index``:
        what gives the undeclared part, or None (no child: the symbols check does it all here)."""
        from envdoctor.source.parallel import MIN_ITEMS, fork_call

        if sum(len(files.py) for files in index.files.values()) < MIN_ITEMS:
            return None  # a fork costs more than it saves
        index.imports(next(iter(index.files.values())))  # the text pass: every file, over the cores
        child = dataclasses.replace(self.context, index=index)
        self.child = fork_call(functools.partial(_in_child, self.inv, child, facts, self.rest))
        if self.child is None:
            return None
        self.index = index
        return functools.partial(self.undeclared, index, facts)

    def undeclared(self, index: SourceIndex, facts: Facts) -> list[Finding]:
        """The child's undeclared findings, its index entries and unread files taken over (``save()`` writes
        them with this process's); when it failed: computed here (and the other checks later, here)."""
        from envdoctor.source.handover import adopt

        got = self.child.join() if self.child is not None else None
        if got is None:
            self.stop()
            from envdoctor.checks.symbols.check import undeclared

            return undeclared(index, facts)
        found, unread, results, entries, wrote = got
        index.unread.update(unread)
        adopt(index, entries)  # what the child extracted, stored as if its checks had run here
        self.got = results, wrote
        return found

    def results(self, *, here: bool) -> list[CheckResult]:
        """The child's results; ``here``, or when it failed: the checks run in this process (the child stopped)."""
        if here or self.got is None or self.index is None:
            self.stop()
            return [check.run(self.inv, self.context) for check in self.rest]
        results, wrote = self.got
        self.index.save()
        self.context.cache.wrote = self.context.cache.wrote or wrote
        return results

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    def __enter__(self) -> _Overlap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()  # Ctrl-C, SIGTERM: no child outlives the run


def _in_child(inv: Inventory, context: Context, facts: Facts, rest: Sequence[Check]) -> _Handed:
    """In the forked child: the undeclared findings and the files they could not read (an exception fails the
    child: the parent computes them, and fails as the checks in order do), the other checks' results, the index
    entries they would have saved (the parent saves them: envdoctor.source.handover) and whether they stored
    anything else (their own cache entries, written here)."""
    from envdoctor.checks.symbols.check import undeclared
    from envdoctor.source.handover import hold_saves, unread_since

    assert context.index is not None  # started with the index of the text pass
    held = hold_saves(context.index)
    with unread_since(context.index) as unread:
        found = undeclared(context.index, facts)
    context.index.save()  # held: what the undeclared part extracted, whatever the other checks do
    results = [check.run(inv, context) for check in rest]
    return found, unread, results, held, context.cache.wrote


def load_matrix(cache: Cache | None = None) -> Matrix | MatrixError:
    """The shipped matrix, or the MatrixError that says what is wrong with it (never raised)."""
    from envdoctor.checks.rules import SIGNALS
    from envdoctor.knowledge.matrix import MatrixError, load
    from envdoctor.resources import data_dir

    try:
        return load(data_dir("matrix"), signals=SIGNALS, cache=cache)
    except MatrixError as exc:
        return exc


_STORED_FINDING = {
    **dict.fromkeys(("id", "severity", "check", "title", "detail"), str),
    **{key: [str] for key in ("packages", "evidence", "fix", "advice")},
}


def _symbols(
    inv: Inventory, cache: Cache, releases: Lookup | None = None, started: Started | None = None
) -> tuple[list[Finding], SourceIndex | None]:
    """The symbols check, or its stored result when no distribution changed since it last ran (not with
    ``releases``: what the index answers may change); and the SourceIndex it built (None when the stored
    result answered). ``started``: called with the new index before the check reads it (not when stored); what
    it gives, if anything, gives the undeclared part (``check_symbols``' second half) after the broken names."""
    from envdoctor.checks.symbols.check import broken_names, check_symbols, unverified
    from envdoctor.knowledge.wheelfacts import Facts
    from envdoctor.source.index import SourceIndex, fingerprint

    key = f"symbols-{fingerprint(inv)}-{SCHEMA}"  # findings stored in an older form are not reused
    stored = cache.get(key, {"findings": [_STORED_FINDING]}) if releases is None else None
    if stored is not None:
        try:
            return [Finding.from_dict(f) for f in stored["findings"]], None
        except (KeyError, TypeError, ValueError):
            pass  # an unreadable entry is recomputed and overwritten
    facts = Facts.shipped()
    index = SourceIndex(inv, cache, facts)
    elsewhere = started(index, facts) if started is not None else None
    if elsewhere is None:
        found = check_symbols(index, facts, releases)
    else:
        found = broken_names(index, facts, releases) + elsewhere()
    found += unverified(index)
    index.save()
    if releases is None:
        cache.put(key, {"findings": [f.to_dict() for f in found]})
    return found, index


def _check_target(
    target: Target,
    last: warm.Stored | None,
    store: Cache,
    entry: str,
    *,
    symbols: bool,
    timeout: float,
    progress: Progress,
) -> Report:
    """The report of ``target``: the stored one when the probe says the environment is unchanged, else the
    checks' (then stored for the next run)."""
    payload = target.inventory_payload({"known": last.fingerprint} if last else {}, timeout=timeout)
    if last is not None and payload.get("unchanged") and payload.get("fingerprint") == last.fingerprint:
        return last.report
    from envdoctor.inventory import Inventory

    inv = Inventory.from_payload(payload)
    progress.step(f"checking {len(inv.dists)} distributions")
    report = check_inventory(inv, symbols=symbols, cache=store)
    warm.store(store, entry, payload, report)
    store.trim()
    return report


TRAIN_PRECISIONS = ("no", "fp16", "bf16", "fp8")
"""Accelerate's mixed_precision values the training step runs ("no" is fp32)."""


def with_training(
    report: Report,
    target: Target,
    *,
    timeout: float,
    precision: str | None,
    accelerate_config: str | os.PathLike[str] | None,
    progress: Progress,
    step_env: Mapping[str, str] | None = None,
) -> Report:
    """``report`` with the training stages run in the target: one step per precision, one step of the
    installed stack (Trainer, resume, LoRA, SFTTrainer), and the accelerate / DeepSpeed config lint."""
    progress.step("running one training step per precision (fp32, fp16, bf16) in the target")
    report = with_train_step(
        report, target.python, timeout=timeout, precision=precision, progress=progress, env=step_env
    )
    progress.step("running one step of the installed stack (Trainer, resume, LoRA, SFTTrainer) in the target")
    report = _with_stack_step(report, target, timeout=timeout, progress=progress, env=step_env)
    return _with_config_lint(report, target.python, path=accelerate_config, timeout=timeout)


def with_train_step(
    report: Report,
    python: str,
    *,
    timeout: float,
    precision: str | None,
    progress: Progress | None = None,
    env: Mapping[str, str] | None = None,
) -> Report:
    from envdoctor.knowledge.matrix import MatrixError
    from envdoctor.runtime import step

    matrix = load_matrix(Cache(default_dir()))
    facts = () if isinstance(matrix, MatrixError) else matrix.hardware
    heard = _indented(progress) if progress is not None else None
    done = step.run(python, timeout=timeout, requested=precision, facts=facts, on_progress=heard, env=env)
    built = Report.build(
        [*report.findings, *done.findings],
        skipped=[*report.skipped, *done.skipped],
        summary=report.summary,
        checks=[*report.checks, step.CHECK],
        train=done.step.to_dict() if done.step is not None else None,
    )
    return dataclasses.replace(built, probes=report.probes)  # the import probes, when they ran first


def _indented(progress: Progress) -> Callable[[str], None]:
    """A probe's progress line, as a step under the one that announced the probe."""

    def heard(line: str) -> None:
        progress.step(f"  {line}")

    return heard


def _with_stack_step(
    report: Report, target: Target, *, timeout: float, progress: Progress, env: Mapping[str, str] | None = None
) -> Report:
    """``report`` with the stack step (envdoctor.runtime.stack): its failures as findings, its results under
    ``train["stack"]``."""
    from envdoctor.knowledge.wheelfacts import Facts
    from envdoctor.runtime import stack
    from envdoctor.runtime.imports import RecordOwners

    owners = RecordOwners(target.inventory(timeout=timeout))
    heard = _indented(progress)
    done = stack.run(target.python, timeout=timeout, owners=owners, facts=Facts.shipped(), on_progress=heard, env=env)
    for r in done.stack.results if done.stack is not None else ():
        progress.step(f"  {stack.LABEL.get(r.step, r.step)}: {r.status}")
    train = dict(report.train or {})
    if done.stack is not None:
        train["stack"] = done.stack.to_dict()
    built = Report.build(
        [*report.findings, *done.findings],
        skipped=[*report.skipped, *done.skipped],
        summary=report.summary,
        checks=[*report.checks, stack.CHECK],
        train=train,
    )
    return dataclasses.replace(built, probes=report.probes)


def _with_config_lint(report: Report, python: str, *, path: str | os.PathLike[str] | None, timeout: float) -> Report:
    """``report`` with the accelerate / DeepSpeed config lint (envdoctor.runtime.config_lint) against the device
    facts the precision step reported."""
    from envdoctor.knowledge.matrix import MatrixError
    from envdoctor.runtime import config_lint

    chosen = os.path.abspath(os.fspath(path)) if path is not None else None
    payload, skipped = config_lint.run(python, path=chosen, cwd=os.getcwd(), timeout=timeout)
    found: list[Finding] = []
    if payload is not None:
        matrix = load_matrix(Cache(default_dir()))
        facts = () if isinstance(matrix, MatrixError) else matrix.hardware
        found = config_lint.lint(payload, (report.train or {}).get("device") or {}, facts)
    train = dict(report.train or {})
    train["config"] = {"path": (payload or {}).get("config", {}).get("path"), "source": (payload or {}).get("source")}
    built = Report.build(
        [*report.findings, *found],
        skipped=[*report.skipped, *([skipped] if skipped else [])],
        summary=report.summary,
        checks=[*report.checks, config_lint.CHECK],
        train=train,
    )
    return dataclasses.replace(built, probes=report.probes)


def with_probes(
    report: Report,
    *,
    python: str,
    inv: Inventory,
    imports: Sequence[str],
    timeout: float,
    progress: Progress,
    every: bool = False,
) -> Report:
    """``report`` with the import probes run: their failures merged into the static findings that explain
    them, or added as import-failed findings; every probe's outcome in ``report.probes``."""
    from envdoctor.knowledge.matrix import MatrixError
    from envdoctor.runtime.imports import RecordOwners, load_probes, probe_findings, select

    skipped = list(report.skipped)
    try:
        watched = load_probes()
    except MatrixError as exc:
        skipped.append(Skipped("probes", f"the probe list is invalid: {exc}"))
        watched = ()
    owners = RecordOwners(inv)
    chosen = select(watched, inv, imports, owners.tops if every else None)
    results = _run_probes(python, inv, chosen, owners, timeout=timeout, progress=progress)
    static, new = probe_findings(report.findings, results, timeout)
    return dataclasses.replace(
        Report.build([*static, *new], skipped=skipped, summary=report.summary, checks=[*report.checks, "probes"]),
        probes=tuple(r.to_dict() for r in results),
    )


def _run_probes(
    python: str, inv: Inventory, chosen: Sequence[Any], owners: Any, *, timeout: float, progress: Progress
) -> list[Any]:
    """Run the ``chosen`` import probes (a shared parent where it is safe: runtime.imports.share_levels),
    showing them live on a terminal, one line each otherwise."""
    from envdoctor.knowledge.wheelfacts import Facts
    from envdoctor.progress import StderrProgress
    from envdoctor.runtime.imports import run_imports, share_levels

    facts = Facts.shipped()
    levels = share_levels(inv, chosen)
    if isinstance(progress, StderrProgress):  # a terminal: a live view, each result as it lands
        with progress.live_probes(len(chosen), timeout) as live:
            return run_imports(
                python,
                chosen,
                timeout=timeout,
                owners=owners,
                facts=facts,
                on_result=live.landed,
                on_start=live.started,
                levels=levels,
            )
    progress.step(f"running {len(chosen)} import probes (at most {timeout:g} s each)")

    def landed(result: Any) -> None:
        progress.step(f"  `{result.probe.statement}`: {result.outcome(timeout)}")

    return run_imports(python, chosen, timeout=timeout, owners=owners, facts=facts, on_result=landed, levels=levels)


def _read_once(path: str | os.PathLike[str], copy: Path) -> str:
    """Read and check requirements file ``path`` (a bad line is a clear error with its file and line,
    before pip runs); return what pip should read: ``path`` itself when it is a regular file, else a copy
    of the bytes read (a pipe, ``/dev/stdin``, ``<(...)``). A relative ``-r``/``-c`` include in a pipe
    has no folder to be relative to, for pip as for envdoctor: it is reported as missing."""
    from envdoctor.predict.reqfile import read_requirements

    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        regular = True  # read_requirements says what is wrong with it
    if regular:
        read_requirements(path)
        return os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise UsageError(f"--requirements {os.fspath(path)}: {exc.strerror or exc}") from None
    copy.write_bytes(data)
    read_requirements(copy, display=os.fspath(path))
    return os.fspath(copy)


def _what_if_report(python: str, inv: Inventory, resolution: Resolution, shown: str, progress: Progress) -> Report:
    from envdoctor.predict.dryrun import future_inventory
    from envdoctor.predict.materialize import materialize

    future = future_inventory(inv, resolution)
    progress.step(f"reading the {len(resolution.installs)} new releases' wheels")
    future, notes = materialize(python, future, default_dir(), known=inv)
    report = check_inventory(future, cache=Cache(default_dir()))
    changes = [f"{_label(inv, r.name, r.display_name)} -> {r.version}" for r in resolution.installs]
    summary = Finding(
        id="what-if",
        severity=Severity.INFO,
        title=f"after `pip install {shown}`: "
        + (
            f"{len(changes)} distribution{'s' if len(changes) > 1 else ''} would change"
            if changes
            else "nothing changes"
        ),
        detail="; ".join(changes) or "everything asked for is already installed",
        evidence=tuple(notes),
        check="what-if",
    )
    report = Report.build(
        [*report.findings, summary], skipped=report.skipped, summary=report.summary, checks=["what-if", *report.checks]
    )
    return redacted(report, Redactor.from_environment())


def _label(inv: Inventory, name: str, display: str) -> str:
    dist = inv.get(name)
    return dist.label if dist is not None else f"{display} (new)"


def summary_of(inv: Inventory) -> Summary:
    from envdoctor.knowledge.torchbuild import TORCH_FAMILY

    return Summary(
        python=inv.python.executable,
        python_version=inv.python.version,
        distributions=len(inv.winners),
        paths=inv.sys_path,
        torch_builds=tuple((n, d.raw_version or "") for n, d in sorted(inv.winners.items()) if n in TORCH_FAMILY),
    )


def listed(values: Any) -> list[Any]:
    """A single string (or path) is one item: ``keep="idna"`` is one name, not four letters."""
    return [values] if isinstance(values, str | os.PathLike) else list(values)


def check_target(
    target: Target,
    *,
    symbols: bool,
    cache: bool,
    timeout: float,
    progress: Progress,
    imports: Sequence[str] = (),
    probes: bool = False,
    probe_all: bool = False,
) -> Report:
    """The static checks of ``target`` (the stored report when its environment is unchanged: envdoctor.warm),
    then the import probes when asked."""
    store = Cache(default_dir() if cache else None)
    if probes or imports or probe_all:  # the probes need the inventory itself, so no stored report answers
        inv = target.inventory(timeout=timeout)
        progress.step(f"checking {len(inv.dists)} distributions")
        report = check_inventory(inv, symbols=symbols, cache=store)
        return with_probes(
            report,
            python=target.python,
            inv=inv,
            imports=imports,
            timeout=timeout,
            progress=progress,
            every=probe_all,
        )
    entry = warm.key(target.python, {"symbols": symbols})
    last = warm.load(store, entry)
    if last is not None and last.unchanged():
        return last.report
    return _check_target(target, last, store, entry, symbols=symbols, timeout=timeout, progress=progress)


def what_if_target(
    python: str | os.PathLike[str] | None,
    install: list[str],
    requirements: list[str | os.PathLike[str]],
    *,
    timeout: float,
    resolve_timeout: float,
    progress: Progress,
) -> Report:
    """The report for ``python``'s environment after ``pip install INSTALL -r REQUIREMENTS``, asked of pip's
    resolver and checked on the future Inventory (envdoctor.api.what_if says what it raises)."""
    import tempfile

    from envdoctor.predict.dryrun import ResolveError, dry_run

    with tempfile.TemporaryDirectory(prefix="envdoctor-reqs-") as copies:
        # each file is read once: a pipe (`-r <(...)`) would be empty the second time, so pip gets a copy
        files = [_read_once(path, Path(copies) / f"requirements-{i}.txt") for i, path in enumerate(requirements, 1)]
        target = Target.resolve(python)
        progress.step(f"reading the environment of {target.python}")
        inv = target.inventory(timeout=timeout)
        args = [*install, *(a for path in files for a in ("-r", path))]
        shown = " ".join([*install, *(a for path in requirements for a in ("-r", os.fspath(path)))])
        progress.step(f"asking pip what `pip install {shown}` would do (nothing is installed)")
        try:
            resolution = dry_run(target.python, args, timeout=resolve_timeout, known=inv)
        except ResolveError as exc:
            if exc.offline:
                raise
            return redacted(_refused(inv, shown, exc), Redactor.from_environment())
    return _what_if_report(target.python, inv, resolution, shown, progress)


def _refused(inv: Inventory, shown: str, exc: ResolveError) -> Report:
    why = (
        "pip's resolver found no set of releases that satisfies everything"
        if exc.conflict
        else "pip refused the install"
    )
    refused = Finding(
        id="install-unresolvable",
        severity=Severity.ERROR,
        title=f"pip would refuse `pip install {shown}`: {exc.message}",
        detail=f"{why}; nothing was installed.",
        evidence=exc.details,
        check="what-if",
    )
    return Report.build([refused], summary=summary_of(inv), checks=["what-if"])
