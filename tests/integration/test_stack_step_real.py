"""The stack step for real: one Trainer / resume / LoRA / SFTTrainer step in real venvs (torch 2.13.0+cpu), on a
healthy stack and on stacks that import cleanly and break in the first step (tests/beds/README.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from envdoctor import api
from envdoctor.inventory import Inventory
from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.report import Finding, Report
from envdoctor.runtime import stack
from envdoctor.runtime.imports import RecordOwners
from envdoctor.target import Target
from tests import beds
from tests.hostile import alive, envdoctor, group_alive, leftovers, reaper
from tests.integration.test_train_step_real import Heard

pytestmark = pytest.mark.venv


def statuses(report: Report) -> dict[str, str]:
    assert report.train is not None
    return {s["step"]: s["status"] for s in report.train["stack"]["steps"]}


def stack_errors(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.check == stack.CHECK]


def run_stack(bed: beds.Bed) -> stack.StackRun:
    target = Target.resolve(str(bed.python))
    owners = RecordOwners(Inventory.from_payload(target.probe("inventory", {}, timeout=60)))
    return stack.run(str(bed.python), timeout=300, owners=owners, facts=Facts.shipped())


def test_trainer_resume_lora_and_sft_steps_pass_on_a_healthy_stack(hf_stack: beds.Bed) -> None:
    heard = Heard()
    report = api.check(python=hf_stack.python, symbols=False, train=True, timeout=300, progress=heard)
    assert statuses(report) == {"trainer": "passes", "resume": "passes", "lora": "passes", "sft": "passes"}
    assert [m for m in heard.lines if m.startswith("  step ")] == [f"  step {s}" for s in stack.STEPS]
    steps = {s["step"]: s for s in report.train["stack"]["steps"]}  # type: ignore[index]
    assert all(s["loss_finite"] and s["weights_changed"] for s in steps.values())
    assert steps["resume"]["global_step"] == 2  # it really went on from checkpoint-1
    assert stack_errors(report) == []
    assert "transformers" not in sys.modules and "trl" not in sys.modules


def fixed_copy(bed: beds.Bed, fix: str, dest: Path) -> beds.Bed:
    """A copy of ``bed`` with the release ``fix`` names at its bound (``accelerate>=1.3.0`` -> 1.3.0) installed."""
    name, _, version = fix.replace(">=", "==").replace("<=", "==").partition("==")
    copy = beds.copy(bed, dest)
    beds.pip("install", "--no-deps", "--no-compile", f"{name}=={version}", python=copy.python)
    return copy


@pytest.mark.online
def test_an_accelerate_without_keep_torch_compile_fails_the_first_trainer_step_and_the_fix_works(
    trainer_accelerate_keyword: beds.Bed, tmp_path: Path
) -> None:
    report = api.check(python=trainer_accelerate_keyword.python, symbols=False, train=True, timeout=300)
    assert statuses(report) == {"trainer": "fails", "resume": "skipped", "lora": "fails", "sft": "fails"}
    [error] = stack_errors(report)
    assert error.title == (
        "the Trainer, LoRA (peft) and SFTTrainer (trl) steps fail: TypeError: Accelerator.unwrap_model() got an "
        "unexpected keyword argument 'keep_torch_compile'"
    )
    assert error.packages[:2] == ("transformers", "accelerate")
    assert "accelerate 1.2.1 does not accept" in error.detail
    assert error.fix == ("accelerate>=1.3.0",)
    assert any("transformers/trainer.py:1990 in _wrap_model" in e for e in error.evidence)
    done = run_stack(fixed_copy(trainer_accelerate_keyword, error.fix[0], tmp_path / "venv"))
    assert done.stack is not None and done.findings == ()
    assert {r.step: r.status for r in done.stack.results} == dict.fromkeys(stack.STEPS, "passes")


@pytest.mark.online
def test_an_accelerate_without_dispatch_batches_fails_building_the_trainer_and_the_fix_works(
    trainer_accelerate_removed_keyword: beds.Bed, tmp_path: Path
) -> None:
    bed = trainer_accelerate_removed_keyword
    report = api.check(python=bed.python, symbols=False, train=True, timeout=300)
    assert statuses(report) == {"trainer": "fails", "resume": "skipped", "lora": "skipped", "sft": "skipped"}
    [error] = stack_errors(report)
    assert error.title.endswith(
        "TypeError: Accelerator.__init__() got an unexpected keyword argument 'dispatch_batches'"
    )
    assert error.packages[:2] == ("transformers", "accelerate")
    assert error.fix == ("accelerate<=0.34.2",)  # the last release whose Accelerator takes dispatch_batches
    done = run_stack(fixed_copy(bed, error.fix[0], tmp_path / "venv"))
    assert done.stack is not None
    assert {r.step: r.status for r in done.stack.results}["trainer"] == "passes"
    # the Trainer now trains; resuming is another problem of a 2024-era transformers under torch 2.13 (below)
    assert [f.title.split(":")[0] for f in done.findings] == ["the resume_from_checkpoint step fails"]
    assert "Accelerator" not in done.findings[0].title


@pytest.mark.online
def test_resuming_a_2024_stack_under_torch_2_13_fails_on_weights_only_and_the_transformers_fix_works(
    hf_stack_2024: beds.Bed, tmp_path: Path
) -> None:
    done = run_stack(hf_stack_2024)
    assert done.stack is not None
    assert {r.step: r.status for r in done.stack.results} == {
        "trainer": "passes",
        "resume": "fails",
        "lora": "passes",
        "sft": "passes",
    }
    [error] = done.findings
    assert error.title.startswith("the resume_from_checkpoint step fails: UnpicklingError: Weights only load failed")
    assert error.packages[:2] == ("transformers", "torch")
    assert "transformers calls torch.load without weights_only=False" in error.detail
    assert any("transformers/trainer.py:3033 in _load_rng_state" in e for e in error.evidence)
    assert error.fix == ("transformers>=4.47.0", "torch<2.6")  # torch<2.6: no such CPU wheel on this machine
    copy = beds.copy(hf_stack_2024, tmp_path / "venv")
    # transformers 4.47.0's Requires-Dist has tokenizers<0.22,>=0.21 (the bed has 0.20.3)
    beds.pip("install", "--no-deps", "--no-compile", "transformers==4.47.0", "tokenizers==0.21.0", python=copy.python)
    fixed = run_stack(copy)
    assert fixed.stack is not None and fixed.findings == ()
    resumed = {r.step: r for r in fixed.stack.results}["resume"]
    assert resumed.status == "passes" and resumed.record["global_step"] == 2  # it went on from checkpoint-1


@pytest.mark.parametrize("name", ["trainer-accelerate-keyword", "trainer-accelerate-removed-keyword"])
def test_the_failing_stacks_import_cleanly(name: str) -> None:
    """What makes them worth a training step: every import probe works, and nothing static is wrong."""
    report = api.check(python=beds.build(name).python, symbols=False, probes=True, timeout=120)
    assert report.probes and all(p["ending"] == "ok" for p in report.probes)
    assert report.findings == ()


def test_a_stack_step_that_hangs_is_stopped_at_the_timeout_with_its_process_group(
    hf_stack_2024: beds.Bed, tmp_path: Path
) -> None:
    """ENVDOCTOR_TEST_STACK_HANG: the probe (and a child of it) sleep in the first step, after every import. The
    limit only has to cover the stack's imports (15 to 40 s on the loaded 2-core test machine)."""
    pidfile, tmp = tmp_path / "hang.pid", tmp_path / "tmp"
    tmp.mkdir()
    args = ("check", "--python", str(hf_stack_2024.python), "--train", "--no-symbols", "--format", "json")
    pids: list[int] = []
    with reaper(pids):
        proc = envdoctor(
            *args, "--timeout", "90", env={"ENVDOCTOR_TEST_STACK_HANG": str(pidfile), "TMPDIR": str(tmp)}, timeout=400
        )
        probe, pgid, child = map(int, pidfile.read_text().split())  # it got past the imports, into the step
        pids += [probe, child]
        assert not alive(probe) and not alive(child) and not group_alive(pgid)
    assert proc.returncode == 1, proc.stderr  # an error finding (default --fail-on error)
    report = json.loads(proc.stdout)
    [error] = [f for f in report["findings"] if f["check"] == stack.CHECK]
    assert (error["id"], error["severity"]) == ("stack-step-fails", "error")
    assert error["title"] == (
        "the stack step did not end normally in Trainer: the stack_step probe did not finish within 90 s and was "
        "stopped; its process group was killed"
    )
    assert "It had started 'step trainer'" in error["detail"]
    assert "stack" not in report["train"]  # no half-read results
    assert [p["verdict"] for p in report["train"]["precisions"]] == ["native", "fallback", "native", "not attempted"]
    assert leftovers(tmp) == []  # the checkpoints' folder too, though the probe was killed
