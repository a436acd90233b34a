"""The public API: check() and assert_compatible(). Quiet, returns values, never exits."""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envdoctor import warm
from envdoctor.cache import Cache, default_dir
from envdoctor.errors import IncompatibleEnvironmentError, UsageError
from envdoctor.progress import Progress, Silent
from envdoctor.redact import Redactor
from envdoctor.report import SCHEMA, Finding, Report, Severity, Skipped, Summary
from envdoctor.target import Target

if TYPE_CHECKING:
    from envdoctor.importers import Lookup
    from envdoctor.inventory import Inventory
    from envdoctor.matrix import Matrix, MatrixError
    from envdoctor.resolve import Resolution
    from envdoctor.sources import SourceIndex


def _debug(message: str) -> None:
    """Log ``message`` with the exception being handled (logging is loaded only then)."""
    import logging

    logging.getLogger(__name__).debug(message, exc_info=True)


DEFAULT_TIMEOUT = 60.0
"""Seconds one probe may take before its process group is killed."""


def check(
    *,
    python: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    symbols: bool = True,
    cache: bool = True,
    progress: Progress | None = None,
    train: bool = False,
    precision: str | None = None,
    probes: bool = False,
    imports: Sequence[str] = (),
    probe_all: bool = False,
    step_env: Mapping[str, str] | None = None,
) -> Report:
    """Check the environment of ``python`` (default: this interpreter) and return the Report.

    Imports nothing from the environment under test: the inventory is read by a probe in a
    subprocess (in this process, with the same standard-library code, when ``python`` is this
    interpreter), sources are read as text. When the environment and the options are those of the
    last check of this interpreter (its fingerprint: envdoctor.warm), that check's report answers.
    ``symbols``: also check cross-package imports (reads installed sources; cached per distribution
    unless ``cache`` is False). ``probes`` (or any ``imports``, statements like ``"from x import y"``):
    after the static checks, run the watched import probes and these statements for real, each in its
    own subprocess of ``python`` (envdoctor.runtime.imports), ``timeout`` seconds each; ``probe_all``:
    also ``import TOP`` for the top-level modules of every other installed distribution. ``train``:
    also run one real training step per precision in the target (envdoctor.runtime.step);
    ``precision`` ("no", "fp16", "bf16") is the one the user means to train in: its problems weigh
    more; ``step_env``: the step probe's whole environment (``check --distributed`` leaves the launcher's
    variables out, so Accelerate does not join the launch's process group). Raises UsageError (bad
    ``python``, an ``imports`` entry that is not an import statement, an
    unknown precision) or TargetError (it cannot be inspected).
    """
    from envdoctor.errors import check_timeout

    check_timeout(timeout)
    if precision is not None and precision not in TRAIN_PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(TRAIN_PRECISIONS)}, not {precision!r}")
    imports = listed(imports)
    if imports:
        from envdoctor.runtime.imports import parse_statement

        for statement in imports:
            parse_statement(statement)
    progress = progress if progress is not None else Silent()
    target = Target.resolve(python)
    progress.step(f"reading the environment of {target.python}")
    store = Cache(default_dir() if cache else None)
    if probes or imports or probe_all:  # the probes need the inventory itself, so no stored report answers
        from envdoctor.inventory import Inventory

        inv = Inventory.from_payload(_inventory(target, {}, timeout))
        progress.step(f"checking {len(inv.dists)} distributions")
        report = check_inventory(inv, symbols=symbols, cache=store)
        report = _with_probes(
            report,
            python=target.python,
            inv=inv,
            imports=imports,
            timeout=timeout,
            progress=progress,
            every=probe_all,
        )
    else:
        entry = warm.key(target.python, {"symbols": symbols})
        last = warm.load(store, entry)
        if last is not None and last.unchanged():
            report = last.report
        else:
            report = _check_target(target, last, store, entry, symbols=symbols, timeout=timeout, progress=progress)
    if train or precision is not None:
        progress.step("running one training step per precision (fp32, fp16, bf16) in the target")
        report = _with_train_step(report, target.python, timeout=timeout, precision=precision, env=step_env)
    return redacted(report, Redactor.from_environment())


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
    payload = _inventory(target, {"known": last.fingerprint} if last else {}, timeout)
    if last is not None and payload.get("unchanged") and payload.get("fingerprint") == last.fingerprint:
        return last.report
    from envdoctor.inventory import Inventory

    inv = Inventory.from_payload(payload)
    progress.step(f"checking {len(inv.dists)} distributions")
    report = check_inventory(inv, symbols=symbols, cache=store)
    warm.store(store, entry, payload, report)
    store.trim()
    return report


def _inventory(target: Target, request: dict[str, Any], timeout: float) -> Mapping[str, Any]:
    """The inventory probe's result: computed in this process when the target is this interpreter."""
    if target.is_current:
        try:
            return warm.inventory_here(request)
        except Exception:  # the probe's code failing here is retried as a probe, which reports it
            _debug("the in-process inventory failed")
    return target.probe("inventory", request, timeout=timeout)


TRAIN_PRECISIONS = ("no", "fp16", "bf16")
"""Accelerate's mixed_precision values the training step runs ("no" is fp32)."""


def _with_train_step(
    report: Report, python: str, *, timeout: float, precision: str | None, env: Mapping[str, str] | None = None
) -> Report:
    from envdoctor.matrix import MatrixError
    from envdoctor.runtime import step

    matrix = load_matrix(Cache(default_dir()))
    facts = () if isinstance(matrix, MatrixError) else matrix.hardware
    done = step.run(python, timeout=timeout, requested=precision, facts=facts, env=env)
    built = Report.build(
        [*report.findings, *done.findings],
        skipped=[*report.skipped, *done.skipped],
        summary=report.summary,
        checks=[*report.checks, step.CHECK],
        train=done.step.to_dict() if done.step is not None else None,
    )
    return dataclasses.replace(built, probes=report.probes)  # the import probes, when they ran first


def _with_probes(
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
    from envdoctor.facts import Facts
    from envdoctor.matrix import MatrixError
    from envdoctor.runtime.imports import RecordOwners, load_probes, probe_findings, run_imports, select

    skipped = list(report.skipped)
    try:
        watched = load_probes()
    except MatrixError as exc:
        skipped.append(Skipped("probes", f"the probe list is invalid: {exc}"))
        watched = ()
    owners = RecordOwners(inv)
    chosen = select(watched, inv, imports, owners.tops if every else None)
    progress.step(f"running {len(chosen)} import probes, each in its own process (at most {timeout:g} s each)")

    def landed(result: Any) -> None:
        progress.step(f"  `{result.probe.statement}`: {result.outcome(timeout)}")

    results = run_imports(python, chosen, timeout=timeout, owners=owners, facts=Facts.shipped(), on_result=landed)
    static, new = probe_findings(report.findings, results, timeout)
    return dataclasses.replace(
        Report.build([*static, *new], skipped=skipped, summary=report.summary, checks=[*report.checks, "probes"]),
        probes=tuple(r.to_dict() for r in results),
    )


def what_if(
    *,
    python: str | os.PathLike[str] | None = None,
    install: Sequence[str] = (),
    requirements: Sequence[str | os.PathLike[str]] = (),
    timeout: float = DEFAULT_TIMEOUT,
    resolve_timeout: float = 600.0,
    progress: Progress | None = None,
) -> Report:
    """Check the environment ``python`` would have after ``pip install INSTALL... -r REQUIREMENTS...``,
    without installing: pip's resolver says what would change (``pip install --dry-run --report`` in the
    target), the new releases' wheels are downloaded into envdoctor's cache and read like installed ones
    (envdoctor.materialize), and the static checks run on that future environment.

    Raises RequirementsError (a bad requirements line, with file and line), UsageError (nothing to
    install), TargetError, and ResolveError when the index cannot be reached (``offline``). When pip
    itself refuses the install (conflicting requirements) the report says so as an error finding.
    """
    from envdoctor.errors import check_timeout
    from envdoctor.reqfile import parse_requirements_text
    from envdoctor.resolve import ResolveError, dry_run

    check_timeout(timeout)
    check_timeout(resolve_timeout, "resolve_timeout")
    install, requirements = listed(install), listed(requirements)
    if not install and not requirements:
        raise UsageError("nothing to check: give --install SPEC or --requirements FILE")
    for i, spec in enumerate(install, 1):
        parse_requirements_text(spec, file=f"--install #{i}")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="envdoctor-reqs-") as copies:
        # each file is read once: a pipe (`-r <(...)`) would be empty the second time, so pip gets a copy
        files = [_read_once(path, Path(copies) / f"requirements-{i}.txt") for i, path in enumerate(requirements, 1)]
        progress = progress if progress is not None else Silent()
        target = Target.resolve(python)
        progress.step(f"reading the environment of {target.python}")
        from envdoctor.inventory import Inventory

        inv = Inventory.from_payload(_inventory(target, {}, timeout))
        args = [*install, *(a for path in files for a in ("-r", path))]
        shown = " ".join([*install, *(a for path in requirements for a in ("-r", os.fspath(path)))])
        progress.step(f"asking pip what `pip install {shown}` would do (nothing is installed)")
        try:
            resolution = dry_run(target.python, args, timeout=resolve_timeout, known=inv)
        except ResolveError as exc:
            if exc.offline:
                raise
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
            report = Report.build([refused], summary=_summary(inv), checks=["what-if"])
            return redacted(report, Redactor.from_environment())
    return _what_if_report(target.python, inv, resolution, shown, progress)


def listed(values: Any) -> list[Any]:
    """A single string (or path) is one item: ``keep="idna"`` is one name, not four letters."""
    return [values] if isinstance(values, str | os.PathLike) else list(values)


def _read_once(path: str | os.PathLike[str], copy: Path) -> str:
    """Read and check requirements file ``path`` (a bad line is a clear error with its file and line,
    before pip runs); return what pip should read: ``path`` itself when it is a regular file, else a copy
    of the bytes read (a pipe, ``/dev/stdin``, ``<(...)``). A relative ``-r``/``-c`` include in a pipe
    has no folder to be relative to, for pip as for envdoctor: it is reported as missing."""
    from envdoctor.reqfile import read_requirements

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
    from envdoctor.materialize import materialize
    from envdoctor.resolve import future_inventory

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


def _summary(inv: Inventory) -> Summary:
    from envdoctor.torchbuild import TORCH_FAMILY

    return Summary(
        python=inv.python.executable,
        python_version=inv.python.version,
        distributions=len(inv.winners),
        paths=inv.sys_path,
        torch_builds=tuple((n, d.raw_version or "") for n, d in sorted(inv.winners.items()) if n in TORCH_FAMILY),
    )


def check_inventory(
    inv: Inventory, *, symbols: bool = True, cache: Cache | None = None, releases: Lookup | None = None
) -> Report:
    """Run the static checks on an Inventory. Reads installed files, starts no process, unless ``releases``
    is given: then an error's fix that the facts do not cover is read from the importer's release wheels
    (pip lists and downloads them; envdoctor.importers)."""
    from envdoctor.checks.metadata import check_metadata

    findings = check_metadata(inv)
    checks = ["metadata"]
    skipped: list[Skipped] = []
    index: SourceIndex | None = None
    if symbols:
        checks.append("symbols")
        try:
            found, index = _symbols(inv, cache or Cache(None), releases)
            findings += found
        except Exception as exc:  # a bug in one check must not hide the others' findings
            _debug("the symbols check failed")
            skipped.append(Skipped("symbols", f"internal error: {type(exc).__name__}: {exc}"))
    checks.append("matrix")
    try:
        findings += _rules(inv, cache or Cache(None), index)
    except Exception as exc:
        _debug("the matrix check failed")
        skipped.append(Skipped("matrix", f"internal error: {type(exc).__name__}: {exc}"))
    if cache is not None:
        cache.trim()
    return Report.build(findings, skipped=skipped, summary=_summary(inv), checks=checks)


def load_matrix(cache: Cache | None = None) -> Matrix | MatrixError:
    """The shipped matrix, or the MatrixError that says what is wrong with it (never raised)."""
    from envdoctor.checks.rules import SIGNALS
    from envdoctor.matrix import MatrixError, load
    from envdoctor.resources import data_dir

    try:
        return load(data_dir("matrix"), signals=SIGNALS, cache=cache)
    except MatrixError as exc:
        return exc


def _rules(inv: Inventory, cache: Cache, index: SourceIndex | None) -> list[Finding]:
    from envdoctor.checks.rules import Files, check_rules

    return check_rules(inv, load_matrix(cache), Files(cache, index.importing if index is not None else None))


_STORED_FINDING = {
    **dict.fromkeys(("id", "severity", "check", "title", "detail"), str),
    **{key: [str] for key in ("packages", "evidence", "fix", "advice")},
}


def _symbols(inv: Inventory, cache: Cache, releases: Lookup | None = None) -> tuple[list[Finding], SourceIndex | None]:
    """The symbols check, or its stored result when no distribution changed since it last ran (not with
    ``releases``: what the index answers may change); and the SourceIndex it built (None when the stored
    result answered)."""
    from envdoctor.checks.symbols import check_symbols, unverified
    from envdoctor.facts import Facts
    from envdoctor.sources import SourceIndex, fingerprint

    key = f"symbols-{fingerprint(inv)}-{SCHEMA}"  # findings stored in an older form are not reused
    stored = cache.get(key, {"findings": [_STORED_FINDING]}) if releases is None else None
    if stored is not None:
        try:
            return [Finding.from_dict(f) for f in stored["findings"]], None
        except (KeyError, TypeError, ValueError):
            pass  # an unreadable entry is recomputed and overwritten
    facts = Facts.shipped()
    index = SourceIndex(inv, cache, facts)
    found = check_symbols(index, facts, releases) + unverified(index)
    index.save()
    if releases is None:
        cache.put(key, {"findings": [f.to_dict() for f in found]})
    return found, index


def assert_compatible(
    *,
    python: str | os.PathLike[str] | None = None,
    fail_on: Severity | str = Severity.ERROR,
    timeout: float = DEFAULT_TIMEOUT,
) -> Report:
    """Return the Report when nothing reaches ``fail_on``; raise IncompatibleEnvironmentError otherwise.

    Meant for the top of a training script: prints nothing, imports nothing it checks.
    """
    threshold = Severity.parse(fail_on) if isinstance(fail_on, str) else fail_on
    report = check(python=python, timeout=timeout)
    bad = report.at_least(threshold)
    if bad:
        lines = "\n".join(f"  [{f.id}] {f.title}" for f in bad)
        raise IncompatibleEnvironmentError(report, f"{report.verdict()}\n{lines}")
    return report


def redacted(report: Report, redact: Callable[[str], str]) -> Report:
    """A copy of ``report`` with every string passed through ``redact``."""

    def one(f: Finding) -> Finding:
        return dataclasses.replace(
            f,
            title=redact(f.title),
            detail=redact(f.detail),
            evidence=tuple(redact(e) for e in f.evidence),
            fix=tuple(redact(x) for x in f.fix),
            advice=tuple(redact(x) for x in f.advice),
        )

    summary = dataclasses.replace(
        report.summary,
        python=redact(report.summary.python),
        paths=tuple(redact(p) for p in report.summary.paths),
    )
    skipped = tuple(dataclasses.replace(s, reason=redact(s.reason)) for s in report.skipped)
    train = _redact_strings(report.train, redact) if report.train is not None else None
    return dataclasses.replace(
        report,
        findings=tuple(one(f) for f in report.findings),
        summary=summary,
        skipped=skipped,
        train=train,
        probes=tuple(_redact_strings(p, redact) for p in report.probes),
        distributed=_redact_strings(report.distributed, redact) if report.distributed is not None else None,
    )


def _redact_strings(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` (JSON-shaped) with every string in it passed through ``redact`` (error messages name paths)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_strings(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_strings(v, redact) for v in value]
    return value
