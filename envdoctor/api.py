"""The public API: check(), what_if() and assert_compatible(); ``envdoctor.pin`` is envdoctor.fix.pin.pin.
Quiet, returns values, never exits. A thin facade: the options are checked here, the work is done by
envdoctor.diagnose."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence

from envdoctor import diagnose
from envdoctor.diagnose import DEFAULT_TIMEOUT, TRAIN_PRECISIONS, listed
from envdoctor.errors import IncompatibleEnvironmentError, UsageError
from envdoctor.progress import Progress, Silent
from envdoctor.redact import Redactor, redacted
from envdoctor.report import Finding, Report, Severity
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
    scripts: Sequence[str | os.PathLike[str]] = (),
    accelerate_config: str | os.PathLike[str] | None = None,
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
    more; the stack step and the config lint (envdoctor.runtime.stack, config_lint) run with it;
    ``accelerate_config``: the accelerate config file to lint (implies ``train``; default: accelerate's
    default location in the target). ``scripts``: also read these files (``.py``, ``.ipynb``) for imports
    and keyword arguments the installed releases do not provide (envdoctor.checks.scan). Raises UsageError
    (bad ``python``, an ``imports`` entry that is not an import statement, an unknown precision, a script
    that cannot be read) or TargetError (it cannot be inspected). ``step_env``: the step probe's whole
    environment (``check --distributed`` leaves the launcher's variables out, so Accelerate does not join the
    launch's process group).
    """
    imports = _checked_options(timeout, precision, imports)
    progress = progress if progress is not None else Silent()
    target = Target.resolve(python)
    progress.step(f"reading the environment of {target.python}")
    report = diagnose.check_target(
        target, symbols=symbols, cache=cache, timeout=timeout, progress=progress, imports=imports, probes=probes,
        probe_all=probe_all,
    )  # fmt: skip
    if train or precision is not None or accelerate_config is not None:
        report = diagnose.with_training(
            report, target, timeout=timeout, progress=progress, precision=precision,
            accelerate_config=accelerate_config, step_env=step_env,
        )  # fmt: skip
    report = _with_scripts_and_kernel(report, target, scripts, timeout=timeout, progress=progress)
    return redacted(report, Redactor.from_environment())


def _checked_options(timeout: float, precision: str | None, imports: Sequence[str]) -> list[str]:
    """Raise UsageError for a bad timeout, precision or import statement; the statements as a list."""
    from envdoctor.errors import check_timeout

    check_timeout(timeout)
    if precision is not None and precision not in TRAIN_PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(TRAIN_PRECISIONS)}, not {precision!r}")
    statements = listed(imports)
    if statements:
        from envdoctor.runtime.imports import parse_statement

        for statement in statements:
            parse_statement(statement)
    return statements


def _with_scripts_and_kernel(
    report: Report, target: Target, scripts: Sequence[str | os.PathLike[str]], *, timeout: float, progress: Progress
) -> Report:
    """``report`` with the findings of the script scan, and, when the target runs this process (a notebook
    kernel), of the modules it loaded before an install changed them."""
    if scripts:
        from envdoctor.checks.scan import scan_python

        progress.step(f"reading {len(listed(scripts))} script(s)")
        report = with_findings(report, scan_python([os.fspath(p) for p in listed(scripts)], target.python, timeout))
    if target.is_current:
        from envdoctor.runtime.kernel import stale_here

        report = with_findings(report, stale_here())
    return report


def with_findings(report: Report, findings: Sequence[Finding]) -> Report:
    """``report`` with ``findings`` added (sorted in), everything else kept."""
    if not findings:
        return report
    return dataclasses.replace(report, findings=Report.build([*report.findings, *findings]).findings)


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
    require: Mapping[str, str] | None = None,
    ignore: Sequence[str] = (),
    fail_on: Severity | str = Severity.ERROR,
    python: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    scan_caller: bool = False,
) -> None:
    """Return None when nothing reaches ``fail_on``; raise IncompatibleEnvironmentError otherwise (its
    ``report`` holds every finding, its message each failing finding with its fix).

    ``require``: project name -> version specifier the installed distribution must satisfy
    (``{"transformers": ">=4.46"}``; ``""``: installed at any version); a miss is a ``requirement-unmet``
    error. ``ignore``: finding or rule ids (``ID`` or ``ID:PACKAGE``) accepted, as ``--ignore`` does.
    ``scan_caller``: also read the calling script (``check --script``: imports and keyword arguments the
    installed releases do not provide); slower (the installed sources are indexed), and nothing for code that
    is not a file (a notebook cell).
    Meant for the top of a training script or the first cell of a notebook: prints nothing, imports
    nothing it checks, and a stale module (a package loaded before an install replaced it) fails it.
    """
    threshold = Severity.parse(fail_on) if isinstance(fail_on, str) else fail_on
    caller = _caller() if scan_caller else ""
    scripts = [caller] if caller.endswith(".py") and os.path.isfile(caller) else []
    report = check(python=python, timeout=timeout, scripts=scripts)
    if require:
        report = with_findings(report, _unmet(python, dict(require), timeout))
    if ignore:
        from envdoctor.config import Ignore, suppress

        reason = "ignored by assert_compatible(ignore=...)"
        report = suppress(report, [Ignore.parse(text, reason) for text in listed(ignore)])
    bad = report.at_least(threshold)
    if bad:
        lines = [report.verdict()]
        for f in bad:
            lines.append(f"  [{f.id}] {f.title}")
            lines += [f"      fix: {x}" for x in (*f.fix, *f.advice)]
        raise IncompatibleEnvironmentError(report, "\n".join(lines))


def _caller() -> str:
    """The file of the code that called assert_compatible (through envdoctor.verdict's, or directly)."""
    frame = sys._getframe(2)
    while frame.f_back is not None and frame.f_globals.get("__name__") == "envdoctor.verdict":
        frame = frame.f_back
    return frame.f_code.co_filename


def _unmet(python: str | os.PathLike[str] | None, require: dict[str, str], timeout: float) -> list[Finding]:
    """A ``requirement-unmet`` error for each ``require`` entry the installed distributions do not satisfy."""
    from envdoctor.versions import InvalidSpecifier, parse_specifier, version_or_none

    inv = Target.resolve(python).inventory(timeout=timeout)
    out: list[Finding] = []
    for name, text in require.items():
        try:
            spec = parse_specifier(text)
        except InvalidSpecifier:
            raise UsageError(f"require[{name!r}]: {text!r} is not a version specifier (like '>=4.46')") from None
        dist = inv.get(name)
        have = version_or_none(dist.raw_version) if dist is not None else None
        if dist is not None and (not str(spec) or (have is not None and spec.contains(have, prereleases=True))):
            continue
        now = f"{dist.raw_version} is installed" if dist is not None else "it is not installed"
        out.append(
            Finding(
                id="requirement-unmet",
                severity=Severity.ERROR,
                title=f"the script requires {name}{spec}, and {now}",
                packages=(name,),
                fix=(f"{name}{spec}",),
                check="require",
            )
        )
    return out
