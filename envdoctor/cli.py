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

from envdoctor import __version__, atomic, exitcodes
from envdoctor.errors import EnvdoctorError, Interrupted, ProbeError, TargetError, Terminated, UsageError
from envdoctor.redact import Redactor
from envdoctor.report import Severity

if TYPE_CHECKING:
    from envdoctor.matrix import HardwareFact, Matrix
    from envdoctor.pinning import PinResult
    from envdoctor.render import Format
    from envdoctor.report import Report
    from envdoctor.runtime.distributed import Launch

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
  torchrun --nproc_per_node=8 -m envdoctor check --distributed   every rank, one merged report on rank 0
"""


_PIN_EPILOG = """\
exit codes:
  0  a plan clears every error (or there was none); the header's verdict says whether pip verified it
  1  some errors are left NOT fixed: no fix envdoctor can plan, every fix moves a --keep package, or a -c
     file contradicts it (listed with the reason in the header and on stderr; the other errors are fixed)
  2  usage error, or an interpreter / file that cannot be read
  3  envdoctor itself failed
  130, 143  interrupted (Ctrl-C, SIGTERM); during --apply, the message lists what pip had changed

examples:
  envdoctor pin > requirements.txt                 the fixed stack, exact pins
  envdoctor pin --changes-only                     only what must move
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
        "otherwise or when NO_COLOR is set)",
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
    _config_options(check)
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
        choices=("no", "fp16", "bf16"),
        help="the precision you mean to train in (implies --train): a fallback or emulation in it is a warning, "
        "a failure an error",
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
    pin.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    _config_options(pin)
    pin.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="limit for each probe (default: 60)"
    )
    pin.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")
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
    return parser


def _config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="read the configuration from FILE (a pyproject.toml's [tool.envdoctor], or the keys at the top "
        "level of any other TOML file) instead of the nearest pyproject.toml with [tool.envdoctor]",
    )


def main(argv: Sequence[str] | None = None) -> int:
    redact = Redactor.from_environment()
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on bad flags
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
            return _explain(args)
        if args.command == "pin":
            return _pin(args, redact)
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

    from envdoctor import api, catalog, config
    from envdoctor.progress import Silent, StderrProgress
    from envdoctor.render import Format, RenderOptions, render

    _check_options(args)
    settings = config.load(args.config, known=catalog.known_ids)
    fail_on = config.fail_on(args.fail_on, settings)
    ignores = [*settings.ignore, *(config.Ignore.parse(text) for text in args.ignore)]
    known = catalog.known_ids() if args.ignore else None
    for ignore in ignores[len(settings.ignore) :]:
        if known is not None and ignore.id not in known:
            raise UsageError(f"--ignore {ignore.id}: {config.unknown_id(ignore.id, known)}")
    stdout_file, outputs = _outputs(args.output)
    quiet = args.quiet or not sys.stderr.isatty()
    progress = Silent() if quiet else StderrProgress()
    if (args.install or args.requirements) and (args.train or args.precision):
        raise UsageError("--train runs a step in the installed environment; it cannot be combined with --install / -r")
    launch = _launch(args)
    if launch is not None and launch.rank != 0:
        progress = Silent()  # rank 0 speaks for the launch
    if args.install or args.requirements:
        from envdoctor.resolve import ResolveError

        if args.probes or args.imports or args.probe_all:
            raise UsageError("--probes and --import run imports in the installed environment; not with --install / -r")

        try:
            report = api.what_if(
                python=args.python,
                install=args.install,
                requirements=args.requirements,
                timeout=args.timeout,
                progress=progress,
            )
        except ResolveError as exc:  # pip could not be asked (the index is unreachable, no pip at all)
            raise UsageError(f"cannot tell what pip would install: {exc.message}") from None
    else:

        def build(step_env: dict[str, str] | None = None) -> Report:
            return api.check(
                python=args.python,
                timeout=args.timeout,
                symbols=not args.no_symbols,
                cache=not args.no_cache,
                progress=progress,
                train=args.train,
                precision=args.precision,
                probes=args.probes,
                imports=args.imports,
                probe_all=args.probe_all,
                step_env=step_env,
            )

        if launch is None:
            report = build()
        else:
            from envdoctor.runtime import distributed
            from envdoctor.target import Target

            python = Target.resolve(args.python).python
            joined = distributed.check(build, python=python, launch=launch, timeout=args.timeout)
            report = config.suppress(distributed.outcome(joined), ignores)
            if launch.rank != 0:  # rank 0 reports for every rank that reached it; the others only their own failures
                for line in distributed.tell(report, launch.rank, redact):
                    print(line, file=sys.stderr)
                return exitcodes.OK if joined.joined else exitcodes.for_report(report, fail_on)
    report = config.suppress(report, ignores)
    fmt, color = _choose_format(args.format, to_file=stdout_file is not None)
    width = shutil.get_terminal_size((100, 24)).columns if fmt is Format.TERMINAL else 100
    rules = catalog.load() if any(f is Format.SARIF for f, _ in outputs) or fmt is Format.SARIF else {}
    options = RenderOptions(width=width, color=color, fail_on=fail_on, rules=rules)
    texts: list[tuple[str, str | None]] = [
        (redact(render(report, f, dataclasses.replace(options, color=False, width=100))), p) for f, p in outputs
    ]
    texts.append((redact(render(report, fmt, options)), stdout_file))  # every file renders before any is written
    for text, path in texts:
        _write(text, path)
    return exitcodes.for_report(report, fail_on)


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


def _check_options(args: argparse.Namespace) -> None:
    from envdoctor.errors import check_timeout

    check_timeout(args.timeout, "--timeout")
    if args.python == "":
        raise UsageError("--python is empty; leave it out to check the interpreter running envdoctor")


def _pin(args: argparse.Namespace, redact: Redactor) -> int:
    import json

    from envdoctor import catalog, config
    from envdoctor.pinning import pin

    _check_options(args)
    settings = config.load(args.config, known=catalog.known_ids)
    quiet = args.quiet
    if not quiet:
        print("envdoctor: checking and planning ...", file=sys.stderr)
    result = pin(
        python=args.python,
        keep=[*settings.keep, *_names(args.keep)],
        allow=_names(args.allow_move),
        changes_only=args.changes_only,
        everything=args.everything,
        verify=not args.no_verify,
        constraints=args.constraint,
        timeout=args.timeout,
    )
    if args.apply:
        return _apply(result, args, redact)
    text = json.dumps(result.to_dict(), indent=2) + "\n" if args.format == "json" else result.text(args.format)
    _write(redact(text), args.output)
    if not quiet:
        for line in result.summary():
            print(redact(f"envdoctor: {line}"), file=sys.stderr)
    return exitcodes.FINDINGS if result.plan.remaining else exitcodes.OK


def _apply(result: PinResult, args: argparse.Namespace, redact: Redactor) -> int:
    import time

    from envdoctor.apply import apply

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
    if done.restart_runtime:
        say(
            "restart the runtime (Jupyter/Colab: Runtime > Restart): this kernel has already imported "
            + ", ".join(done.restart_runtime)
            + ", and keeps the old code until it restarts"
        )
    return exitcodes.OK if done.ok else exitcodes.FINDINGS


def _names(values: Sequence[str]) -> list[str]:
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def _matrix(args: argparse.Namespace) -> int:
    import json

    from envdoctor.api import load_matrix
    from envdoctor.matrix import MatrixError

    matrix = load_matrix()
    if isinstance(matrix, MatrixError):
        raise matrix
    if args.hardware:
        return _hardware(matrix, args.format)
    rules = [r for r in matrix.rules if args.family in (None, r.family)]
    if args.family is not None and not rules:
        raise UsageError(f"no family {args.family!r} (families: {', '.join(matrix.families())})")
    if args.format == "json":
        rows = [{"id": r.id, "family": r.family, "severity": str(r.severity), "title": r.title} for r in rules]
        _write(json.dumps({"schema": "envdoctor.matrix/1", "rules": rows}, indent=2) + "\n", None)
    else:
        width = max((len(r.id) for r in rules), default=10)
        lines = [f"{r.id:<{width}}  {r.severity!s:<7}  {r.family:<12}  {r.title}" for r in rules]
        _write("\n".join(lines) + f"\n{len(rules)} rules\n", None)
    return exitcodes.OK


def _hardware(matrix: Matrix, fmt: str) -> int:
    import json

    def threshold(f: HardwareFact) -> str:
        if f.min_compute_capability is not None:
            return "compute capability >= {}.{}".format(*f.min_compute_capability)
        if f.min_driver_cuda is not None:
            return "driver supporting CUDA >= {}.{} (runtime {})".format(*f.min_driver_cuda, f.cuda_runtime)
        return ""

    rows = [
        {
            "id": f.id,
            "feature": f.feature,
            "package": f.package,
            "versions": str(f.versions),
            "needs": threshold(f),
            "below": f.below + (f" ({f.fallback})" if f.fallback else ""),
            "source": f.source,
        }
        for f in matrix.hardware
    ]
    if fmt == "json":
        _write(json.dumps({"schema": "envdoctor.hardware/1", "facts": rows}, indent=2) + "\n", None)
        return exitcodes.OK
    width = max((len(r["id"]) for r in rows), default=10)
    lines = [f"{r['id']:<{width}}  {r['package']}{r['versions']}: {r['needs']}; below: {r['below']}" for r in rows]
    _write("\n".join(lines) + f"\n{len(rows)} facts\n", None)
    return exitcodes.OK


def _explain(args: argparse.Namespace) -> int:
    import difflib

    if args.text is not None or args.rule_id == "-":
        return _explain_text(args)
    if args.rule_id is None:
        raise UsageError("explain needs a RULE_ID, --text TEXT, or `-` to read an error text from stdin")

    from envdoctor.api import load_matrix
    from envdoctor.matrix import MatrixError

    matrix = load_matrix()
    if isinstance(matrix, MatrixError):
        raise matrix
    rule = matrix.get(args.rule_id)
    if rule is None:
        from envdoctor.catalog import BUILT_IN

        known = BUILT_IN.get(args.rule_id)
        if known is not None:  # a finding id of envdoctor's own checks (`symbol-missing`, `import-failed`, ...)
            text = (
                f"{known.id}  (a finding of envdoctor's own checks, not a matrix rule)\n\n{known.title}\n\n"
                "Each such finding that `envdoctor check` prints carries its own detail, evidence and fix. "
                f"{known.help}\n"
            )
            _write(text, None)
            return exitcodes.OK
        ids = [r.id for r in matrix.rules] + list(BUILT_IN)
        close = difflib.get_close_matches(args.rule_id, ids, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " (`envdoctor matrix` lists them)"
        raise UsageError(f"no rule or finding id {args.rule_id!r}{hint}")
    applies = ", ".join(f"{p}{s}" if str(s) else p for p, s in rule.applies.items()) or "any versions"
    lines = [
        f"{rule.id}  ({rule.severity}, family {rule.family}, {rule.source})",
        "",
        rule.title,
        "",
        f"Applies to:  {applies}" + (f"; Python {rule.python}" if rule.python else ""),
        f"You see:     {rule.symptom}" + (f"  (at `{rule.breaks}`)" if rule.breaks else ""),
        f"Why:         {rule.why}",
        "Fix:         " + "  or  ".join(rule.fix),
        "Evidence:",
        *(f"  - {e.describe()}" for e in rule.evidence),
        f"Tested by:   {rule.test}",
    ]
    _write("\n".join(lines) + "\n", None)
    return exitcodes.OK


def _explain_text(args: argparse.Namespace) -> int:
    from envdoctor.errors import check_timeout
    from envdoctor.facts import Facts
    from envdoctor.inventory import Inventory
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
    inv = Inventory.from_payload(target.probe("inventory", {}, timeout=args.timeout))
    diag = diagnose(text, RecordOwners(inv), Facts.shipped())
    lines = [
        f"Error:     {diag.error}",
        f"Cause:     {diag.cause}" if diag.cause else "Cause:     not recognised; the error is shown as it is",
        f"Packages:  {', '.join(diag.packages) or 'none of the installed distributions owns a file it names'}",
        f"Fix:       {'  or  '.join(diag.fix)}" if diag.fix else "Fix:       none computed",
        f"Against:   {target.python} (Python {inv.python.version})",
    ]
    if diag.frames:
        lines += ["Last frames:", *(f"  {f}" for f in diag.frames[-4:])]
    _write("\n".join(lines) + "\n", None)
    return exitcodes.OK


def _choose_format(name: str, *, to_file: bool) -> tuple[Format, bool]:
    from envdoctor.render import Format

    no_color = "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb"
    if name == "auto":
        if not to_file and os.environ.get("GITHUB_ACTIONS") == "true":
            return Format.GITHUB, False
        tty = not to_file and sys.stdout.isatty()
        return (Format.TERMINAL, True) if tty and not no_color else (Format.TEXT, False)
    fmt = Format(name)
    return fmt, fmt is Format.TERMINAL and not no_color and not to_file


def _write(text: str, output: str | None) -> None:
    if output is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
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
