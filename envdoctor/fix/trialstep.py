"""The stack step in the throwaway copy (``pin --verify``): one Trainer step of the user's stack with the plan.

When the target has transformers, accelerate and torch, ``judge`` runs the stack step (envdoctor.runtime.stack:
Trainer step, resume, LoRA, SFTTrainer, whatever is installed) in the copy's interpreter. A step that fails
there is compared with the same step in the target (run only then). One that fails the same way before and
after is named but not held against the plan, and so is one the target did not pass either (its imports fail
there, or it fails another way) whose diagnosis is known and names none of the moved distributions
(``resume_from_checkpoint`` under torch's ``weights_only`` default, when the plan moved accelerate); any other is
the plan's failure (a step that passed in the target; one whose diagnosis names a moved distribution; one with
no known fix). Each failure carries the step's
evidence (the last frame of an installed package) and its diagnosed fix (``accelerate>=1.3.0``), which
``pin`` uses to choose the next release to try.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from envdoctor.inventory import Inventory
from envdoctor.names import canonical

if TYPE_CHECKING:
    from envdoctor.runtime.diagnosis import Owners
    from envdoctor.runtime.stack import StepResult

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
STACK = ("transformers", "accelerate", "torch")
"""The distributions the stack step needs: without all three, no step runs in the copy."""


def wanted(inv: Inventory) -> bool:
    """Whether the target has the stack the step runs (STACK)."""
    return all(inv.get(name) is not None for name in STACK)


@dataclass(frozen=True)
class StepVerdict:
    """What the stack step showed in the copy."""

    passed: tuple[str, ...] = ()
    """The labels of the steps that passed (``Trainer``, ``LoRA (peft)``)."""
    held: tuple[str, ...] = ()
    """Each failure held against the plan: ``the Trainer step fails: TypeError: ... (at FILE:LINE in f)``."""
    unchanged: tuple[str, ...] = ()
    """Each failure named but not held against the plan, with why."""
    fixes: tuple[str, ...] = ()
    """The diagnosed fixes of the held failures (requirement specifiers)."""

    def phrase(self) -> str:
        """How the step went, for the summary line: ``the stack step passes (Trainer, LoRA (peft))``."""
        if self.held:
            return self.held[0]
        text = f"the stack step passes ({', '.join(self.passed)})" if self.passed else "no stack step passes"
        return text + "".join(f"; {u}" for u in self.unchanged)


def judge(
    inv: Inventory,
    python: str,
    moved: Collection[str],
    *,
    timeout: float,
    site: str,
    owners: Owners,
    on_start: Callable[[int], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> StepVerdict:
    """Run the stack step in the copy's ``python`` (``owners``: the copy's RecordOwners) and judge its failures
    against the target's (``inv``); ``site``: the copy's site folder, left out of the evidence's paths;
    ``on_start``: gets each step process's group, ``env`` is each step process's environment
    (envdoctor.runtime.stack.run)."""
    from envdoctor.knowledge.wheelfacts import Facts
    from envdoctor.runtime import stack
    from envdoctor.runtime.imports import RecordOwners

    facts = Facts.shipped()
    done = stack.run(python, timeout=timeout, owners=owners, facts=facts, on_start=on_start, env=env)
    if done.stack is None:  # it did not end normally (its finding says how), or could not run at all
        return StepVerdict(held=tuple(_short(f.title, site) for f in done.findings))
    failing = [r for r in done.stack.results if r.status == "fails"]
    passed = tuple(stack.LABEL.get(r.step, r.step) for r in done.stack.results if r.status == "passes")
    if not failing:
        return StepVerdict(passed=passed)
    wanted_steps = {r.step for r in failing} | ({"trainer"} if any(r.step == "resume" for r in failing) else set())
    steps = [s for s in stack.STEPS if s in wanted_steps]  # resuming needs the Trainer step's checkpoint
    before = stack.run(
        inv.python.executable,
        timeout=timeout,
        owners=RecordOwners(inv),
        facts=facts,
        steps=steps,
        on_start=on_start,
        env=env,
    )
    was = {r.step: r for r in (before.stack.results if before.stack is not None else ())}
    moved_names = {canonical(m) for m in moved}
    held: list[str] = []
    unchanged: list[str] = []
    fixes: list[str] = []
    for finding in stack.findings(stack.StackStep(done.stack.imports, tuple(failing))):
        group = [r for r in failing if stack.LABEL.get(r.step, r.step) in finding.title]
        line = _evidence(finding.title, finding.evidence, site)
        if group and all(_same_way(r, was.get(r.step)) for r in group):
            unchanged.append(f"{line}: it fails the same way in the environment itself, not the plan's doing")
        elif not _passed(group, was) and finding.fix and not moved_names & {canonical(p) for p in finding.packages}:
            why = "none of the moved distributions is in its diagnosis, and the environment itself cannot run this step"
            unchanged.append(f"{line}: not the plan's doing, {why}")
        else:
            held.append(line)
            fixes += [fix for fix in finding.fix if fix not in fixes]
    return StepVerdict(passed, tuple(held), tuple(unchanged), tuple(fixes))


def _passed(group: Sequence[StepResult], was: Mapping[str, StepResult]) -> bool:
    return any(r.step in was and was[r.step].status == "passes" for r in group)


def _same_way(now: StepResult, then: StepResult | None) -> bool:
    """Whether the target's step failed with the same exception (type and first line of its message)."""
    if then is None or then.status != "fails":
        return False
    a, b = now.record.get("error") or {}, then.record.get("error") or {}
    return bool(a) and a.get("type") == b.get("type") and _first(a) == _first(b)


def _first(error: Mapping[str, object]) -> str:
    lines = str(error.get("message", "")).splitlines()
    return lines[0] if lines else ""


def _evidence(title: str, evidence: Sequence[str], site: str) -> str:
    """The finding's title with the last installed-package frame of its traceback (``at FILE:LINE in f``)."""
    text = _short(title, site)
    return f"{text} ({_short(evidence[-1], site)})" if evidence else text


def _short(text: str, site: str) -> str:
    """``text`` with the copy's site folder left out of its paths (the copy is gone when anyone reads it), on
    one line, without the terminal's colour codes (torch's weights-only message has some)."""
    return " ".join(_ANSI.sub("", text.replace(site.rstrip("/") + "/", "")).split())
