"""The precision step's interpretation (envdoctor.runtime.step), from recorded probe JSON.

tests/data/step-train-cpu.json is the real probe's output on this machine's CPU (bed train-cpu: torch
2.13.0+cpu, accelerate 1.15.0). The GPU payloads below are that JSON edited by hand to describe a GPU:
no GPU ran here, so they test the reasoning, not a GPU.
"""

from __future__ import annotations

import copy
import json
import runpy
from pathlib import Path
from typing import Any

import pytest

from envdoctor import api
from envdoctor.checks.rules import SIGNALS
from envdoctor.errors import UsageError
from envdoctor.knowledge.matrix import HardwareFact, load
from envdoctor.redact import Redactor, redacted
from envdoctor.render import Format, RenderOptions, render
from envdoctor.report import Report, Severity
from envdoctor.resources import data_dir
from envdoctor.runtime import step
from envdoctor.runtime.step import Verdict
from envdoctor.versions import parse_requirement
from tests.hostile import envdoctor, one_line_error

RECORDED = Path(__file__).resolve().parents[2] / "data" / "step-train-cpu.json"


@pytest.fixture(scope="module")
def facts() -> tuple[HardwareFact, ...]:
    return load(data_dir("matrix"), signals=SIGNALS).hardware


@pytest.fixture
def cpu_run() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(RECORDED.read_text(encoding="utf-8"))
    return payload


def by_precision(result: step.TrainStep) -> dict[str, step.PrecisionResult]:
    return {r.precision: r for r in result.results}


def on_gpu(payload: dict[str, Any], name: str, capability: list[int]) -> dict[str, Any]:
    """The recorded CPU run, rewritten as if it had run on one CUDA GPU where every dtype ran as asked."""
    gpu = copy.deepcopy(payload)
    gpu["device"].update(
        torch_build="cuda",
        torch_cuda="12.8",
        driver_cuda="12.8",
        cuda_available=True,
        device_count=1,
        devices=[{"index": 0, "name": name, "capability": capability, "total_memory": 15 * 2**30}],
    )
    for s in gpu["steps"]:
        s["device"] = "cuda:0"
        s["compute_dtype"] = step.EXPECTED_DTYPE[s["precision"]]
        s["peak_memory_bytes"] = 4_000_000 if s["precision"] == "no" else 3_000_000
        if s["precision"] == "fp16":
            s["scaler"] = {"present": True, "scale": 65536.0}
    return gpu


def test_the_recorded_cpu_run_fp32_and_bf16_native_fp16_fell_back_to_fp32(cpu_run: dict[str, Any]) -> None:
    results = by_precision(step.interpret(cpu_run))
    assert results["no"].verdict is Verdict.NATIVE
    assert results["bf16"].verdict is Verdict.NATIVE  # this CPU has avx512_bf16 (recorded in cpu_bf16_flags)
    assert results["bf16"].ran_in == "bfloat16"
    fp16 = results["fp16"]
    assert (fp16.verdict, fp16.ran_in) == (Verdict.FALLBACK, "float32")
    assert fp16.reason.startswith("fp16 requested, fp32 ran")
    assert fp16.step["scaler"] is None and fp16.step["loss"] == results["no"].step["loss"]


def test_fp16_fallback_is_a_note_unless_it_is_the_precision_asked_for(cpu_run: dict[str, Any]) -> None:
    [note] = step.findings(step.interpret(cpu_run))
    assert (note.id, note.severity) == ("train-precision-fallback", Severity.INFO)
    [warning] = step.findings(step.interpret(cpu_run, requested="fp16"))
    assert (warning.id, warning.severity) == ("train-precision-fallback", Severity.WARNING)
    assert "bf16" in warning.advice[0] and warning.fix == ()  # bf16 really runs on this CPU; a setting, not a pin


def test_bf16_on_a_cpu_without_bf16_instructions_is_emulated(cpu_run: dict[str, Any]) -> None:
    cpu_run["device"]["cpu_bf16_flags"] = []
    bf16 = by_precision(step.interpret(cpu_run, requested="bf16"))["bf16"]
    assert bf16.verdict is Verdict.EMULATED and "no bf16 instructions" in bf16.reason
    emulated = [
        f for f in step.findings(step.interpret(cpu_run, requested="bf16")) if f.id == "train-precision-emulated"
    ]
    assert [f.severity for f in emulated] == [Severity.WARNING]


def test_bf16_on_a_t4_is_emulated_with_the_matrix_threshold_and_fix(
    cpu_run: dict[str, Any], facts: tuple[HardwareFact, ...]
) -> None:
    results = by_precision(step.interpret(on_gpu(cpu_run, "Tesla T4", [7, 5]), facts, requested="bf16"))
    bf16 = results["bf16"]
    assert bf16.verdict is Verdict.EMULATED
    assert "sm_75" in bf16.reason and "bf16-torch-native" in bf16.reason
    assert bf16.fix == ("use fp16 with the grad scaler, or a GPU of compute capability 8.0+",)
    assert results["fp16"].verdict is Verdict.NATIVE and results["fp16"].step["scaler"]["present"]
    assert results["fp16"].memory_vs_fp32 == 0.75


def test_bf16_on_an_a100_is_native(cpu_run: dict[str, Any], facts: tuple[HardwareFact, ...]) -> None:
    result = step.interpret(on_gpu(cpu_run, "NVIDIA A100-SXM4-40GB", [8, 0]), facts, requested="bf16")
    assert {r.verdict for r in result.results} == {Verdict.NATIVE}
    assert step.findings(result, facts) == []


def test_a_non_finite_fp32_loss_is_an_error(cpu_run: dict[str, Any]) -> None:
    for s in cpu_run["steps"]:
        s.update(loss=float("nan"), loss_finite=False, grads_finite=False)
    found = step.findings(step.interpret(cpu_run))
    severities = {f.title.split(":")[0]: f.severity for f in found if f.id == "train-step-fails"}
    assert severities == {
        "the fp32 training step fails": Severity.ERROR,
        "the fp16 training step fails": Severity.WARNING,
        "the bf16 training step fails": Severity.WARNING,
    }


def test_a_mixed_step_that_raises_is_an_error_only_when_asked_for(cpu_run: dict[str, Any]) -> None:
    bf16 = cpu_run["steps"][2]
    bf16.update(
        ran=False, error={"type": "RuntimeError", "message": "boom", "traceback": "Traceback\nRuntimeError: boom"}
    )
    [not_asked] = step.findings(step.interpret(cpu_run))[1:]
    assert (not_asked.severity, not_asked.title) == (
        Severity.WARNING,
        "the bf16 training step fails: bf16 step raised RuntimeError: boom",
    )
    asked = [f for f in step.findings(step.interpret(cpu_run, requested="bf16")) if f.id == "train-step-fails"]
    assert [f.severity for f in asked] == [Severity.ERROR]


def test_a_driver_older_than_the_torch_build_is_an_error(
    cpu_run: dict[str, Any], facts: tuple[HardwareFact, ...]
) -> None:
    gpu = on_gpu(cpu_run, "Tesla T4", [7, 5])
    gpu["device"].update(torch_cuda="12.8", driver_cuda="11.8")
    [driver] = [f for f in step.findings(step.interpret(gpu, facts), facts) if f.id == "train-driver-too-old"]
    assert driver.severity is Severity.ERROR
    assert driver.title == "torch is built for CUDA 12.8, the NVIDIA driver supports CUDA 11.8 only"
    assert driver.fix == () and driver.advice[0] == "update the NVIDIA driver to one that supports CUDA 12.0"
    gpu["device"]["driver_cuda"] = "12.9"
    assert not [f for f in step.findings(step.interpret(gpu, facts), facts) if f.id == "train-driver-too-old"]


def test_every_fix_of_a_step_finding_is_a_requirement_and_every_error_says_what_to_do(
    cpu_run: dict[str, Any], facts: tuple[HardwareFact, ...]
) -> None:
    """Finding.fix holds requirement specifiers only (pin and the "Fix (first step)" block act on them); a
    setting or a sentence goes to advice."""
    nonfinite = copy.deepcopy(cpu_run)
    for s in nonfinite["steps"]:
        s.update(loss=float("nan"), loss_finite=False, grads_finite=False)
    old_driver = on_gpu(cpu_run, "Tesla T4", [7, 5])
    old_driver["device"].update(driver_cuda="11.8")
    error = {"type": "ValueError", "message": "Using `fp8` precision requires `transformer_engine`"}
    h100 = with_fp8(on_gpu(cpu_run, "NVIDIA H100 80GB HBM3", [9, 0]), error=error)
    found = [
        f
        for payload in (
            with_fp8(copy.deepcopy(cpu_run), attempted=False),
            nonfinite,
            old_driver,
            h100,
            on_gpu(cpu_run, "Tesla T4", [7, 5]),
        )
        for asked in (None, "fp16", "bf16", "fp8")
        for f in step.findings(step.interpret(payload, facts, requested=asked), facts)
    ]
    found += [step._ended_badly("train-step-timeout", "the step did not finish", "raise --timeout")]
    ids = {f.id for f in found}
    assert ids >= {"train-step-fails", "train-driver-too-old", "train-precision-fallback", "train-precision-emulated"}
    assert "train-precision-not-attempted" in ids
    for f in found:
        for line in f.fix:
            parse_requirement(line)  # raises on a sentence or a setting
        assert f.severity < Severity.ERROR or f.fix or f.advice, f.id
    fp8 = [f for f in found if f.fix == ("torchao", "transformer-engine[pytorch]")]
    assert fp8 and all(f.advice == () for f in fp8)


def test_missing_torch_or_accelerate_says_so_in_one_sentence() -> None:
    missing = {"ok": False, "error": {"type": "ModuleNotFoundError", "message": "No module named 'accelerate'"}}
    assert step._missing({"torch": {"ok": True}, "accelerate": missing}) == (
        "accelerate is not installed in the target, so no training step ran (pip install accelerate)"
    )
    broken = {"ok": False, "error": {"type": "OSError", "message": "libcudnn.so.9: cannot open shared object file"}}
    assert step._missing({"torch": broken}).startswith("`import torch` fails in the target (OSError: libcudnn")


def report_with(train: dict[str, Any]) -> Report:
    return Report.build([], train=train)


def test_the_text_view_shows_a_table_and_the_device_line(cpu_run: dict[str, Any]) -> None:
    text = render(report_with(step.interpret(cpu_run).to_dict()), Format.TEXT)
    assert "torch 2.13.0+cpu (cpu build); no GPU; 2 CPUs; /dev/shm" in text
    lines = [line.split() for line in text.splitlines()]
    assert ["fp16", "fallback", "fp32"] in [line[:3] for line in lines]
    assert ["bf16", "native", "bf16"] in [line[:3] for line in lines]


def test_the_terminal_view_shows_the_table(cpu_run: dict[str, Any]) -> None:
    text = render(
        report_with(step.interpret(cpu_run).to_dict()), Format.TERMINAL, RenderOptions(width=160, color=False)
    )
    assert "Training step" in text and "fallback" in text and "fp16 requested, fp32 ran" in text


def test_the_json_report_carries_the_train_object(cpu_run: dict[str, Any]) -> None:
    data = json.loads(render(report_with(step.interpret(cpu_run, requested="bf16").to_dict()), Format.JSON))
    train = data["train"]
    assert train["requested"] == "bf16" and train["imports"]["accelerate"]["version"] == "1.15.0"
    fp16 = train["precisions"][1]
    assert {k: fp16[k] for k in ("precision", "verdict", "requested_dtype", "compute_dtype", "grad_scaler")} == {
        "precision": "fp16",
        "verdict": "fallback",
        "requested_dtype": "float16",
        "compute_dtype": "float32",
        "grad_scaler": None,
    }
    assert "train" not in json.loads(render(Report.build([]), Format.JSON))  # only with --train


def test_train_with_a_what_if_install_is_a_usage_error() -> None:
    proc = envdoctor("check", "--train", "--install", "accelerate==1.15.0")
    assert proc.returncode == 2
    assert one_line_error(proc.stderr) == (
        "envdoctor: error: --train runs a step in the installed environment; it cannot be combined with --install / -r"
    )


def test_an_unknown_precision_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="precision must be one of no, fp16, bf16, fp8, not 'fp4'"):
        api.check(train=True, precision="fp4")
    assert envdoctor("check", "--precision", "fp4").returncode == 2  # argparse's choices


def test_the_train_object_is_redacted_like_the_rest_of_the_report(cpu_run: dict[str, Any]) -> None:
    cpu_run["steps"][2].update(ran=False, error={"type": "OSError", "message": "cannot read /home/s3cr3t-token/x"})
    report = redacted(report_with(step.interpret(cpu_run).to_dict()), Redactor(["s3cr3t-token"]))
    assert report.train is not None
    assert "s3cr3t-token" not in json.dumps(report.train)
    assert report.train["precisions"][2]["error"]["type"] == "OSError"


# -------------------------------------------------------------------------------------------- fp8

NO_BACKEND = {"torchao": False, "transformer_engine": False, "msamp": False}


def with_fp8(payload: dict[str, Any], **record: Any) -> dict[str, Any]:
    """``payload`` with the probe's fp8 record (probes/step.py fp8_step) appended."""
    base = {"precision": "fp8", "attempted": True, "ran": False, "error": None, "fp8_backends": NO_BACKEND}
    payload["steps"].append({**base, **record})
    return payload


def fp8_ran(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """fp8 ran like the fp32 step, with torchao's layer swapped in (as on an H100 with torchao)."""
    fp32 = next(s for s in payload["steps"] if s["precision"] == "no")
    ran = {
        **fp32,
        "precision": "fp8",
        "compute_dtype": "float8",
        "mixed_precision": "fp8",
        "fp8_layers": ["torchao.float8.float8_linear.Float8Linear"],
        "fp8_backends": {**NO_BACKEND, "torchao": True},
    }
    return with_fp8(payload, **{**ran, **changes})


def test_fp8_on_this_cpu_is_not_attempted_and_that_is_no_finding(
    cpu_run: dict[str, Any], facts: tuple[HardwareFact, ...]
) -> None:
    result = step.interpret(with_fp8(cpu_run, attempted=False), facts)
    fp8 = by_precision(result)["fp8"]
    assert fp8.verdict is Verdict.NOT_ATTEMPTED
    assert fp8.reason == (
        "not attempted: no CUDA GPU here; fp8 needs a CUDA GPU of compute capability 8.9+ (matrix fact fp8-accelerate)"
    )
    assert [f.id for f in step.findings(result, facts)] == ["train-precision-fallback"]  # fp16's note, none for fp8


def test_fp8_asked_for_where_the_hardware_cannot_is_an_error(
    cpu_run: dict[str, Any], facts: tuple[HardwareFact, ...]
) -> None:
    t4 = with_fp8(on_gpu(cpu_run, "Tesla T4", [7, 5]), attempted=False)
    result = step.interpret(t4, facts, requested="fp8")
    [error] = [f for f in step.findings(result, facts) if f.severity is Severity.ERROR]
    assert (error.id, error.title) == (
        "train-precision-not-attempted",
        "fp8 was asked for and not attempted: Tesla T4 is sm_75; fp8 needs a CUDA GPU of compute capability 8.9+ "
        "(matrix fact fp8-accelerate)",
    )


def test_fp8_on_an_h100_without_a_backend_says_what_to_install(
    cpu_run: dict[str, Any], facts: tuple[HardwareFact, ...]
) -> None:
    error = {
        "type": "ValueError",
        "message": "Using `fp8` precision requires `transformer_engine` or `MS-AMP` to be installed.",
    }
    h100 = with_fp8(on_gpu(cpu_run, "NVIDIA H100 80GB HBM3", [9, 0]), error=error)
    fp8 = by_precision(step.interpret(h100, facts))["fp8"]
    assert fp8.verdict is Verdict.FAILS
    assert fp8.reason.startswith(
        "fp8 needs a backend and none is installed (accelerate tries torchao, transformer-engine"
    )
    assert fp8.fix == ("torchao", "transformer-engine[pytorch]")
    [note] = step.findings(step.interpret(h100, facts), facts)  # not asked for: worth knowing only
    assert (note.id, note.severity, note.fix) == ("train-step-fails", Severity.INFO, fp8.fix)
    [asked] = step.findings(step.interpret(h100, facts, requested="fp8"), facts)
    assert asked.severity is Severity.ERROR and "ValueError: Using `fp8` precision requires" in asked.title


def test_fp8_on_an_h100_with_torchao_is_native(cpu_run: dict[str, Any], facts: tuple[HardwareFact, ...]) -> None:
    result = step.interpret(fp8_ran(on_gpu(cpu_run, "NVIDIA H100 80GB HBM3", [9, 0])), facts, requested="fp8")
    fp8 = by_precision(result)["fp8"]
    assert (fp8.verdict, fp8.ran_in) == (Verdict.NATIVE, "float8")
    assert step.findings(result, facts) == []


def test_fp8_that_converted_no_layer_is_a_fallback(cpu_run: dict[str, Any], facts: tuple[HardwareFact, ...]) -> None:
    gpu = fp8_ran(on_gpu(cpu_run, "NVIDIA L4", [8, 9]), fp8_layers=[], mixed_precision="fp16", compute_dtype="float16")
    fp8 = by_precision(step.interpret(gpu, facts))["fp8"]
    assert fp8.verdict is Verdict.FALLBACK and fp8.reason.startswith("fp8 requested, fp16 ran")


@pytest.mark.parametrize(
    ("device", "capable"),
    [
        ({"cuda_available": False, "devices": []}, False),
        ({"cuda_available": True, "devices": [{"capability": [8, 6]}]}, False),
        ({"cuda_available": True, "devices": [{"capability": [8, 9]}]}, True),
        ({"cuda_available": True, "devices": [{"capability": [9, 0]}]}, True),
        ({"cuda_available": True, "torch_hip": "6.2", "devices": [{"capability": [9, 4]}]}, False),
    ],
)
def test_the_probe_attempts_fp8_only_where_the_hardware_claims_it(device: dict[str, Any], capable: bool) -> None:
    probe = runpy.run_path(str(data_dir("probes") / "step.py"))
    assert probe["fp8_capable"](device, [8, 9]) is capable
    if not capable:  # nothing tried: no torch, no accelerate needed
        record = probe["fp8_step"](None, None, device, {"min_capability": [8, 9]})
        assert (record["attempted"], record["ran"]) == (False, False) and set(record["fp8_backends"]) == set(NO_BACKEND)


def test_the_fp8_threshold_comes_from_the_matrix(facts: tuple[HardwareFact, ...]) -> None:
    assert step.fp8_threshold(facts) == ((8, 9), "matrix fact fp8-accelerate")
    assert step.fp8_threshold(()) == ((8, 9), "compute capability 8.9, Ada / Hopper")
