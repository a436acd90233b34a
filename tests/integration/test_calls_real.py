"""The calls check on real venvs from real wheels: the two stacks whose imports all work and whose first Trainer
step fails on a keyword accelerate does not accept (tests/beds/README.md), `check` and `pin` on them; trl 0.11.4's
trainers whose compute_loss refuses what transformers 4.46's Trainer passes; and healthy stacks that stay clean."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import beds, peers
from tests.hostile import envdoctor

pytestmark = pytest.mark.venv


def calls_findings(python: Path) -> list[dict[str, Any]]:
    data = peers.envdoctor_report(python)[1]
    assert "calls" in data["checks"]
    return [f for f in data["findings"] if f["check"] == "calls"]


def test_check_reports_the_keyword_transformers_passes_and_accelerate_1_2_lacks(
    trainer_accelerate_keyword: beds.Bed,
) -> None:
    """Static: no step runs. transformers 4.52.4's Trainer._wrap_model passes keep_torch_compile= to
    accelerate 1.2.1's Accelerator.unwrap_model (added in 1.3.0); the stack step fails on it (test_stack_step_real)."""
    bed = trainer_accelerate_keyword
    [f] = [f for f in calls_findings(bed.python) if f["severity"] == "error"]
    assert f["id"] == "call-keyword-missing"
    assert f["packages"] == ["transformers", "accelerate"]
    assert f["fix"] == ["accelerate>=1.3.0"]
    assert f["title"] == (
        "transformers 4.52.4 calls Accelerator.unwrap_model(keep_torch_compile=...), which accelerate 1.2.1 "
        "does not accept"
    )
    assert str(f["evidence"][0]).endswith(
        "transformers/trainer.py:1990: Trainer._wrap_model: Accelerator.unwrap_model(keep_torch_compile=...) "
        "(self.accelerator = Accelerator(...) at line 5176)"
    )


def test_check_reports_the_keyword_accelerate_1_0_removed(trainer_accelerate_removed_keyword: beds.Bed) -> None:
    """transformers 4.37.2 builds Accelerator(dispatch_batches=...); accelerate 1.0.0 removed the keyword."""
    [f] = calls_findings(trainer_accelerate_removed_keyword.python)
    assert (f["id"], f["severity"]) == ("call-keyword-missing", "error")
    assert f["packages"] == ["transformers", "accelerate"]
    assert f["fix"] == ["accelerate>=0.18.0,<1.0.0"]  # 0.18.0 added gradient_accumulation_plugin, also passed
    assert "TypeError: Accelerator.__init__() got an unexpected keyword argument 'dispatch_batches'" in f["detail"]
    assert "transformers/trainer.py:3979 (Trainer.create_accelerator_and_postprocess)" in f["detail"]


@pytest.mark.online
@pytest.mark.parametrize(
    ("bed_name", "line"),
    [
        ("trainer-accelerate-keyword", "accelerate==1.3.0  # was 1.2.1; fixes call-keyword-missing"),
        ("trainer-accelerate-removed-keyword", "accelerate==0.34.2  # was 1.0.1; fixes call-keyword-missing"),
    ],
)
def test_pin_moves_accelerate_to_the_nearest_release_that_accepts_every_call(bed_name: str, line: str) -> None:
    bed = beds.build(bed_name)
    out = envdoctor("pin", "--python", str(bed.python), "--changes-only", timeout=900)
    assert out.returncode == 0, out.stderr
    assert "# verified: pip" in out.stdout  # pip resolved it, and the re-check of the resolved set is clean
    assert line in out.stdout.splitlines()


def test_trl_0_11_trainers_refuse_the_num_items_in_batch_transformers_4_46_passes(
    trl_undeclared_rich: beds.Bed,
) -> None:
    """A real override break in released wheels: trl 0.11.4's DPOTrainer.compute_loss(self, model, inputs,
    return_outputs=False), and transformers 4.46.3's Trainer.training_step (trainer.py:3579) calls
    self.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch). pip check is clean."""
    rc, out = peers.pip_check(trl_undeclared_rich.python)
    assert rc == 0, out
    found = calls_findings(trl_undeclared_rich.python)
    [f] = [f for f in found if f["severity"] == "error"]
    assert (f["id"], f["packages"]) == ("call-override-keyword", ["trl", "transformers"])
    assert "DPOTrainer.compute_loss (num_items_in_batch=)" in f["title"]
    assert any(str(e).endswith("transformers/trainer.py:3579: Trainer.training_step") for e in f["evidence"])
    # the trainers that reach the base's call only on a path they replace are notes, not errors
    assert {x["severity"] for x in found} == {"error", "info"}


def test_the_healthy_hf_stack_has_no_call_finding_at_all(hf_stack: beds.Bed) -> None:
    """transformers 5.23.0, accelerate 1.15.0, peft, trl 1.16.0: every harvested call and override is read, none
    is reported."""
    assert calls_findings(hf_stack.python) == []


ONLINE_DPO_STEP = """
import runpy, sys, tempfile
ns = runpy.run_path(sys.argv[1])  # probes/stack_step.py: the tiny model and the in-memory tokenizer
import torch, transformers, datasets, trl
stack = ns["Stack"]({"torch": torch, "transformers": transformers, "datasets": datasets, "trl": trl}, tempfile.mkdtemp())
model, _ = stack.model()
tok = stack.tokenizer()
words = ns["WORDS"]
config = transformers.GPT2Config(vocab_size=len(words), n_embd=32, n_layer=1, n_head=2, n_positions=64, num_labels=1,
                                 pad_token_id=tok.pad_token_id)
reward = transformers.GPT2ForSequenceClassification(config)
rows = {"prompt": [" ".join(words[3 + (i + j) % 60] for j in range(4)) for i in range(8)]}
args = stack.args(trl.OnlineDPOConfig, "odpo", 1, save_strategy="no", max_new_tokens=4)
trl.OnlineDPOTrainer(model=model, reward_model=reward, args=args, train_dataset=stack.dataset(rows), tokenizer=tok).train()
"""


@pytest.mark.online
def test_the_refused_override_really_fails_the_first_step(trl_undeclared_rich: beds.Bed, tmp_path: Path) -> None:
    """With rich installed (the bed's import break), one real OnlineDPOTrainer step (tiny model, offline) dies
    where the finding says: transformers 4.46.3 calls self.training_step(model, inputs, num_items_in_batch),
    trl 0.11.4's override takes (self, model, inputs)."""
    bed = beds.copy(trl_undeclared_rich, tmp_path / "venv")
    beds.pip("install", "rich", python=bed.python)
    [f] = [f for f in calls_findings(bed.python) if f["severity"] == "error"]
    assert "OnlineDPOTrainer.training_step (3 positional arguments)" in f["detail"]
    script = tmp_path / "step.py"
    script.write_text(ONLINE_DPO_STEP, encoding="utf-8")
    stack_step = Path(__file__).resolve().parents[2] / "probes" / "stack_step.py"
    run = subprocess.run([str(bed.python), str(script), str(stack_step)], capture_output=True, text=True, timeout=600)
    assert run.returncode != 0
    assert "TypeError: OnlineDPOTrainer.training_step() takes 3 positional arguments but 4 were given" in run.stderr


@pytest.mark.parametrize("bed_name", ["train-cpu", "hf-stack-2024", "peft-new-accelerate"])
def test_healthy_stacks_have_no_call_error_or_warning(bed_name: str) -> None:
    found = calls_findings(beds.build(bed_name).python)
    assert [f for f in found if f["severity"] != "info"] == []
