"""The stack step's interpretation (envdoctor.runtime.stack), from recorded probe JSON.

tests/data/stack-*.json are probes/stack_step.py's real output on the beds of those names (tests/beds/README.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.render import Format, RenderOptions, render
from envdoctor.report import Report, Severity, Summary
from envdoctor.runtime import stack
from envdoctor.runtime.diagnosis import TableOwners

DATA = Path(__file__).resolve().parents[2] / "data"


def recorded(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((DATA / f"stack-{name}.json").read_text(encoding="utf-8"))
    return payload


def owners(**versions: str) -> TableOwners:
    """Owners as each RECORD says: a top-level module of the same name as its distribution."""
    return TableOwners(modules={name: name for name in versions}, versions=versions)


KEYWORD_BED = owners(transformers="4.52.4", accelerate="1.2.1", torch="2.13.0+cpu", peft="0.15.2", trl="0.18.2")


def test_a_keyword_the_installed_accelerate_lacks_names_both_packages_and_the_release_that_has_it() -> None:
    result = stack.interpret(recorded("trainer-accelerate-keyword"), KEYWORD_BED, Facts.shipped())
    assert {r.step: r.status for r in result.results} == {
        "trainer": "fails",
        "resume": "skipped",
        "lora": "fails",
        "sft": "fails",
    }
    diag = result.results[0].diagnosis
    assert diag is not None and diag.kind == "keyword-missing"
    assert diag.packages[:2] == ("transformers", "accelerate")
    assert diag.fix == ("accelerate>=1.3.0",)  # matrix/facts/signatures/accelerate.json: keep_torch_compile from 1.3.0
    [finding] = stack.findings(result)  # three steps, one cause: one finding
    assert (finding.id, finding.severity, finding.fix) == ("stack-step-fails", Severity.ERROR, ("accelerate>=1.3.0",))
    assert finding.title.startswith("the Trainer, LoRA (peft) and SFTTrainer (trl) steps fail: TypeError:")


def test_without_harvested_signatures_the_keyword_is_still_named_but_no_fix_is_invented() -> None:
    result = stack.interpret(recorded("trainer-accelerate-keyword"), KEYWORD_BED, Facts(None))
    diag = result.results[0].diagnosis
    assert diag is not None and diag.kind == "keyword-missing" and diag.fix == ()
    assert "transformers calls Accelerator.unwrap_model(..., keep_torch_compile=...)" in diag.cause


def test_a_removed_keyword_is_fixed_by_the_last_release_that_took_it() -> None:
    payload = recorded("trainer-accelerate-keyword")
    error = payload["steps"][0]["error"]
    error["callee"] = {**error["callee"], "qualname": "Accelerator.__init__", "keyword": "dispatch_batches"}
    diag = stack.diagnose_error(error, owners(transformers="4.37.2", accelerate="1.0.1"), Facts.shipped())
    assert diag.fix == ("accelerate<=0.34.2",)


def test_resume_under_torch_2_6_and_later_is_diagnosed_as_torch_load_weights_only() -> None:
    result = stack.interpret(recorded("hf-stack-2024"), owners(transformers="4.46.3", torch="2.13.0+cpu"))
    assert {r.step: r.status for r in result.results}["resume"] == "fails"
    [finding] = stack.findings(result)
    assert finding.packages[:2] == ("transformers", "torch")
    assert "numpy._core.multiarray._reconstruct" in finding.detail and finding.fix == ("torch<2.6",)


def test_the_weights_only_fix_names_the_first_transformers_that_resumes_under_torch_2_6() -> None:
    """matrix/facts/weights-only.json: transformers 4.47.0 loads the RNG state inside safe_globals()."""
    result = stack.interpret(
        recorded("hf-stack-2024"), owners(transformers="4.46.3", torch="2.13.0+cpu"), Facts.shipped()
    )
    [finding] = stack.findings(result)
    assert finding.fix == ("transformers>=4.47.0", "torch<2.6")  # the installable one first
    assert "transformers 4.47.0 and later allowlist what they load" in finding.detail


def test_a_transformers_that_already_has_the_fix_is_not_told_to_upgrade() -> None:
    facts = Facts.shipped()
    assert facts.weights_only_caller("transformers") is not None
    result = stack.interpret(recorded("hf-stack-2024"), owners(transformers="4.47.0", torch="2.13.0+cpu"), facts)
    [finding] = stack.findings(result)
    assert finding.fix == ("torch<2.6",)


@pytest.mark.parametrize("fmt", [Format.TEXT, Format.JSON, Format.TERMINAL])
def test_the_stack_table_is_in_the_text_and_json_views(fmt: Format) -> None:
    result = stack.interpret(recorded("hf-stack-2024"), owners(transformers="4.46.3", torch="2.13.0+cpu"))
    summary = Summary(python="/venv/bin/python", python_version="3.11.7", distributions=50)
    report = Report.build(stack.findings(result), summary=summary, train={"stack": result.to_dict()})
    out = render(report, fmt, RenderOptions(width=100))
    if fmt is Format.JSON:
        steps = json.loads(out)["train"]["stack"]["steps"]
        assert [(s["step"], s["status"]) for s in steps][:2] == [("trainer", "passes"), ("resume", "fails")]
        assert steps[1]["diagnosis"]["kind"] == "torch-load-weights-only"
        return
    if fmt is Format.TERMINAL:
        assert "Stack step" in out and "weights_only=False" in out and "transformers 4.46.3" in out
        return
    rows = [line.split()[:2] for line in out.splitlines()]
    assert ["Trainer", "passes"] in rows and ["resume", "fails"] in rows and ["SFTTrainer", "(trl)"] in rows
    assert "transformers 4.46.3" in out


def test_progress_is_heard_line_by_line_while_the_probe_runs() -> None:
    """In this interpreter (no torch): the probe says what it imports, then stops; a report without a stack."""
    heard: list[str] = []
    done = stack.run(sys.executable, timeout=60, on_progress=heard.append)
    assert heard[:2] == ["import torch", "import transformers"] and "step trainer" not in heard
    assert done.stack is None and done.findings == () and done.skipped == ()
