"""The calls check on small fabricated packages, judged with the real harvested facts (matrix/facts/signatures):
keywords a callee's release does not accept, members it does not define, overrides that refuse the base's
calls; and only where the receiver's class is known."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from envdoctor.cache import Cache
from envdoctor.checks.symbols import calls as calls_module
from envdoctor.checks.symbols.calls import check_calls
from envdoctor.diagnose import check_inventory
from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.report import Finding, Severity
from envdoctor.source.index import SourceIndex
from tests.fakes import Fake, make_site, scan

ACCELERATOR = """
class Accelerator:
    def __init__(self, device_placement=True, split_batches=False, mixed_precision=None):
        self.state = None

    def unwrap_model(self, model, keep_fp32_wrapper=True):
        return model
"""


def accelerate(version: str = "1.2.1") -> Fake:
    return Fake(
        version,
        files={
            "accelerate/__init__.py": "from .accelerator import Accelerator\n",
            "accelerate/accelerator.py": ACCELERATOR,
        },
    )


def transformers(trainer: str, version: str = "4.52.4") -> Fake:
    return Fake(
        version,
        ["accelerate>=0.26.0; extra == 'accelerate'"],
        files={"transformers/__init__.py": "", "transformers/trainer.py": trainer},
    )


TRAINER = """
from accelerate import Accelerator

class Trainer:
    def create_accelerator_and_postprocess(self):
        args = {}
        self.accelerator = Accelerator(**args)

    def _wrap_model(self, model, training=True):
        if self.accelerator.unwrap_model(model, keep_torch_compile=False) is not model:
            return model
        return model
"""


def calls(tmp_path: Path, dists: dict[str, Fake]) -> list[Finding]:
    site = make_site(tmp_path / "site", dists)
    return check_calls(SourceIndex(scan(site)), Facts.shipped())


def brief(found: list[Finding]) -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    return sorted((f.id, str(f.severity), f.packages, f.fix) for f in found)


def test_a_keyword_the_installed_callee_release_lacks_is_an_error_with_the_releases_that_accept_it(
    tmp_path: Path,
) -> None:
    """transformers 4.52.4's Trainer._wrap_model: self.accelerator.unwrap_model(model, keep_torch_compile=False);
    accelerate added keep_torch_compile in 1.3.0 (facts)."""
    [f] = calls(tmp_path, {"accelerate": accelerate(), "transformers": transformers(TRAINER)})
    assert (f.id, f.severity, f.packages, f.fix) == (
        "call-keyword-missing",
        Severity.ERROR,
        ("transformers", "accelerate"),
        ("accelerate>=1.3.0",),
    )
    assert f.title == (
        "transformers 4.52.4 calls Accelerator.unwrap_model(keep_torch_compile=...), which accelerate 1.2.1 "
        "does not accept"
    )
    assert "TypeError: Accelerator.unwrap_model() got an unexpected keyword argument 'keep_torch_compile'" in f.detail
    assert f.evidence[0].endswith(
        "transformers/trainer.py:10: Trainer._wrap_model: Accelerator.unwrap_model(keep_torch_compile=...) "
        "(self.accelerator = Accelerator(...) at line 7)"
    )


def test_a_release_that_accepts_the_keyword_is_clean(tmp_path: Path) -> None:
    assert calls(tmp_path, {"accelerate": accelerate("1.3.0"), "transformers": transformers(TRAINER)}) == []


def test_a_removed_keyword_of_a_constructor_call_is_fixed_by_the_older_releases(tmp_path: Path) -> None:
    """transformers 4.37.2 calls Accelerator(dispatch_batches=...); accelerate 1.0.0 removed it."""
    trainer = "from accelerate import Accelerator\n\ndef make():\n    return Accelerator(dispatch_batches=None)\n"
    [f] = calls(tmp_path, {"accelerate": accelerate("1.0.1"), "transformers": transformers(trainer, "4.37.2")})
    assert brief([f]) == [("call-keyword-missing", "error", ("transformers", "accelerate"), ("accelerate<1.0.0",))]
    assert "TypeError: Accelerator.__init__() got an unexpected keyword argument 'dispatch_batches'" in f.detail


def test_a_local_name_bound_only_to_the_constructor_is_known(tmp_path: Path) -> None:
    trainer = (
        "import accelerate as acc\n\ndef save(model):\n    a = acc.Accelerator()\n"
        "    return a.unwrap_model(model, keep_torch_compile=True)\n"
    )
    found = calls(tmp_path, {"accelerate": accelerate(), "transformers": transformers(trainer)})
    assert brief(found) == [("call-keyword-missing", "error", ("transformers", "accelerate"), ("accelerate>=1.3.0",))]


UNKNOWN_RECEIVERS = {
    "a parameter": "def f(accelerator, m):\n    accelerator.unwrap_model(m, keep_torch_compile=False)\n",
    "an attribute assigned from elsewhere too": (
        "class T:\n    def a(self):\n        self.acc = Accelerator()\n    def b(self, other):\n"
        "        self.acc = other\n    def c(self, m):\n        self.acc.unwrap_model(m, keep_torch_compile=False)\n"
    ),
    "an attribute no constructor assigns": (
        "class T:\n    def a(self, make):\n        self.acc = make()\n    def c(self, m):\n"
        "        self.acc.unwrap_model(m, keep_torch_compile=False)\n"
    ),
    "a name bound twice": (
        "def f(m, other):\n    a = Accelerator()\n    if m:\n        a = other\n"
        "    a.unwrap_model(m, keep_torch_compile=False)\n"
    ),
    "a loop variable": (
        "def f(ms):\n    a = Accelerator()\n    for a in ms:\n        a.unwrap_model(a, keep_torch_compile=False)\n"
    ),
}


def test_a_call_on_an_object_whose_class_is_not_known_statically_is_not_a_finding(tmp_path: Path) -> None:
    for i, (why, body) in enumerate(UNKNOWN_RECEIVERS.items()):
        code = "from accelerate import Accelerator\n\n" + body
        found = calls(tmp_path / str(i), {"accelerate": accelerate(), "transformers": transformers(code)})
        assert found == [], why


def test_compatibility_code_is_not_a_finding_and_a_branch_is_a_warning(tmp_path: Path) -> None:
    gated = TRAINER.replace(
        "        if self.accelerator.unwrap_model(model, keep_torch_compile=False) is not model:\n            return model\n",
        "        if is_accelerate_available('1.3.0'):\n"
        "            self.accelerator.unwrap_model(model, keep_torch_compile=False)\n"
        "        try:\n            self.accelerator.unwrap_model(model, keep_torch_compile=False)\n"
        "        except TypeError:\n            pass\n",
    )
    assert calls(tmp_path / "a", {"accelerate": accelerate(), "transformers": transformers(gated)}) == []
    branch = TRAINER.replace("        if self.accelerator", "        if training and self.accelerator").replace(
        "        if training and", "        if training:\n            if"
    )
    branch = branch.replace(
        "            return model\n        return model", "                return model\n        return model"
    )
    found = calls(tmp_path / "b", {"accelerate": accelerate(), "transformers": transformers(branch)})
    assert brief(found) == [("call-keyword-missing", "warning", ("transformers", "accelerate"), ("accelerate>=1.3.0",))]


def test_a_member_the_installed_class_does_not_define_is_an_error(tmp_path: Path) -> None:
    """accelerate's Accelerator has is_fsdp2 from 1.6.0 on (facts: members); 1.2.1 lacks it."""
    trainer = TRAINER.replace("is not model:", "is not model or self.accelerator.is_fsdp2:")
    found = calls(tmp_path, {"accelerate": accelerate(), "transformers": transformers(trainer)})
    assert brief(found) == [
        ("call-attribute-missing", "error", ("transformers", "accelerate"), ("accelerate>=1.6.0",)),
        ("call-keyword-missing", "error", ("transformers", "accelerate"), ("accelerate>=1.6.0",)),
    ]
    member = next(f for f in found if f.id == "call-attribute-missing")
    assert "AttributeError: 'Accelerator' object has no attribute 'is_fsdp2'" in member.detail


BASE = """
class Trainer:
    def train(self):
        return self._inner_training_loop()

    def _inner_training_loop(self):
        return self.training_step(None, {}, 1)

    def training_step(self, model, inputs, num_items_in_batch=None):
        return self.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        return 0

    def evaluate(self, eval_dataset=None):
        return self.get_eval_dataloader(eval_dataset)

    def get_eval_dataloader(self, eval_dataset=None):
        return None
"""


def trainer_base(version: str = "4.46.3") -> Fake:
    return Fake(
        version, files={"transformers/__init__.py": "from .trainer import Trainer\n", "transformers/trainer.py": BASE}
    )


def subclass(body: str) -> Fake:
    code = "from transformers import Trainer\n\nclass DPOTrainer(Trainer):\n" + body
    return Fake("0.11.4", ["transformers>=4.40.0"], files={"trl/__init__.py": "", "trl/dpo.py": code})


def test_an_override_that_refuses_a_keyword_the_base_passes_in_training_is_an_error(tmp_path: Path) -> None:
    """trl 0.11.4's DPOTrainer.compute_loss(self, model, inputs, return_outputs=False); transformers >= 4.46's
    Trainer.training_step passes num_items_in_batch=."""
    sub = subclass("    def compute_loss(self, model, inputs, return_outputs=False):\n        return 1\n")
    [f] = calls(tmp_path, {"transformers": trainer_base(), "trl": sub})
    assert (f.id, f.severity, f.packages) == ("call-override-keyword", Severity.ERROR, ("trl", "transformers"))
    assert "DPOTrainer.compute_loss (num_items_in_batch=)" in f.title
    assert "TypeError: DPOTrainer.compute_loss() got an unexpected keyword argument 'num_items_in_batch'" in f.detail
    assert "in the first training step" in f.detail


def test_overrides_that_accept_or_are_not_reached_by_training_are_not_errors(tmp_path: Path) -> None:
    accepting = {
        "**kwargs": "    def compute_loss(self, model, inputs, **kwargs):\n        return 1\n",
        "the keyword": "    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):\n"
        "        return 1\n",
        "its own training_step": "    def training_step(self, model, inputs, n=None):\n        return self.compute_loss(model, inputs)\n"
        "    def compute_loss(self, model, inputs):\n        return 1\n",
    }
    for i, (why, body) in enumerate(accepting.items()):
        assert calls(tmp_path / str(i), {"transformers": trainer_base(), "trl": subclass(body)}) == [], why
    off_path = subclass(
        "    def train(self):\n        return 0\n    def get_eval_dataloader(self):\n        return None\n"
    )
    [f] = calls(tmp_path / "x", {"transformers": trainer_base(), "trl": off_path})
    assert (f.id, f.severity) == ("call-override-keyword", Severity.INFO)  # only trainer.evaluate() would fail


def test_the_check_runs_in_check_inventory_and_its_result_is_stored(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", {"accelerate": accelerate(), "transformers": transformers(TRAINER)})
    cache = Cache(tmp_path / "cache")
    report = check_inventory(scan(site), cache=cache)
    assert "calls" in report.checks
    assert [f.id for f in report.findings if f.check == "calls"] == ["call-keyword-missing"]
    (site / "transformers" / "trainer.py").write_text("")  # the same RECORD: the stored result answers
    again = check_inventory(scan(site), cache=cache)
    assert [f.id for f in again.findings if f.check == "calls"] == ["call-keyword-missing"]


def test_the_checks_run_with_the_collector_paused_and_leave_it_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(tmp_path / "site", {"accelerate": accelerate(), "transformers": transformers(TRAINER)})
    seen: list[bool] = []

    def paused_or_not(index: SourceIndex, facts: Facts) -> list[Finding]:
        seen.append(gc.isenabled())
        return check_calls(index, facts)

    monkeypatch.setattr(calls_module, "check_calls", paused_or_not)
    report = check_inventory(scan(site))
    assert [f.id for f in report.findings if f.check == "calls"] == ["call-keyword-missing"]
    assert seen == [False]  # a full collection walked every object the run holds, to free nothing
    assert gc.isenabled()
