"""The stack step (``envdoctor check --train``): one step of the user's own stack, in the target.

``run`` asks probes/stack_step.py (in the target interpreter, through envdoctor.runner: own process
group, time limit, offline, nothing written into the target) for one ``transformers.Trainer`` step of a
tiny model built from a config (which saves a checkpoint), a Trainer resumed from that checkpoint, the
same step with a peft LoRA adapter and one ``trl.SFTTrainer`` step, for whatever of these is installed.
``interpret`` turns the JSON into a result per step; a step that raised is diagnosed (traceback ->
packages through each RECORD -> fix, envdoctor.runtime.diagnosis) and becomes an error finding that
``pin`` plans for. ``interpret`` and ``findings`` are pure.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envdoctor import runner
from envdoctor.report import Finding, Severity, Skipped
from envdoctor.runtime.diagnosis import Diagnosis, NoOwners, Owners, diagnose, owner_of
from envdoctor.runtime.followed import ProgressFile
from envdoctor.versions import Version, canonical, version_or_none

if TYPE_CHECKING:
    from envdoctor.knowledge.wheelfacts import Facts

CHECK = "stack-step"
STEPS = ("trainer", "resume", "lora", "sft")
LABEL = {
    "trainer": "Trainer",
    "resume": "resume_from_checkpoint",
    "lora": "LoRA (peft)",
    "sft": "SFTTrainer (trl)",
}
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}
_WEIGHTS_ONLY = re.compile(r"Weights only load failed")
_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (?P<name>[\w.]+)")


@dataclass(frozen=True)
class StepResult:
    """What one stack step did: ``status`` passes / fails / skipped."""

    step: str
    status: str
    record: Mapping[str, Any]
    diagnosis: Diagnosis | None = None

    def to_dict(self) -> dict[str, Any]:
        error = self.record.get("error")
        return {
            "step": self.step,
            "status": self.status,
            "skipped": self.record.get("skipped"),
            "error": None if not error else {"type": error.get("type"), "message": error.get("message")},
            "loss": self.record.get("loss"),
            "loss_finite": self.record.get("loss_finite"),
            "weights_changed": self.record.get("weights_changed"),
            "global_step": self.record.get("global_step"),
            "seconds": self.record.get("seconds"),
            "diagnosis": self.diagnosis.to_dict() if self.diagnosis is not None else None,
        }


@dataclass(frozen=True)
class StackStep:
    imports: Mapping[str, Any]
    results: tuple[StepResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``stack`` object of the JSON report's ``train`` (README, "JSON output")."""
        return {
            "imports": {
                name: {"ok": bool(r.get("ok")), "version": r.get("version")} for name, r in self.imports.items()
            },
            "steps": [r.to_dict() for r in self.results],
        }


# -------------------------------------------------------------------------------------------- interpretation


def interpret(payload: Mapping[str, Any], owners: Owners | None = None, facts: Facts | None = None) -> StackStep:
    """A result per step of probe ``payload`` (schema envdoctor.stack-step/1)."""
    owners = owners if owners is not None else NoOwners()
    results = []
    for record in payload.get("steps") or ():
        if not isinstance(record, Mapping):
            continue
        name = str(record.get("step"))
        if record.get("skipped"):
            results.append(StepResult(name, "skipped", record))
        elif not record.get("ran"):
            results.append(StepResult(name, "fails", record, diagnose_error(record.get("error") or {}, owners, facts)))
        elif not record.get("loss_finite") or not record.get("weights_changed"):
            results.append(StepResult(name, "fails", record))
        else:
            results.append(StepResult(name, "passes", record))
    return StackStep(imports=payload.get("imports") or {}, results=tuple(results))


def diagnose_error(error: Mapping[str, Any], owners: Owners, facts: Facts | None) -> Diagnosis:
    """The diagnosis of a step's exception: a keyword the callee lacks, torch.load's weights_only default,
    else what envdoctor.runtime.diagnosis makes of the traceback."""
    text = str(error.get("traceback") or f"{error.get('type')}: {error.get('message')}")
    base = diagnose(text, owners, facts)
    callee = error.get("callee")
    if isinstance(callee, Mapping) and callee.get("keyword"):
        found = _keyword_missing(base, callee, owners, facts)
        if found is not None:
            return found
    if _WEIGHTS_ONLY.search(text):
        unsupported = _UNSUPPORTED_GLOBAL.search(text)
        return _weights_only(base, unsupported["name"] if unsupported else None, owners, facts)
    return base


def _keyword_missing(
    base: Diagnosis, callee: Mapping[str, Any], owners: Owners, facts: Facts | None
) -> Diagnosis | None:
    provider = owner_of(str(callee.get("file") or ""), owners) if callee.get("file") else None
    if provider is None:
        return None
    caller = next((p for p in reversed(_frame_owners(base, owners)) if p != provider), None)
    keyword, qualname = str(callee["keyword"]), str(callee.get("qualname"))
    module = str(callee.get("module") or "")
    installed = owners.version(provider)
    label = f"{provider} {installed}" if installed else provider
    cause = (
        f"{caller or 'the calling code'} calls {qualname}(..., {keyword}=...), which the installed {label} "
        f"does not accept (its parameters: {', '.join(p for p in callee.get('params') or () if p != 'self')})"
    )
    fix = _keyword_fix(facts, provider, f"{module.split('.', maxsplit=1)[0]}.{qualname}", keyword, installed)
    packages = tuple(dict.fromkeys(p for p in (caller, provider, *base.packages) if p))
    return Diagnosis("keyword-missing", base.error, cause, packages, fix, base.frames)


def _frame_owners(diag: Diagnosis, owners: Owners) -> list[str]:
    out: list[str] = []
    for frame in diag.frames:
        owner = owner_of(frame.path, owners)
        if owner is not None:
            out.append(owner)
    return out


def _keyword_fix(facts: Facts | None, dist: str, target: str, keyword: str, installed: str | None) -> tuple[str, ...]:
    """From the harvested signatures (matrix/facts/signatures/): the releases of ``dist`` whose ``target``
    accepts ``keyword``, as the nearest range on the side of the installed release."""
    have = version_or_none(installed)
    found = facts.signature(dist, target) if facts is not None else None
    entry = found[1] if found is not None else None
    if have is None or entry is None:
        return ()
    spans = [*entry.get("params", {}).get(keyword, ()), *entry.get("var_keyword", ())]
    if not spans:
        return ()
    firsts, lasts = [Version(a) for a, _ in spans], [Version(b) for _, b in spans]
    newer = [v for v in firsts if v > have]
    if newer:
        return (f"{canonical(dist)}>={min(newer)}",)
    older = [v for v in lasts if v < have]
    if older:
        return (f"{canonical(dist)}<={max(older)}",)
    return ()


def _weights_only(base: Diagnosis, global_name: str | None, owners: Owners, facts: Facts | None) -> Diagnosis:
    callers = [p for p in _frame_owners(base, owners) if p != "torch"]
    caller = callers[-1] if callers else None
    torch = owners.version("torch")
    cause = (
        f"{caller or 'the calling code'} calls torch.load without weights_only=False on a file that holds "
        f"{global_name or 'a non-tensor object'}; torch 2.6 made weights_only=True the default, so the installed "
        f"torch{' ' + torch if torch else ''} refuses it (resuming from a checkpoint breaks while saving works)"
    )
    fix: tuple[str, ...] = ("torch<2.6",)
    first = _first_loading(caller, owners, facts)
    if first is not None:
        cause += f"; {caller} {first} and later allowlist what they load (matrix/facts/weights-only.json)"
        fix = (f"{canonical(caller or '')}>={first}", *fix)
    packages = tuple(dict.fromkeys(p for p in (caller, "torch", *base.packages) if p))
    return Diagnosis("torch-load-weights-only", base.error, cause, packages, fix, base.frames)


def _first_loading(caller: str | None, owners: Owners, facts: Facts | None) -> str | None:
    """The first release of ``caller`` that loads under torch.load's weights_only default, when the installed
    one is older (matrix/facts/weights-only.json); else None."""
    entry = facts.weights_only_caller(caller) if facts is not None and caller else None
    first = version_or_none(str(entry.get("first_fixed"))) if entry else None
    have = version_or_none(owners.version(caller)) if caller else None
    if first is None or have is None or have >= first:
        return None
    return str(first)


# -------------------------------------------------------------------------------------------- findings


def findings(stack: StackStep) -> list[Finding]:
    """An error per distinct failure (steps failing with the same exception share one), with its diagnosis
    (cause, packages, fix)."""
    groups: dict[str, list[StepResult]] = {}
    for r in stack.results:
        if r.status == "fails":
            error = r.record.get("error") or {}
            key = f"{error.get('type')}: {str(error.get('message', '')).splitlines()[0]}" if error else r.step
            groups.setdefault(key, []).append(r)
    return [_finding(key, group) for key, group in groups.items()]


def _finding(key: str, group: Sequence[StepResult]) -> Finding:
    first = group[0]
    names = [LABEL.get(r.step, r.step) for r in group]
    labels = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    diag = first.diagnosis
    if first.record.get("error"):
        title = f"the {labels} step fails: {key}" if len(group) == 1 else f"the {labels} steps fail: {key}"
    else:
        title = (
            f"the {labels} step ran but did not train (loss {first.record.get('loss')}, weights changed: "
            f"{first.record.get('weights_changed')})"
        )
    detail = f"Cause: {diag.cause}." if diag is not None and diag.cause else "No known cause: the error as it is."
    detail += " Every import worked; the step ran in a subprocess of the target (tiny model from a config, offline)."
    frames = [f for f in (diag.frames if diag else ()) if "site-packages" in f.path or "dist-packages" in f.path]
    return Finding(
        id="stack-step-fails",
        severity=Severity.ERROR,
        title=title,
        detail=detail,
        packages=diag.packages if diag is not None and diag.packages else ("transformers",),
        evidence=tuple(f"at {f}" for f in frames[-3:]),
        fix=diag.fix if diag is not None else (),
        check=CHECK,
    )


# -------------------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class StackRun:
    stack: StackStep | None
    findings: tuple[Finding, ...] = ()
    skipped: tuple[Skipped, ...] = ()


def run(
    python: str,
    *,
    timeout: float,
    owners: Owners | None = None,
    facts: Facts | None = None,
    steps: Sequence[str] = STEPS,
    on_progress: Callable[[str], None] | None = None,
    env: Mapping[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> StackRun:
    """Run the stack-step probe in ``python`` and interpret it; never raises for what the target does.
    ``on_progress`` hears each import and each step as the probe starts it ("import trl", "step sft"). ``env``:
    the probe's whole environment (default: ours); a rank of a distributed launch leaves the launcher's
    variables out, or the Trainer would take itself for one rank of that launch (only rank 0 saves a
    checkpoint, so the other ranks' resume finds none). ``on_start``: gets the probe's process group (a caller
    running it on a thread kills it with that when interrupted)."""
    heard: list[str] = []  # what the probe last started: where a hang was

    def hear(line: str) -> None:
        heard.append(line)
        if on_progress is not None:
            on_progress(line)

    with ProgressFile(hear) as path, tempfile.TemporaryDirectory(prefix="envdoctor-stack-") as root:
        # the probe's output_dirs go under root: removed here even when the probe is killed at the timeout
        request = {"steps": list(steps), "progress": path, "root": root}
        env = {**(env if env is not None else runner.child_environment()), **OFFLINE}
        result = runner.run_probe(python, "stack_step", request, timeout=timeout, env=env, on_start=on_start)
    if result.outcome in (runner.Outcome.TIMEOUT, runner.Outcome.CRASHED):
        return StackRun(None, findings=(_ended_badly(result, heard[-1] if heard else None, timeout),))
    if not result.ok or result.payload is None:
        return StackRun(None, skipped=(Skipped(CHECK, result.message),))
    stack = interpret(result.payload, owners, facts)
    imports = result.payload.get("imports") or {}
    for name in ("torch", "transformers"):
        record = imports.get(name) or {}
        if record.get("ok"):
            continue
        error = record.get("error") or {}
        if error.get("type") == "ModuleNotFoundError" and f"'{name}'" in str(error.get("message")):
            return StackRun(None)  # no stack to run: not a check that could not run
        why = f"`import {name}` fails in the target ({error.get('type')}: {error.get('message')}), so no stack step ran"
        return StackRun(stack, skipped=(Skipped(CHECK, why),))
    return StackRun(stack, findings=tuple(findings(stack)))


def _ended_badly(result: runner.ProbeResult, last: str | None, timeout: float) -> Finding:
    """The error for a stack probe that was killed at the timeout or crashed, naming what it had started."""
    timed_out = result.outcome is runner.Outcome.TIMEOUT
    kind, _, name = (last or "").partition(" ")
    where = f" in {LABEL.get(name, name)}" if kind == "step" else f" importing {name}" if kind == "import" else ""
    started = repr(last) if last else "nothing yet"
    how = "its process group was killed" if timed_out else "it crashed"
    detail = (
        f"It had started {started} when it was stopped. A step that never ends (a deadlock, a wait on a network "
        f"the step does not need: it runs offline) or a machine too slow for --timeout {timeout:g}: run that step "
        "by hand, or raise --timeout (the stack's imports alone took 15 to 40 s on a loaded 2-core machine)."
        if timed_out
        else f"It had started {started}. A crash in a compiled extension: check the torch build against the machine."
    )
    return Finding(
        id="stack-step-fails",
        severity=Severity.ERROR,
        title=f"the stack step did not end normally{where}: {result.message}; {how}",
        detail=detail,
        packages=("transformers",),
        check=CHECK,
    )
