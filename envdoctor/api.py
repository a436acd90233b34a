"""The public API: check(), what_if() and assert_compatible(); ``envdoctor.pin`` is envdoctor.fix.pin.pin.
Quiet, returns values, never exits. A thin facade: the options are checked here, the work is done by
envdoctor.diagnose."""

from __future__ import annotations

import os
from collections.abc import Sequence

from envdoctor import diagnose
from envdoctor.diagnose import DEFAULT_TIMEOUT, TRAIN_PRECISIONS, listed
from envdoctor.errors import IncompatibleEnvironmentError, UsageError
from envdoctor.progress import Progress, Silent
from envdoctor.redact import Redactor, redacted
from envdoctor.report import Report, Severity
from envdoctor.target import Target

__all__ = ["DEFAULT_TIMEOUT", "assert_compatible", "check", "what_if"]


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
    more. Raises UsageError (bad ``python``, an ``imports`` entry that is not an import statement, an
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
    report = diagnose.check_target(
        target,
        symbols=symbols,
        cache=cache,
        timeout=timeout,
        progress=progress,
        imports=imports,
        probes=probes,
        probe_all=probe_all,
    )
    if train or precision is not None:
        progress.step("running one training step per precision (fp32, fp16, bf16) in the target")
        report = diagnose.with_train_step(report, target.python, timeout=timeout, precision=precision)
    return redacted(report, Redactor.from_environment())


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
    (envdoctor.predict.materialize), and the static checks run on that future environment.

    Raises RequirementsError (a bad requirements line, with file and line), UsageError (nothing to
    install), TargetError, and ResolveError when the index cannot be reached (``offline``). When pip
    itself refuses the install (conflicting requirements) the report says so as an error finding.
    """
    from envdoctor.errors import check_timeout
    from envdoctor.predict.reqfile import parse_requirements_text

    check_timeout(timeout)
    check_timeout(resolve_timeout, "resolve_timeout")
    install, requirements = listed(install), listed(requirements)
    if not install and not requirements:
        raise UsageError("nothing to check: give --install SPEC or --requirements FILE")
    for i, spec in enumerate(install, 1):
        parse_requirements_text(spec, file=f"--install #{i}")
    progress = progress if progress is not None else Silent()
    return diagnose.what_if_target(
        python, install, requirements, timeout=timeout, resolve_timeout=resolve_timeout, progress=progress
    )


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
