"""`envdoctor check --probes` on real venvs from real wheels: each import fails (or works) for real in the
bed's own interpreter, and the failure is explained with the right packages, merged with the static
finding that already names the cause."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from envdoctor import api
from envdoctor.report import Report, Severity
from tests import beds

pytestmark = pytest.mark.venv

TIMEOUT = 300.0
"""Per probe: generous, these beds import torch on a shared 2-core machine."""


JSON = ("--format", "json", "--timeout", str(TIMEOUT))


def probes_of(report: Report) -> dict[str, Any]:
    return {p["statement"]: p for p in report.probes}


def finding(report: Report, rule: str, package: str) -> Any:
    found = [f for f in report.findings if f.id == rule and package in f.packages]
    assert len(found) == 1, [f.id for f in report.findings]
    return found[0]


def test_clear_device_cache_probe_failures_merge_into_the_symbol_finding(peft_old_accelerate: beds.Bed) -> None:
    report = api.check(python=peft_old_accelerate.python, probes=True, timeout=TIMEOUT)
    probes = probes_of(report)
    for statement in ("import peft", "from transformers import Trainer, TrainingArguments, AutoModelForCausalLM"):
        assert probes[statement]["ending"] == "failed"
        diag = probes[statement]["diagnosis"]
        assert diag["kind"] == "name-missing"
        assert diag["packages"][:2] == ["peft", "accelerate"]
        assert diag["fix"] == ["accelerate>=0.32.0"]
    assert probes["import torch"]["ending"] == "ok"
    symbol = finding(report, "symbol-missing", "peft")
    assert symbol.severity is Severity.ERROR
    assert "import probe: `import peft` really fails: ImportError: cannot import name 'clear_device_cache'" in " ".join(
        symbol.evidence
    )
    assert any("`from transformers import Trainer" in e and "really fails" in e for e in symbol.evidence)
    assert [f for f in report.findings if f.id == "import-failed"] == []  # one problem, one finding


def test_torchvision_cuda_build_on_cpu_torch_fails_for_real_and_is_diagnosed(
    torchvision_cuda_on_cpu: beds.Bed,
) -> None:
    report = api.check(python=torchvision_cuda_on_cpu.python, probes=True, timeout=TIMEOUT)
    probe = probes_of(report)["import torchvision"]
    assert probe["ending"] == "failed"
    assert probe["message"] == "operator torchvision::nms does not exist"
    assert probe["diagnosis"]["kind"] == "torch-operator-missing"
    assert probe["diagnosis"]["packages"][:2] == ["torchvision", "torch"]
    rule = finding(report, "torchvision-cuda-build-on-cpu-torch", "torchvision")
    assert any(e.startswith("import probe: `import torchvision` really fails: RuntimeError") for e in rule.evidence)
    assert [f for f in report.findings if f.id == "import-failed"] == []


def test_numpy2_abi_break_is_diagnosed_from_the_real_imports(numpy2_abi_break: beds.Bed) -> None:
    report = api.check(python=numpy2_abi_break.python, probes=True, timeout=TIMEOUT)
    probes = probes_of(report)
    for name in ("bottleneck", "h5py"):
        diag = probes[f"import {name}"]["diagnosis"]
        assert (diag["kind"], diag["packages"][:2], diag["fix"]) == ("numpy-abi", [name, "numpy"], ["numpy<2"])
    assert probes["import numpy"]["ending"] == "ok"
    merged = [f for f in report.findings if f.id == "numpy1-extension-under-numpy2"]
    assert len(merged) == 2
    assert all(any("really fails" in e for e in f.evidence) for f in merged)
    assert [f for f in report.findings if f.id == "import-failed"] == []


def test_xformers_built_for_another_torch_works_but_warns_merged_into_the_rule(xformers_cuda_on_cpu: beds.Bed) -> None:
    report = api.check(python=xformers_cuda_on_cpu.python, probes=True, timeout=TIMEOUT)
    probe = probes_of(report)["import xformers"]
    assert probe["ending"] == "ok"
    assert probe["diagnosis"]["kind"] == "built-for-another-torch"
    assert probe["diagnosis"]["fix"] == ["torch==2.10.0"]
    rule = finding(report, "xformers-cuda-build-on-cpu-torch", "xformers")
    assert rule.severity is Severity.WARNING  # the import works: not raised to error
    assert any(e.startswith("import probe: `import xformers` works but warns: xformers 0.0.35") for e in rule.evidence)
    assert [f for f in report.findings if f.check == "probes"] == []


RUNTIME_ONLY = [
    # torch/utils/tensorboard/__init__.py checks tensorboard's version at import; torch does not declare it
    (
        "torch-old-tensorboard",
        "from torch.utils.tensorboard import SummaryWriter",
        "ImportError: TensorBoard logging requires TensorBoard version 1.15 or above",
        ["torch", "tensorboard"],
        ["tensorboard>=1.15"],
    ),
    # jax/_src/lib/__init__.py refuses a jaxlib newer than jax; jax lists jaxlib only in extras
    (
        "jax-newer-jaxlib",
        "import jax",
        "RuntimeError: jaxlib version 0.4.23 is newer than and incompatible with jax version 0.4.20.",
        ["jax", "jaxlib"],
        ["jaxlib<=0.4.20"],
    ),
]


@pytest.mark.parametrize(
    ("name", "statement", "error", "packages", "fix"), RUNTIME_ONLY, ids=[c[0] for c in RUNTIME_ONLY]
)
def test_a_runtime_only_break_no_static_check_sees_is_found_by_the_probes(
    name: str, statement: str, error: str, packages: list[str], fix: list[str]
) -> None:
    bed = beds.build(name)
    really = subprocess.run(
        [str(bed.python), "-c", statement], capture_output=True, text=True, timeout=600, check=False
    )
    assert really.returncode == 1 and error in really.stderr  # it fails for real, as the user sees it
    static = api.check(python=bed.python, cache=False)
    assert [f.id for f in static.findings if f.severity >= Severity.WARNING] == []  # nothing static describes it
    report = api.check(python=bed.python, probes=True, timeout=TIMEOUT)
    probe = probes_of(report)[statement]
    assert probe["ending"] == "failed"
    assert probe["diagnosis"]["kind"] == "version-check"
    failed = finding(report, "import-failed", packages[0])
    assert list(failed.packages[:2]) == packages  # from the traceback's file paths, owned by their RECORD
    assert list(failed.fix) == fix  # a requirement on the checked package: `envdoctor pin` plans from it
    assert failed.severity is Severity.ERROR


def test_healthy_hf_stack_every_probe_ok_no_finding(hf_stack: beds.Bed) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "envdoctor", "check", "--python", str(hf_stack.python), "--probes", *JSON],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    endings = {p["statement"]: p["ending"] for p in report["probes"]}
    assert "from trl import SFTTrainer" in endings
    assert "import datasets" in endings
    assert set(endings.values()) == {"ok"}, endings
    assert [f for f in report["findings"] if f["id"] == "import-failed"] == []
    assert [e for f in report["findings"] for e in f["evidence"] if e.startswith("import probe:")] == []
    assert "probes" in report["checks"]
