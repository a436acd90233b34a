"""``envdoctor pin --apply``: install a verified plan, with a way back.

Order of events: the plan is shown and confirmed; the exact versions of everything pip is about to change
are written to a rollback file, with the one command that restores them; pip installs the pin set in the
target; the environment is read and checked again, and what changed is reported. When pip fails half-way,
the report says which distributions did change, and the rollback command still restores the old set.
Only the target environment and the rollback file are written.
"""

from __future__ import annotations

import shlex
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from envdoctor import atomic, runner
from envdoctor.api import check_inventory
from envdoctor.cache import Cache, default_dir
from envdoctor.errors import EnvdoctorError, Interrupted, Terminated, UsageError
from envdoctor.inventory import Inventory
from envdoctor.pinning import PinResult
from envdoctor.pins import render
from envdoctor.redact import Redactor, secret_values
from envdoctor.report import Report, Severity
from envdoctor.target import Target

INSTALL_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Applied:
    ok: bool
    changed: tuple[str, ...]
    """``name old -> new`` for every distribution whose version changed."""
    report: Report | None
    rollback_file: Path
    rollback_command: str
    message: str


def rollback_lines(result: PinResult) -> tuple[list[str], list[str]]:
    """The rollback file's lines (the exact installed versions of what will change) and the names the
    fix adds, which rolling back uninstalls."""
    inv = result.inventory
    names = {m.name for m in result.plan.moves} | set(result.verification.changed)
    lines: list[str] = []
    added: list[str] = []
    for name in sorted(names):
        dist = inv.get(name)
        if dist is None:
            added.append(name)
        elif dist.raw_version:
            lines.append(f"{dist.display_name}=={dist.raw_version}")
    return lines, added


def apply(
    result: PinResult,
    *,
    rollback_file: Path,
    confirm: Callable[[str], bool],
    say: Callable[[str], None],
    timeout: float = INSTALL_TIMEOUT,
) -> Applied:
    """Apply ``result``'s plan to its target (see the module's docstring). Raises UsageError when there is
    nothing verified to apply or the user declines."""
    from envdoctor.resolve import ResolveError, choose_pip

    plan = result.plan
    if not plan.moves:
        raise UsageError("nothing to apply: the plan moves nothing")
    if not result.verification.verified:
        raise UsageError(f"not applying a plan pip has not verified ({result.verification.summary})")
    python = result.inventory.python.executable
    say("envdoctor will change " + python + ":")
    for move in plan.moves:
        say(f"  {move.describe()}")
    for also in result.verification.also_moved:
        say(f"  {also} (pip, as a dependency)")
    if not confirm("Apply these changes?"):
        raise UsageError("not applied: declined")
    env = runner.child_environment()
    scrub = Redactor([*secret_values(), *secret_values(env)])
    try:
        pip = choose_pip(python, env, scrub, result.inventory)
    except ResolveError as exc:
        raise UsageError(f"cannot run pip for {python}: {exc.message}") from None
    lines, added = rollback_lines(result)
    pip_cmd = " ".join(shlex.quote(a) for a in pip.argv)
    command = f"{pip_cmd} install --no-deps -r {shlex.quote(str(rollback_file))}"
    if added:
        command += f" && {pip_cmd} uninstall -y {' '.join(added)}"
    header = [
        f"# envdoctor rollback for {python}: restores the versions before `envdoctor pin --apply`",
        f"# {command}",
    ]
    _write_atomic(rollback_file, "\n".join([*header, *lines]) + "\n")
    say(f"rollback file written: {rollback_file}")
    say(f"to undo: {command}")
    before = _versions(result.inventory)
    with tempfile.TemporaryDirectory(prefix="envdoctor-apply-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(render(result.pins, "requirements"), encoding="utf-8")
        say("running pip install ...")
        try:
            done = runner.run_command(
                [*pip.argv, "install", "--disable-pip-version-check", "--no-input", "-r", str(req)],
                timeout=timeout,
                env=env,
            )
        except KeyboardInterrupt as exc:  # pip's process group is already killed (runner)
            raise _interrupted(exc, python, before, command) from None
    inv_after = Inventory.from_payload(Target.resolve(python).probe("inventory", {}, timeout=120))
    changed = _changes(before, _versions(inv_after))
    if done.outcome is not runner.Outcome.OK:
        tail = scrub(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.outcome.value)
        state = "; ".join(changed) if changed else "nothing changed"
        return Applied(
            False,
            changed,
            None,
            rollback_file,
            command,
            f"pip failed ({tail}). The environment now: {state}. To roll back: {command}",
        )
    report = check_inventory(inv_after, cache=Cache(default_dir()))
    errors = report.count(Severity.ERROR)
    message = f"applied: {len(changed)} distribution(s) changed; check afterwards: {report.verdict()}"
    return Applied(errors == 0, changed, report, rollback_file, command, message)


def _changes(before: dict[str, str], after: dict[str, str]) -> tuple[str, ...]:
    return tuple(
        f"{n} {before.get(n) or '(not installed)'} -> {after.get(n) or '(removed)'}"
        for n in sorted(set(before) | set(after))
        if before.get(n) != after.get(n)
    )


def _interrupted(exc: KeyboardInterrupt, python: str, before: dict[str, str], rollback: str) -> Interrupted:
    """What to say when pip was stopped half-way: what the environment holds now (read again), and the
    rollback command."""
    signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
    try:
        inv = Inventory.from_payload(Target.resolve(python).probe("inventory", {}, timeout=120))
        changed = _changes(before, _versions(inv))
        state = "changed so far: " + "; ".join(changed) if changed else "nothing changed"
    except (EnvdoctorError, KeyboardInterrupt):
        state = "its state could not be read again"
    return Interrupted(
        f"interrupted ({signal.Signals(signum).name}): pip was stopped before it finished. The environment: "
        f"{state}. To roll back: {rollback}",
        signum,
    )


def _versions(inv: Inventory) -> dict[str, str]:
    return {name: d.raw_version or "" for name, d in inv.winners.items()}


def _write_atomic(path: Path, text: str) -> None:
    try:
        atomic.write_text(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write the rollback file {path}: {exc.strerror or exc}") from exc
