"""Which stack-step failures in the copy are held against a plan (envdoctor.fix.trialstep): the rules, on
fabricated step results (the real steps run in tests/integration/test_pin_verify_real.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from envdoctor.fix import trialstep
from envdoctor.inventory import Inventory
from envdoctor.runtime import stack
from envdoctor.runtime.diagnosis import Diagnosis, Frame, NoOwners
from tests.fakes import Fake, make_site, scan

SITE = "/copy/lib/python3.11/site-packages"
KEYWORD = ("TypeError", "Accelerator.unwrap_model() got an unexpected keyword argument 'keep_torch_compile'")
WEIGHTS = ("UnpicklingError", "Weights only load failed. \x1b[1mdo those steps\x1b[0m.\n\t(1) In PyTorch 2.6")


def result(step: str, status: str, error: tuple[str, str] | None = None, diag: Diagnosis | None = None):  # type: ignore[no-untyped-def]
    record = {"step": step, "ran": status == "passes"}
    if error is not None:
        record["error"] = {"type": error[0], "message": error[1]}
    return stack.StepResult(step, status, record, diag)


def diagnosis(packages: Sequence[str], fix: Sequence[str], frame: str) -> Diagnosis:
    return Diagnosis("x", "", "", tuple(packages), tuple(fix), (Frame(f"{SITE}/{frame}", 1, "f"),))


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    return scan(make_site(tmp_path / "site", {n: Fake("1.0") for n in ("transformers", "accelerate", "torch")}))


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[stack.StackRun]]:
    """The stack runs to answer, in order: the copy's, then the target's."""
    answers: list[stack.StackRun] = []
    monkeypatch.setattr(stack, "run", lambda *a, **k: answers.pop(0))
    yield answers
    assert answers == []


def judge(inv: Inventory, moved: Sequence[str]) -> trialstep.StepVerdict:
    return trialstep.judge(inv, "/copy/bin/python", moved, timeout=60, site=SITE, owners=NoOwners())


def run(*results: stack.StepResult) -> stack.StackRun:
    return stack.StackRun(stack.StackStep({}, results))


def test_a_step_that_passed_in_the_target_is_held_with_its_evidence_and_fix(
    inv: Inventory, runs: list[stack.StackRun]
) -> None:
    diag = diagnosis(("transformers", "accelerate"), ("accelerate>=1.3.0",), "transformers/trainer.py")
    runs += [run(result("trainer", "fails", KEYWORD, diag)), run(result("trainer", "passes"))]
    verdict = judge(inv, ["accelerate"])
    assert verdict.held == (
        "the Trainer step fails: TypeError: Accelerator.unwrap_model() got an unexpected keyword argument "
        "'keep_torch_compile' (at transformers/trainer.py:1 in f)",
    )
    assert verdict.fixes == ("accelerate>=1.3.0",)


def test_a_step_failing_the_same_way_in_the_target_is_named_not_held(
    inv: Inventory, runs: list[stack.StackRun]
) -> None:
    diag = diagnosis(("transformers", "torch"), ("torch<2.6",), "torch/serialization.py")
    runs += [
        run(result("trainer", "passes"), result("resume", "fails", WEIGHTS, diag)),
        run(result("trainer", "passes"), result("resume", "fails", WEIGHTS, diag)),
    ]
    verdict = judge(inv, ["transformers"])
    assert verdict.held == () and verdict.passed == ("Trainer",)
    assert verdict.unchanged == (
        "the resume_from_checkpoint step fails: UnpicklingError: Weights only load failed. do those steps. "
        "(at torch/serialization.py:1 in f): it fails the same way in the environment itself, not the plan's doing",
    )
    assert "\x1b" not in verdict.phrase()


@pytest.mark.parametrize(
    ("moved", "packages", "fix", "held"),
    [
        (["accelerate"], ("transformers", "torch"), ("torch<2.6",), False),  # known, and nothing moved in it
        (["transformers"], ("transformers", "torch"), ("torch<2.6",), True),  # the plan moved the caller
        (["peft"], ("accelerate", "transformers"), (), True),  # no known fix: never waved through
    ],
)
def test_a_step_the_target_cannot_run_is_held_unless_its_known_diagnosis_names_no_moved_distribution(
    inv: Inventory,
    runs: list[stack.StackRun],
    moved: list[str],
    packages: tuple[str, ...],
    fix: tuple[str, ...],
    held: bool,
) -> None:
    diag = diagnosis(packages, fix, "torch/serialization.py")
    cannot = ("RuntimeError", "Failed to import transformers.trainer")
    runs += [run(result("trainer", "fails", WEIGHTS, diag)), run(result("trainer", "fails", cannot))]
    verdict = judge(inv, moved)
    assert bool(verdict.held) is held and bool(verdict.unchanged) is not held
