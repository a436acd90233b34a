"""The symbol check on real venvs from real wheels: the clear_device_cache case, names removed from the lazy top
levels of transformers 4.x and huggingface_hub, healthy stacks, and a computed fix for every break on every bed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.versions import InvalidRequirement, parse_requirement
from tests import beds, peers

pytestmark = pytest.mark.venv


def _report(python: Path) -> dict[str, Any]:
    return peers.envdoctor_report(python)[1]


def run(bed: beds.Bed, code: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in the bed, as a user runs it."""
    return subprocess.run([str(bed.python), "-c", code], capture_output=True, text=True, timeout=600)


def errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in data["findings"] if f["severity"] == "error"]


def test_clear_device_cache_is_found_while_pip_check_is_clean(peft_old_accelerate: beds.Bed) -> None:
    bed = peft_old_accelerate
    rc, out = peers.pip_check(bed.python)
    assert rc == 0, out  # every declared requirement holds ...
    rc, out = peers.uv_check(bed.python)
    assert rc == 0, out
    proc = run(bed, "from transformers import Trainer")
    assert proc.returncode != 0  # ... and yet the user's first line fails
    assert "cannot import name 'clear_device_cache' from 'accelerate.utils.memory'" in proc.stderr
    [f] = errors(_report(bed.python))
    assert f["id"] == "symbol-missing"
    assert f["packages"] == ["peft", "accelerate"]
    assert str(f["evidence"][0]).endswith(
        "peft/utils/loftq_utils.py:25: from accelerate.utils.memory import clear_device_cache"
    )
    assert "peft -> peft.utils -> peft.utils.loftq_utils" in str(f["detail"])
    # the fix is computed from the harvested facts, not typed
    assert f["fix"] == ["accelerate>=0.32.0", "peft<0.15.0"]
    assert "accelerate defines clear_device_cache in accelerate.utils.memory from 0.32.0 on" in str(f["detail"])
    assert "peft imports it from 0.15.0 on" in str(f["detail"])


def test_same_stack_with_accelerate_0_32_has_no_error(peft_new_accelerate: beds.Bed) -> None:
    proc = run(peft_new_accelerate, "from transformers import Trainer; import peft")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert errors(_report(peft_new_accelerate.python)) == []


def test_healthy_current_stack_has_no_symbol_errors(hf_stack: beds.Bed) -> None:
    data = _report(hf_stack.python)
    assert errors(data) == []
    assert "symbols" in data["checks"]


def test_a_second_real_break_accelerate_and_huggingface_hub(symbol_break_2: beds.Bed) -> None:
    """accelerate 0.32.0 imports split_torch_state_dict_into_shards from huggingface_hub at module
    level but declares huggingface-hub without a floor; hub 0.20.3 lacks it (0.21.0 added it)."""
    bed = symbol_break_2
    rc, out = peers.pip_check(bed.python)
    assert rc == 0, out
    proc = run(bed, "import accelerate")
    assert "cannot import name 'split_torch_state_dict_into_shards' from 'huggingface_hub'" in proc.stderr
    [f] = errors(_report(bed.python))
    assert f["packages"] == ["accelerate", "huggingface-hub"]
    assert str(f["evidence"][0]).endswith(
        "accelerate/accelerator.py:34: from huggingface_hub import split_torch_state_dict_into_shards"
    )
    assert "`import accelerate`: accelerate -> accelerate.accelerator" in str(f["detail"])


def test_healthy_older_pinned_stack_has_no_errors_or_warnings(hf_stack_2024: beds.Bed) -> None:
    rc, out = peers.pip_check(hf_stack_2024.python)
    assert rc == 0, out
    data = _report(hf_stack_2024.python)
    assert [f for f in data["findings"] if f["severity"] in {"error", "warning"}] == []


def imports_fail(bed: beds.Bed, code: str, message: str) -> None:
    rc, out = peers.pip_check(bed.python)
    assert rc == 0, out  # every declared requirement holds ...
    proc = run(bed, code)
    assert proc.returncode != 0  # ... and yet the import fails
    assert message in proc.stderr, proc.stderr[-2000:]


def test_a_name_transformers_4_removed_from_its_lazy_top_level(trl_transformers_toplevel: beds.Bed) -> None:
    """trl 0.7.11 does `from transformers import top_k_top_p_filtering`; transformers 4.39.0 dropped it from
    `_import_structure`. The top level's TYPE_CHECKING dummy stars used to make it unknown: no finding."""
    bed = trl_transformers_toplevel
    imports_fail(bed, "import trl", "cannot import name 'top_k_top_p_filtering' from 'transformers'")
    [f] = errors(_report(bed.python))
    assert f["packages"] == ["trl", "transformers"]
    assert str(f["evidence"][0]).endswith("trl/core.py:25: from transformers import top_k_top_p_filtering")
    assert "`import trl`: trl -> trl.core" in str(f["detail"])
    assert f["fix"] == ["trl>=0.8.0", "transformers<4.39.0"]
    assert "transformers defines top_k_top_p_filtering in transformers up to 4.38.2" in str(f["detail"])


def test_a_name_huggingface_hub_removed_from_its_lazy_top_level(diffusers_hub_removed_name: beds.Bed) -> None:
    """diffusers 0.27.2 imports cached_download from huggingface_hub (`_SUBMOD_ATTRS` + attach); 0.26.0 dropped it.
    The fix goes the other way round from a missing new name: an older hub, or a diffusers that stopped importing it."""
    bed = diffusers_hub_removed_name
    imports_fail(bed, "import diffusers", "cannot import name 'cached_download' from 'huggingface_hub'")
    [f] = errors(_report(bed.python))
    assert f["packages"] == ["diffusers", "huggingface-hub"]
    assert f["fix"] == ["diffusers>=0.29.0", "huggingface-hub<0.26.0"]
    assert "huggingface-hub defines cached_download in huggingface_hub up to 0.25.2" in str(f["detail"])
    assert "diffusers imports it up to 0.28.2" in str(f["detail"])


@pytest.mark.parametrize("name", sorted(p.stem for p in beds.LOCKS.glob("*.txt")))
def test_every_break_between_harvested_distributions_has_a_computed_fix(name: str) -> None:
    """On every real bed, each symbol finding (any severity) between two distributions the facts cover names
    requirement-level fixes, not prose."""
    facts = Facts.shipped()
    data = _report(beds.build(name).python)
    for f in data["findings"]:
        if f["id"] != "symbol-missing" or not all(facts.versions(p) for p in f["packages"]):
            continue
        assert f["fix"], f["title"]
        for text in f["fix"]:
            try:
                parse_requirement(text)
            except InvalidRequirement:
                pytest.fail(f"{f['title']}: fix {text!r} is not a requirement")


def test_healthy_jupyter_stack_passes_fail_on_warning(jupyter_stack: beds.Bed) -> None:
    """IPython 9's __all__ leaves out get_ipython, which its module __getattr__ serves: comm and
    jupyter_client import it from there, and it works."""
    python = str(jupyter_stack.python)
    rc, out = peers.pip_check(jupyter_stack.python)
    assert rc == 0, out
    proc = run(jupyter_stack, "from IPython import get_ipython")
    assert proc.returncode == 0, proc.stderr
    cmd = [sys.executable, "-m", "envdoctor", "check", "--python", python, "--fail-on", "warning", "--format", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    findings = json.loads(proc.stdout)["findings"]
    assert [f for f in findings if f["severity"] in {"error", "warning"}] == []
    assert proc.returncode == 0


def test_paths_served_by_an_import_hook_are_not_errors(sentence_transformers_6: beds.Bed) -> None:
    """sentence-transformers 6 serves sentence_transformers.models (and .losses, ...) from a sys.meta_path
    finder; InstructorEmbedding imports from it at module level, and that works."""
    bed = sentence_transformers_6
    rc, out = peers.pip_check(bed.python)
    assert rc == 0, out
    proc = run(bed, "import sentence_transformers.losses; import InstructorEmbedding")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert errors(_report(bed.python)) == []


@pytest.mark.online
def test_undeclared_rich_is_found_and_installing_the_fix_works(trl_undeclared_rich: beds.Bed, tmp_path: Path) -> None:
    """trl 0.11.4 imports rich at module level without declaring it; tyro >= 1.0 no longer brings it."""
    bed = trl_undeclared_rich
    rc, out = peers.pip_check(bed.python)
    assert rc == 0, out
    user = [str(bed.python), "-c", "from trl import SFTTrainer"]
    proc = subprocess.run(user, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "ModuleNotFoundError: No module named 'rich'" in proc.stderr
    [f] = [f for f in errors(_report(bed.python)) if f["check"] == "symbols"]  # (calls: test_calls_real)
    assert f["id"] == "module-undeclared"
    assert f["packages"] == ["trl", "rich"]
    assert f["fix"] == ["rich"]
    assert str(f["evidence"][0]).endswith("trl/trainer/utils.py:27: from rich.console import Console")
    assert "at `from trl import SFTTrainer`: trl.trainer.sft_trainer" in str(f["detail"])
    fixed = beds.copy(bed, tmp_path / "fixed")
    beds.pip("install", *f["fix"], python=fixed.python)
    user[0] = str(fixed.python)
    proc = subprocess.run(user, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # no import error is left; what is left is trl 0.11.4's DPOTrainer.compute_loss, which refuses the
    # num_items_in_batch transformers 4.46.3 passes (a call, not an import: test_calls_real)
    assert [f["id"] for f in errors(_report(fixed.python))] == ["call-override-keyword"]
