"""The command line: ``envdoctor check``. A thin front over envdoctor.api; the only place exit codes are chosen."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from envdoctor import atomic, exitcodes
from envdoctor._version import __version__
from envdoctor.errors import EnvdoctorError, Interrupted, ProbeError, TargetError, Terminated, UsageError
from envdoctor.redact import Redactor, redact_strings, redacted
from envdoctor.report import Report, Severity

if TYPE_CHECKING:
    from envdoctor.config import Config, Ignore
    from envdoctor.fix.pin import PinResult
    from envdoctor.progress import Progress
    from envdoctor.render import Format
    from envdoctor.runtime.distributed import Launch
    from envdoctor.runtime.kernel import Place

_FORMATS = ("auto", "terminal", "text", "json", "junit", "github", "sarif", "markdown")

_EPILOG = """\
exit codes:
  0  nothing at or above --fail-on
  1  findings at or above --fail-on (a check that could not run counts as a warning)
  2  usage error, a bad configuration (file and line), or an interpreter / file that cannot be read;
     no --output file is written
  3  envdoctor itself failed (a bug: please report it with the traceback); no --output file is written
  130, 143  interrupted (Ctrl-C, SIGTERM): every process envdoctor started is stopped

examples:
  envdoctor check                                  this Python's environment
  envdoctor check --python ~/venvs/train           another interpreter or venv folder
  envdoctor check --format json > report.json      machine-readable, for a CI gate
  envdoctor check -o junit:report.xml -o sarif:envdoctor.sarif   the view on stdout, and two files
  envdoctor check --install "accelerate==0.31.0"   what-if: would this install break something?
  envdoctor check -r requirements.txt              what-if for a requirements file
  envdoctor check --train --precision bf16         also one real bf16 training step (and fp32, fp16)
  envdoctor check --script train.py --script nb.ipynb   also your code: imports and keyword arguments
  envdoctor check --write-baseline envdoctor-baseline.json   accept today's findings; later runs pass
                                                   --baseline envdoctor-baseline.json and fail on new ones
  envdoctor report > env.md                        a redacted bug-report bundle (instead of transformers env)
  envdoctor why accelerate                         who requires it, what it requires, what involves it
  torchrun --nproc_per_node=8 -m envdoctor check --distributed   every rank, one merged report on rank 0
"""


_PIN_EPILOG = """\
exit codes:
  0  a plan clears every error (or there was none); the header's verdict says whether pip verified it
  1  some errors are left NOT fixed: no fix envdoctor can plan, every fix moves a --keep package, or a -c
     file contradicts it (listed with the reason in the header and on stderr; the other errors are fixed);
     with --verify, also when the plan failed in the throwaway copy or could not be tried there
  2  usage error, or an interpreter / file that cannot be read
  3  envdoctor itself failed
  130, 143  interrupted (Ctrl-C, SIGTERM); during --apply, the message lists what pip had changed

examples:
  envdoctor pin > requirements.txt                 the fixed stack, exact pins
  envdoctor pin --changes-only                     only what must move
  envdoctor pin --verify                           also try the plan in a throwaway copy: imports, one step
  envdoctor pin --format pip                       one `pip install ...` command
  envdoctor pin --keep peft --allow-move torch     constrain the plan
  envdoctor pin --apply                            install it (asks first; writes a rollback file)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="envdoctor",
        description="Environment doctor for the PyTorch / Hugging Face training stack: finds what is "
        "broken in a Python environment before training starts, and why.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"envdoctor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_check_parser(sub)
    _add_matrix_parser(sub)
    _add_pin_parser(sub)
    _add_explain_parser(sub)
    _report_and_why_parsers(sub)
    return parser


def _add_check_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``check`` subcommand's options (an argparse table)."""
    check = sub.add_parser(
        "check",
        help="check an environment and report what is broken",
        description="Read the installed distributions of a Python environment (without importing any of "
        "them) and report requirements that are missing or out of range, damaged metadata, duplicate "
        "installs, wheels built for another Python, and more: everything `pip check` reports, and what "
        "it misses.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "--python",
        metavar="PATH",
        help="interpreter (or virtual environment folder) to check; default: the one running envdoctor. "
        "Nothing is installed into it.",
    )
    check.add_argument(
        "--format",
        choices=_FORMATS,
        default="auto",
        help="format of stdout (default: auto = terminal on a terminal; github when GITHUB_ACTIONS=true; text "
        "otherwise, in a notebook's `!` shell, or when NO_COLOR is set)",
    )
    check.add_argument(
        "--fail-on",
        choices=[str(s) for s in Severity],
        help="lowest severity that makes the exit code 1 (default: $ENVDOCTOR_FAIL_ON, else fail-on in the "
        "configuration, else error)",
    )
    check.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="ID[:PACKAGE]",
        help="accept the findings with this finding or rule id (only those about PACKAGE): they stay in the "
        "report, marked suppressed, and never count toward the exit code (repeatable; a lasting ignore belongs "
        "in the configuration, with its reason)",
    )
    _gate_options(check)
    check.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="limit for each probe (default: 60)"
    )
    check.add_argument(
        "--no-symbols",
        action="store_true",
        help="skip the cross-package import check (metadata only: the fastest check)",
    )
    check.add_argument(
        "--no-cache",
        action="store_true",
        help="do not read or write envdoctor's cache of extracted imports (see ENVDOCTOR_CACHE_DIR)",
    )
    check.add_argument(
        "--install",
        action="append",
        default=[],
        metavar="SPEC",
        help="what-if: check the environment as it would be after `pip install SPEC` (repeatable); pip's "
        "resolver is asked in the target, nothing is installed",
    )
    check.add_argument(
        "--requirements",
        "-r",
        action="append",
        default=[],
        metavar="FILE",
        help="what-if: check the environment as it would be after `pip install -r FILE` (repeatable)",
    )
    check.add_argument(
        "--train",
        action="store_true",
        help="also run one real training step per precision (fp32, fp16, bf16) through Accelerate in the target, "
        "and report what really ran (needs torch and accelerate there; a few seconds to a minute)",
    )
    check.add_argument(
        "--precision",
        choices=("no", "fp16", "bf16", "fp8"),
        help="the precision you mean to train in (implies --train): a fallback or emulation in it is a warning, "
        "a failure an error",
    )
    check.add_argument(
        "--accelerate-config",
        metavar="FILE",
        help="the accelerate config to lint against the device facts (implies --train; default: accelerate's "
        "default_config.yaml under HF_HOME in the target), with the DeepSpeed JSON it names",
    )
    check.add_argument(
        "--probes",
        action="store_true",
        help="after the static checks, run the imports a training script makes (`import torch`, `from transformers "
        "import Trainer`, ...) for real, each in its own process of the target (offline, --timeout each)",
    )
    check.add_argument(
        "--probe-all",
        action="store_true",
        help="with the probes, also `import TOP` for each top-level module of every other installed distribution "
        "(implies --probes)",
    )
    check.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="STATEMENT",
        help='also run this import statement as a probe ("from x import y"; repeatable; implies --probes)',
    )
    check.add_argument(
        "--script",
        action="append",
        default=[],
        metavar="FILE",
        help="also read FILE (a script, or a notebook .ipynb) for imports and keyword arguments the installed "
        "releases do not provide, each with its line (or cell) and fix (repeatable; nothing is run)",
    )
    check.add_argument(
        "--distributed",
        action="store_true",
        help="run as one rank of a launch (torchrun --nproc_per_node=N -m envdoctor check --distributed, accelerate "
        "launch, srun): every rank checks itself and joins the process group (torch.distributed, gloo), rank 0 "
        "prints one merged report with the drift between ranks; the others print only their own failures",
    )
    check.add_argument(
        "--output",
        "-o",
        action="append",
        default=[],
        metavar="[FORMAT:]FILE",
        help="FORMAT:FILE also writes the report in FORMAT (" + ", ".join(_FORMATS[1:]) + ") to FILE, "
        "repeatable, stdout keeps the view; a plain FILE (once) gets the --format view instead of stdout. "
        "Every file is written atomically, and only when the check ran",
    )
    check.add_argument("--quiet", "-q", action="store_true", help="no progress messages on stderr")


def _add_matrix_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``matrix`` subcommand's options (an argparse table)."""
    matrix = sub.add_parser(
        "matrix",
        help="list the compatibility rules envdoctor knows",
        description="List the curated compatibility rules (matrix/*.toml): id, severity, family and what each "
        "finds. Every rule carries evidence from a real wheel or a real run; `envdoctor explain ID` shows it.",
    )
    matrix.add_argument("--family", help="only the rules of this family (for example: numpy, torch, transformers)")
    matrix.add_argument(
        "--hardware",
        action="store_true",
        help="list the hardware and precision facts (matrix/hardware.toml) instead of the rules",
    )
    matrix.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")


def _add_pin_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``pin`` subcommand's options (an argparse table)."""
    pin = sub.add_parser(
        "pin",
        help="plan the smallest fix and write it as a requirements file pip accepts",
        description="Check an environment, plan the smallest set of version moves that clears every error "
        "(checked against every declared requirement, the matrix and the facts of each release), confirm it "
        "with pip's own resolver (`pip install --dry-run --report` in the target: nothing is installed) and "
        "write the result to stdout: always a complete file, by default the exact pins of the whole stack as it "
        "will be after the fix (with nothing watched installed: every top-level distribution and what it requires), "
        "each moved line commented with the reason. torch is never moved unless you allow it. Nothing on disk "
        "changes unless you pass --apply.",
        epilog=_PIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pin.add_argument("--python", metavar="PATH", help="interpreter or venv folder (default: this one)")
    pin.add_argument(
        "--format",
        choices=("requirements", "constraints", "pip", "json"),
        default="requirements",
        help="requirements file (default), constraints file, one `pip install` command, or JSON",
    )
    pin.add_argument("--changes-only", action="store_true", help="only the moved packages, not the whole stack")
    pin.add_argument(
        "--all",
        dest="everything",
        action="store_true",
        help="pin every installed distribution (like pip freeze), not only the training stack",
    )
    pin.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="PKG",
        help="never move PKG (repeatable, or comma-separated)",
    )
    pin.add_argument(
        "--allow-move",
        action="append",
        default=[],
        metavar="PKG",
        help="allow moving a package envdoctor keeps by default (torch)",
    )
    pin.add_argument(
        "--constraint",
        "-c",
        action="append",
        default=[],
        metavar="FILE",
        help="a constraints (or requirements) file whose ranges every moved package must stay in (repeatable)",
    )
    pin.add_argument(
        "--no-verify",
        action="store_true",
        help="do not ask pip's resolver (offline); the output then says it is not verified",
    )
    pin.add_argument(
        "--verify",
        action="store_true",
        help="also try the plan for real: install it into a throwaway copy of the environment (unchanged "
        "packages shared by link, torch never reinstalled) and run the import probes there, then, when "
        "transformers, accelerate and torch are installed, one Trainer step (resume, LoRA, SFTTrainer when "
        "installed); a plan that fails is followed by its next release, then the alternatives (at most 4 "
        "plans); the file says verified only when one passes, else exit 1 with the evidence (costs, per plan "
        "tried, a pip install of the moved packages and one run of the probes with the step beside them)",
    )
    pin.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="STATEMENT",
        help="an import of your own (repeatable): with --probes, run first and planned for if it fails; with "
        "--verify, run in the copy too",
    )
    pin.add_argument(
        "--apply",
        action="store_true",
        help="install the verified plan into the target: shows it, asks, writes a rollback file first, runs pip, "
        "checks again and reports what changed",
    )
    pin.add_argument("--yes", "-y", action="store_true", help="with --apply: do not ask")
    pin.add_argument(
        "--rollback-file",
        metavar="FILE",
        help="with --apply: where to write the versions before the change (default: "
        "envdoctor-rollback-<time>.txt in the current folder)",
    )
    pin.add_argument(
        "--probes",
        action="store_true",
        help="run the import probes first, as check --probes does, and plan for the imports that really fail "
        "(by the fix their diagnosis names; --timeout each)",
    )
    pin.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    _config_options(pin)
    pin.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="limit for each probe (default: 60)"
    )
    pin.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")


def _add_explain_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``explain`` subcommand's options (an argparse table)."""
    explain = sub.add_parser(
        "explain",
        help="show one rule in full, or explain an error text / traceback",
        description="Show one compatibility rule in full (RULE_ID), or explain an error message or a whole "
        "traceback (--text TEXT, or `-` to read it from stdin): its cause, the packages involved (the "
        "distributions that own the traceback's files in the environment of --python) and the fix.",
    )
    explain.add_argument(
        "rule_id",
        metavar="RULE_ID",
        nargs="?",
        help="a rule id, as printed in brackets by `envdoctor check`; `-` reads an error text from stdin",
    )
    explain.add_argument("--text", metavar="TEXT", help="an error message or traceback to explain")
    explain.add_argument(
        "--python", metavar="PATH", help="with a text: the environment it is explained against (default: this one)"
    )
    explain.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="limit for reading the environment"
    )


def _report_and_why_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _report_parser(sub)
    _why_parser(sub)


def _report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report",
        help="a redacted bug-report bundle (Markdown or JSON) instead of `transformers env`, `accelerate env`, "
        "collect_env",
        description="One bundle to paste into a bug report: the training stack's versions and builds, Python and "
        "the platform, the device facts (torch's build, CUDA, GPUs, driver; read by importing torch in the target, "
        "when it is installed), the findings of `envdoctor check`, the accelerate config, pip's index "
        "configuration and the stack's environment variables. Markdown with one collapsible <details> block, or "
        "JSON (envdoctor.bundle/1). Redacted by default: token and secret values, credentials in URLs, the home "
        "directory, the user name and the host name.",
    )
    report.add_argument("--python", metavar="PATH", help="interpreter or venv folder (default: this one)")
    report.add_argument("--format", choices=("markdown", "json"), default="markdown", help="default: markdown")
    report.add_argument(
        "--no-redact",
        action="store_true",
        help="show paths with the home directory, the user name and the host name as they are (token and "
        "secret values and credentials in URLs stay masked)",
    )
    report.add_argument("--no-device", action="store_true", help="do not import torch in the target")
    report.add_argument("--output", "-o", metavar="FILE", help="write to FILE (atomically) instead of stdout")
    report.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="limit for each probe (default: 60)"
    )
    report.add_argument("--quiet", "-q", action="store_true", help="no progress messages on stderr")


def _why_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    why = sub.add_parser(
        "why",
        help="why a package is installed: who requires it, what it requires, its findings, the releases known",
        description="Who requires PKG (with the declared ranges, and whether the installed version is in them), "
        "what PKG requires, which findings of `envdoctor check` involve it, which matrix rules name it and which "
        "of its releases envdoctor's facts know. A package nothing installed mentions is a usage error (exit 2).",
    )
    why.add_argument("package", metavar="PKG", help="a distribution name (any spelling: Hugging_Face-Hub works)")
    why.add_argument("--python", metavar="PATH", help="interpreter or venv folder (default: this one)")
    why.add_argument("--format", choices=("text", "json"), default="text", help="default: text")
    why.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="limit for each probe (default: 60)"
    )


def _gate_options(check: argparse.ArgumentParser) -> None:
    """check's --baseline, --write-baseline and --config."""
    check.add_argument(
        "--baseline",
        metavar="FILE",
        help="accept the findings listed in FILE (written by --write-baseline): they stay in the report, marked "
        "baselined, and never count toward the exit code; a finding not in it counts (default: baseline in the "
        "configuration)",
    )
    check.add_argument(
        "--write-baseline",
        metavar="FILE",
        help="write every finding of this run that no ignore covers to FILE as the baseline, and accept them",
    )
    _config_options(check)


def _config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="read the configuration from FILE (a pyproject.toml's [tool.envdoctor], or the keys at the top "
        "level of any other TOML file) instead of the nearest pyproject.toml with [tool.envdoctor]",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on bad flags
    # every output is private: secrets, the home directory, the user name and the host name are masked
    redact = Redactor.from_environment() if getattr(args, "no_redact", False) else Redactor.for_output()
    if args.command is None:
        parser.print_help(sys.stderr)
        return exitcodes.USAGE
    with _terminate_like_interrupt():
        return _run(args, redact)


def _run(args: argparse.Namespace, redact: Redactor) -> int:
    try:
        if args.command == "matrix":
            return _matrix(args)
        if args.command == "explain":
            return _explain(args, redact)
        if args.command == "pin":
            return _pin(args, redact)
        if args.command == "report":
            return _report(args, redact)
        if args.command == "why":
            return _why(args, redact)
        return _check(args, redact)
    except (UsageError, TargetError, ProbeError) as exc:
        _error(redact(str(exc)))
        return exitcodes.USAGE
    except Interrupted as exc:  # pin --apply: the message says what the target now holds
        _error(redact(exc.message))
        return 128 + exc.signum
    except EnvdoctorError as exc:
        _error(redact(str(exc)))
        return exitcodes.INTERNAL
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
        launched = " (--distributed: a launcher stops every rank when one fails; see the other ranks' output)"
        _error(
            f"interrupted ({signal.Signals(signum).name}); every process envdoctor started was stopped, "
            "and nothing in the target was changed"
            + (launched if getattr(args, "distributed", False) and signum == signal.SIGTERM else "")
        )
        return 128 + signum
    except Exception:
        import traceback

        print(redact(traceback.format_exc()), file=sys.stderr)
        _error("internal error: this is a bug in envdoctor; please report it with the traceback above")
        return exitcodes.INTERNAL


@contextlib.contextmanager
def _terminate_like_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated (a KeyboardInterrupt) while the command runs, so the same
    clean-up runs as for Ctrl-C; the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _check(args: argparse.Namespace, redact: Redactor) -> int:
    import dataclasses

    from envdoctor import config
    from envdoctor.knowledge import catalog
    from envdoctor.progress import Silent, StderrProgress
    from envdoctor.render import Format, RenderOptions, render

    _check_options(args)
    settings = config.load(args.config, known=catalog.known_ids)
    fail_on = config.fail_on(args.fail_on, settings)
    ignores = _ignores(args.ignore, settings)
    stdout_file, outputs = _outputs(args.output)
    accepted = _read_baseline(args, settings)
    place = _place()
    launch = _launch(args)
    quiet = args.quiet or not sys.stderr.isatty() or place.notebook  # a `!` cell's pty shows progress as clutter
    if launch is not None and launch.rank != 0:
        quiet = True  # rank 0 speaks for the launch
    progress = Silent() if quiet else StderrProgress(redactor=redact)
    if launch is None:
        report = _checked_report(args, settings, progress, place)
    else:
        from envdoctor.runtime import distributed
        from envdoctor.target import Target

        def build(step_env: dict[str, str] | None = None) -> Report:
            return _checked_report(args, settings, progress, place, step_env=step_env)

        joined = distributed.check(
            build,
            python=Target.resolve(args.python).python,
            launch=launch,
            timeout=args.timeout,
            device_bound=bool(args.train or args.precision or args.accelerate_config),
            on_wait=progress.step,
        )
        report = config.suppress(distributed.outcome(joined), ignores)
        if launch.rank != 0:  # rank 0 reports for every rank that reached it; the others only their own failures
            for line in distributed.tell(report, launch.rank, redact):
                print(line, file=sys.stderr)
            return exitcodes.OK if joined.joined else exitcodes.for_report(report, fail_on)
    report = _baselined(args, config.suppress(redacted(report, redact), ignores), accepted)
    fmt, color = _choose_format(args.format, to_file=stdout_file is not None, notebook=place.notebook)
    width = shutil.get_terminal_size((100, 24)).columns if fmt is Format.TERMINAL else 100
    if place.notebook and stdout_file is None:
        width = NOTEBOOK_WIDTH  # the notebook wraps lines at its real width; envdoctor breaks none
    rules = catalog.load() if any(f is Format.SARIF for f, _ in outputs) or fmt is Format.SARIF else {}
    options = RenderOptions(width=width, color=color, fail_on=fail_on, rules=rules)
    texts: list[tuple[str, str | None]] = [
        (redact(render(report, f, dataclasses.replace(options, color=False, width=100))), p) for f, p in outputs
    ]
    texts.append((redact(render(report, fmt, options)), stdout_file))  # every file renders before any is written
    for text, path in texts:
        _write(text, path)
    return exitcodes.for_report(report, fail_on)


def _checked_report(
    args: argparse.Namespace,
    settings: Config,
    progress: Progress,
    place: Place,
    *,
    step_env: dict[str, str] | None = None,
) -> Report:
    """The report ``check`` prints: of the installed environment, or of what an install would make it (what-if);
    from a notebook's `!` shell, with what the kernel still maps that an install replaced. ``step_env``: the
    training step's whole environment (a rank of a launch leaves the launcher's variables out)."""
    from envdoctor import api

    if (args.install or args.requirements) and (args.train or args.precision or args.accelerate_config):
        raise UsageError("--train runs a step in the installed environment; it cannot be combined with --install / -r")
    if args.install or args.requirements:
        return _what_if_report(args, progress)
    report = api.check(
        python=args.python,
        timeout=args.timeout,
        symbols=not args.no_symbols,
        cache=not args.no_cache,
        progress=progress,
        train=args.train,
        precision=args.precision,
        probes=args.probes or settings.probes,
        imports=[*settings.imports, *args.imports],
        probe_all=args.probe_all,
        scripts=[*(str(p) for p in settings.scripts), *args.script],
        accelerate_config=args.accelerate_config,
        step_env=step_env,
    )
    if place.kernel_pid is not None:  # `!envdoctor check` in a cell
        from envdoctor.runtime.kernel import stale_in_kernel

        report = api.with_findings(report, stale_in_kernel(place.kernel_pid, report.summary.paths, place))
    return report


def _what_if_report(args: argparse.Namespace, progress: Progress) -> Report:
    """``check --install / -r``: the report of the environment pip would make."""
    from envdoctor import api
    from envdoctor.predict.dryrun import ResolveError

    if args.probes or args.imports or args.probe_all:
        raise UsageError("--probes and --import run imports in the installed environment; not with --install / -r")
    if args.script:
        raise UsageError("--script is read against the installed environment; not with --install / -r")
    try:
        return api.what_if(
            python=args.python,
            install=args.install,
            requirements=args.requirements,
            timeout=args.timeout,
            progress=progress,
        )
    except ResolveError as exc:  # pip could not be asked (the index is unreachable, no pip at all)
        raise UsageError(f"cannot tell what pip would install: {exc.message}") from None


def _ignores(given: Sequence[str], settings: Config) -> list[Ignore]:
    """The configuration's ignores, then each ``--ignore ID[:PACKAGE]`` (an unknown id is a usage error)."""
    from envdoctor import config
    from envdoctor.knowledge import catalog

    ignores = [*settings.ignore, *(config.Ignore.parse(text) for text in given)]
    known = catalog.known_ids() if given else None
    for ignore in ignores[len(settings.ignore) :]:
        if known is not None and ignore.id not in known:
            raise UsageError(f"--ignore {ignore.id}: {config.unknown_id(ignore.id, known)}")
    return ignores


def _launch(args: argparse.Namespace) -> Launch | None:
    """With --distributed: this process's place in the launch (a usage error outside one)."""
    if not args.distributed:
        return None
    from envdoctor.runtime.distributed import Launch

    if args.install or args.requirements:
        raise UsageError("--distributed checks the installed environment of every rank; not with --install / -r")
    return Launch.from_environment()


def _outputs(values: Sequence[str]) -> tuple[str | None, list[tuple[Format, str]]]:
    """``--output`` values: the one plain FILE that replaces stdout (or None), and the FORMAT:FILE pairs.
    A value is FORMAT:FILE when the text before its first ``:`` is a format's name (``./json:x`` is a file)."""
    from envdoctor.render import Format

    plain: list[str] = []
    typed: list[tuple[Format, str]] = []
    for value in values:
        name, sep, path = value.partition(":")
        if sep and name in _FORMATS[1:]:
            if not path:
                raise UsageError(f"--output {value}: no file after {name}:")
            typed.append((Format(name), path))
        elif not value:
            raise UsageError("--output is empty")
        else:
            plain.append(value)
    if len(plain) > 1:
        raise UsageError(f"--output: more than one plain FILE ({', '.join(plain)}); write FORMAT:FILE for each")
    paths = [*plain, *(p for _, p in typed)]
    for path in paths:
        if paths.count(path) > 1:
            raise UsageError(f"--output: {path} is named twice")
        if os.path.isdir(path) or not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise UsageError(f"--output {path}: not a file in an existing folder")
    return (plain[0] if plain else None), typed


def _baselined(args: argparse.Namespace, report: Report, accepted: tuple[str, frozenset[str]] | None) -> Report:
    """``report`` with the baseline applied; with ``--write-baseline``, its findings written as the baseline
    first (and then accepted)."""
    from envdoctor import baseline

    if args.write_baseline:
        count = baseline.write(Path(args.write_baseline), report)
        accepted = (args.write_baseline, frozenset(baseline.key(f) for f in report.active))
        if not args.quiet:
            print(f"envdoctor: wrote {count} finding(s) to the baseline {args.write_baseline}", file=sys.stderr)
    return report if accepted is None else baseline.apply(report, accepted[1], accepted[0])


def _read_baseline(args: argparse.Namespace, settings: Config) -> tuple[str, frozenset[str]] | None:
    """The baseline to apply (its name as shown, its keys), read before the check runs: ``--baseline``, else
    ``baseline`` in the configuration (none with ``--write-baseline``, which writes a new one)."""
    from envdoctor import baseline

    if args.write_baseline is not None:
        target = args.write_baseline
        if not target or os.path.isdir(target) or not os.path.isdir(os.path.dirname(os.path.abspath(target))):
            raise UsageError(f"--write-baseline {target}: not a file in an existing folder")
        return None
    if args.baseline is not None:
        return args.baseline, baseline.read(Path(args.baseline))
    if settings.baseline is None:
        return None
    shown = os.path.relpath(settings.baseline) if settings.baseline.is_relative_to(Path.cwd()) else settings.baseline
    return str(shown), baseline.read(settings.baseline)


def _check_options(args: argparse.Namespace) -> None:
    from envdoctor.errors import check_timeout

    check_timeout(args.timeout, "--timeout")
    if args.python == "":
        raise UsageError("--python is empty; leave it out to check the interpreter running envdoctor")


def _pin(args: argparse.Namespace, redact: Redactor) -> int:
    from envdoctor import config
    from envdoctor.fix.pin import pin
    from envdoctor.knowledge import catalog
    from envdoctor.progress import StderrProgress
    from envdoctor.render import pin as pin_view

    _check_options(args)
    if args.verify and args.no_verify:
        raise UsageError("--verify tries the plan that pip verified; it cannot go with --no-verify")
    if args.imports and not (args.verify or args.probes):
        raise UsageError("--import runs with --probes, or in the copy that --verify builds: add one of them")
    place = _place()
    if args.apply and not args.yes and place.notebook:  # a `!` cell's pty looks like a terminal; nothing answers it
        raise UsageError("--apply asks before changing anything; in a notebook cell nothing can answer: pass --yes")
    settings = config.load(args.config, known=catalog.known_ids)
    quiet = args.quiet or place.notebook
    if not quiet:
        print("envdoctor: checking and planning ...", file=sys.stderr)
    result = pin(
        python=args.python,
        keep=[*settings.keep, *_names(args.keep)],
        allow=_names(args.allow_move),
        changes_only=args.changes_only,
        everything=args.everything,
        verify=not args.no_verify,
        trial=args.verify,
        imports=args.imports,
        constraints=args.constraint,
        timeout=args.timeout,
        probes=args.probes,
        progress=None if quiet or not sys.stderr.isatty() else StderrProgress(),
    )
    if args.apply:
        return _apply(result, args, redact, place)
    _write(redact(pin_view.text(result, args.format)), args.output)
    if not quiet:
        for line in pin_view.summary(result):
            print(redact(f"envdoctor: {line}"), file=sys.stderr)
    failed_try = args.verify and result.plan.moves and not result.verification.verified
    return exitcodes.FINDINGS if result.plan.remaining or failed_try else exitcodes.OK


def _report(args: argparse.Namespace, redact: Redactor) -> int:
    import dataclasses

    from envdoctor import bundle
    from envdoctor.progress import Silent, StderrProgress
    from envdoctor.render.bundle import render_json, render_markdown

    _check_options(args)
    if args.output is not None:
        _outputs([args.output])  # a folder, or a file in a missing folder: a usage error before anything runs
    if args.no_redact:
        _error_stream("--no-redact: the bundle shows paths, the user name and the host name as they are")
    quiet = args.quiet or not sys.stderr.isatty()
    progress = Silent() if quiet else StderrProgress(redactor=redact)
    found = bundle.collect(python=args.python, timeout=args.timeout, device=not args.no_device, progress=progress)
    found = dataclasses.replace(found, report=redacted(found.report, redact))
    data = redact_strings(found.to_dict(redacted=not args.no_redact), redact)
    text = render_json(data) if args.format == "json" else render_markdown(data)
    _write(redact(text), args.output)
    return exitcodes.OK


def _why(args: argparse.Namespace, redact: Redactor) -> int:
    import json

    from envdoctor.why import explain

    _check_options(args)
    answer = explain(args.package, python=args.python, timeout=args.timeout)
    text = json.dumps(answer.to_dict(), indent=2, ensure_ascii=False) + "\n" if args.format == "json" else answer.text()
    _write(redact(text), None)
    return exitcodes.OK


def _error_stream(message: str) -> None:
    print(f"envdoctor: {message}", file=sys.stderr)


def _apply(result: PinResult, args: argparse.Namespace, redact: Redactor, place: Place) -> int:
    import time

    from envdoctor.fix.apply import apply

    def say(line: str) -> None:
        print(redact(line), flush=True)

    def confirm(question: str) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("--apply asks before changing anything; without a terminal, pass --yes")
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")

    if result.plan.healthy:
        say("nothing to apply: the environment has no error")
        return exitcodes.OK
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rollback = Path(args.rollback_file or f"envdoctor-rollback-{stamp}.txt").resolve()
    done = apply(result, rollback_file=rollback, confirm=confirm, say=say)
    for line in done.changed:
        say(f"  changed: {line}")
    say(done.message)
    advice = restart_after_apply(place, done.changed, result.inventory.sys_path)
    if advice:
        say(advice)
    return exitcodes.OK if done.ok else exitcodes.FINDINGS


def restart_after_apply(place: Place, changed: Sequence[str], paths: Sequence[str]) -> str:
    """The restart line after ``pin --apply`` from a notebook's `!` shell: for the kernel, not for this process
    (the distributions whose old files it still maps are named), in the words of the place (Colab, Jupyter)."""
    from envdoctor.runtime.kernel import STALE, restart_advice, stale_in_kernel

    if not place.notebook:
        return ""
    seen: list[str] = []
    if place.kernel_pid is not None:
        seen = [p for f in stale_in_kernel(place.kernel_pid, paths, place) if f.id == STALE for p in f.packages]
    return restart_advice(place, [line.split(" ", 1)[0] for line in changed], seen)


def _names(values: Sequence[str]) -> list[str]:
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def _matrix(args: argparse.Namespace) -> int:
    from envdoctor.diagnose import load_matrix
    from envdoctor.knowledge.matrix import MatrixError
    from envdoctor.render import listings

    matrix = load_matrix()
    if isinstance(matrix, MatrixError):
        raise matrix
    if args.hardware:
        _write(listings.hardware(matrix.hardware, args.format), None)
        return exitcodes.OK
    rules = [r for r in matrix.rules if args.family in (None, r.family)]
    if args.family is not None and not rules:
        raise UsageError(f"no family {args.family!r} (families: {', '.join(matrix.families())})")
    _write(listings.rules(rules, args.format), None)
    return exitcodes.OK


def _explain(args: argparse.Namespace, redact: Redactor) -> int:
    import difflib

    if args.text is not None or args.rule_id == "-":
        return _explain_text(args, redact)
    if args.rule_id is None:
        raise UsageError("explain needs a RULE_ID, --text TEXT, or `-` to read an error text from stdin")

    from envdoctor.diagnose import load_matrix
    from envdoctor.knowledge.matrix import MatrixError
    from envdoctor.render import listings

    matrix = load_matrix()
    if isinstance(matrix, MatrixError):
        raise matrix
    rule = matrix.get(args.rule_id)
    if rule is None:
        from envdoctor.knowledge.catalog import BUILT_IN

        known = BUILT_IN.get(args.rule_id)
        if known is not None:  # a finding id of envdoctor's own checks (`symbol-missing`, `import-failed`, ...)
            _write(listings.built_in(known), None)
            return exitcodes.OK
        ids = [r.id for r in matrix.rules] + list(BUILT_IN)
        close = difflib.get_close_matches(args.rule_id, ids, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " (`envdoctor matrix` lists them)"
        raise UsageError(f"no rule or finding id {args.rule_id!r}{hint}")
    _write(listings.rule(rule), None)
    return exitcodes.OK


def _explain_text(args: argparse.Namespace, redact: Redactor) -> int:
    from envdoctor.errors import check_timeout
    from envdoctor.knowledge.wheelfacts import Facts
    from envdoctor.render import listings
    from envdoctor.runtime.diagnosis import diagnose
    from envdoctor.runtime.imports import RecordOwners
    from envdoctor.target import Target

    if args.text is not None and args.rule_id is not None:
        raise UsageError("give either RULE_ID (or -) or --text, not both")
    text = args.text if args.text is not None else sys.stdin.read()
    if not text.strip():
        raise UsageError("no error text to explain (empty)")
    check_timeout(args.timeout, "--timeout")
    target = Target.resolve(args.python)
    inv = target.inventory(timeout=args.timeout)
    diag = diagnose(text, RecordOwners(inv), Facts.shipped())
    _write(redact(listings.diagnosis(diag, target.python, inv.python.version)), None)
    return exitcodes.OK


NOTEBOOK_WIDTH = 10_000
"""The text view's width in a notebook's `!` shell: its pty says 80 columns, the output area has no such limit."""


def _place() -> Place:
    from envdoctor.runtime.kernel import detect

    return detect()


def _choose_format(name: str, *, to_file: bool, notebook: bool = False) -> tuple[Format, bool]:
    from envdoctor.render import Format

    no_color = "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb"
    if name == "auto":
        if not to_file and os.environ.get("GITHUB_ACTIONS") == "true":
            return Format.GITHUB, False
        if notebook:  # a `!` cell is a pty, but the notebook shows escape codes as text
            return Format.TEXT, False
        tty = not to_file and sys.stdout.isatty()
        return (Format.TERMINAL, True) if tty and not no_color else (Format.TEXT, False)
    fmt = Format(name)
    return fmt, fmt is Format.TERMINAL and not no_color and not to_file


printed: list[str] = []
"""The first two texts written to stdout since envdoctor.replay cleared it: one is what a replay may print again."""


def _write(text: str, output: str | None) -> None:
    if output is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
            if len(printed) < 2:
                printed.append(text)
        except BrokenPipeError:  # `envdoctor check | head`: the reader left, nothing to say
            _silence_stdout()
        except OSError as exc:  # stdout on a full disk, /dev/full, a closed terminal
            _silence_stdout()
            raise UsageError(f"cannot write to stdout: {exc.strerror or exc}") from None
        return
    try:
        atomic.write_output(Path(output), text)
    except OSError as exc:
        raise UsageError(f"--output {output}: {exc.strerror or exc}") from exc


def _silence_stdout() -> None:
    """What is still buffered for stdout is dropped, so the interpreter's exit does not fail on it again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _error(message: str) -> None:
    print(f"envdoctor: error: {message}", file=sys.stderr)
