"""The precision step (``envdoctor check --train``): one real training step per precision, in the target.

``run`` asks probes/step.py (in the target interpreter, through envdoctor.runner) for the device facts
and one Accelerate step in each of "no" (fp32), "fp16" and "bf16", then "fp8" where the hardware claims
it (a CUDA GPU of compute capability 8.9+, matrix/hardware.toml); ``interpret`` turns that JSON into a
verdict per precision (native / fallback / emulated / fails / not attempted) using matrix/hardware.toml's
facts, and ``findings`` into report findings. ``interpret`` and ``findings`` are pure: the tests feed them
recorded JSON (tests/data/step-train-cpu.json).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from envdoctor import runner
from envdoctor.knowledge.matrix import HardwareFact
from envdoctor.report import Finding, Severity, Skipped
from envdoctor.runtime.followed import ProgressFile
from envdoctor.versions import Version, fix_and_advice

CHECK = "train-step"
PRECISIONS = ("no", "fp16", "bf16")
EXPECTED_DTYPE = {"no": "float32", "fp16": "float16", "bf16": "bfloat16", "fp8": "float8"}
LABEL = {"no": "fp32", "fp16": "fp16", "bf16": "bf16", "fp8": "fp8"}
NATIVE_BF16_CC = (8, 0)
"""Used only when the matrix cannot be read: bf16-torch-native's threshold."""
FP8_CC = (8, 9)
"""Used only when the matrix cannot be read: fp8-accelerate's threshold."""
FP8_BACKEND_FIX = ("torchao", "transformer-engine[pytorch]")
"""What accelerate's mixed_precision='fp8' needs besides the GPU: one backend (it tries torchao, then
TransformerEngine, then MS-AMP; none: ValueError "Using `fp8` precision requires `transformer_engine` or
`MS-AMP` to be installed.", accelerate 1.15.0 state.py)."""


class Verdict(str, enum.Enum):
    NATIVE = "native"  # ran in the requested dtype, finite, weights moved
    FALLBACK = "fallback"  # accepted, but another dtype ran
    EMULATED = "emulated"  # ran in the dtype, but the hardware has no native support: slow
    FAILS = "fails"  # raised, non-finite, or the step changed nothing
    NOT_ATTEMPTED = "not attempted"  # fp8 where the hardware does not claim it: a fact, not an error

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PrecisionResult:
    """What one precision's step did, and what that means."""

    precision: str
    verdict: Verdict
    reason: str
    fix: tuple[str, ...]
    step: Mapping[str, Any]
    time_vs_fp32: float | None = None
    memory_vs_fp32: float | None = None

    @property
    def ran_in(self) -> str:
        return str(self.step.get("compute_dtype") or "-")

    def to_dict(self) -> dict[str, Any]:
        error = self.step.get("error")
        return {
            "precision": self.precision,
            "verdict": str(self.verdict),
            "reason": self.reason,
            "fix": list(self.fix),
            "ran": bool(self.step.get("ran")),
            "error": None if not error else {"type": error.get("type"), "message": error.get("message")},
            "device": self.step.get("device"),
            "requested_dtype": EXPECTED_DTYPE.get(self.precision),
            "compute_dtype": self.step.get("compute_dtype"),
            "native_amp": self.step.get("native_amp"),
            "grad_scaler": self.step.get("scaler"),
            "loss": self.step.get("loss"),
            "loss_finite": self.step.get("loss_finite"),
            "grads_finite": self.step.get("grads_finite"),
            "weights_changed": self.step.get("weights_changed"),
            "step_skipped": self.step.get("step_skipped"),
            "step_seconds": self.step.get("step_seconds"),
            "time_vs_fp32": self.time_vs_fp32,
            "peak_memory_bytes": self.step.get("peak_memory_bytes"),
            "memory_vs_fp32": self.memory_vs_fp32,
        }


@dataclass(frozen=True)
class TrainStep:
    """The probe's device facts and imports, with a verdict per precision."""

    device: Mapping[str, Any]
    imports: Mapping[str, Any]
    results: tuple[PrecisionResult, ...]
    requested: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``train`` object of the JSON report (README, "JSON output")."""
        return {
            "requested": self.requested,
            "imports": {
                name: {"ok": bool(r.get("ok")), "version": r.get("version"), "error": _message(r.get("error"))}
                for name, r in self.imports.items()
            },
            "device": dict(self.device),
            "precisions": [r.to_dict() for r in self.results],
        }


# -------------------------------------------------------------------------------------------- verdicts


def interpret(
    payload: Mapping[str, Any], facts: Sequence[HardwareFact] = (), requested: str | None = None
) -> TrainStep:
    """The verdict for each step in probe ``payload`` (schema envdoctor.step/1). ``facts``: the matrix's
    hardware facts (bf16's compute capability comes from there)."""
    device = payload.get("device") or {}
    steps = [s for s in payload.get("steps") or () if isinstance(s, Mapping)]
    base = next((s for s in steps if s.get("precision") == "no" and s.get("ran")), None)
    results = []
    for step in steps:
        verdict, reason, fix = _verdict(step, device, facts)
        results.append(
            PrecisionResult(
                precision=str(step.get("precision")),
                verdict=verdict,
                reason=reason,
                fix=fix,
                step=step,
                time_vs_fp32=_ratio(step, base, "step_seconds"),
                memory_vs_fp32=_ratio(step, base, "peak_memory_bytes"),
            )
        )
    return TrainStep(device=device, imports=payload.get("imports") or {}, results=tuple(results), requested=requested)


def _verdict(
    step: Mapping[str, Any], device: Mapping[str, Any], facts: Sequence[HardwareFact]
) -> tuple[Verdict, str, tuple[str, ...]]:
    precision = str(step.get("precision"))
    label = LABEL.get(precision, precision)
    if precision == "fp8":
        fp8 = _fp8_verdict(step, device, facts)
        if fp8 is not None:
            return fp8
    if not step.get("ran"):
        return (
            Verdict.FAILS,
            f"{label} step raised {_message(step.get('error'))}",
            _fix_for_failure(precision, device, facts),
        )
    skipped_by_scaler = bool(step.get("step_skipped")) and bool(step.get("scaler"))
    if not step.get("loss_finite"):
        return Verdict.FAILS, f"{label} step: the loss is {step.get('loss')} (not finite)", _fix_nonfinite(precision)
    if not step.get("grads_finite") and not skipped_by_scaler:
        return Verdict.FAILS, f"{label} step: the gradients are not finite", _fix_nonfinite(precision)
    if not step.get("weights_changed") and not skipped_by_scaler:
        return Verdict.FAILS, f"{label} step: the optimizer step changed no weight", ()
    ran, wanted = step.get("compute_dtype"), EXPECTED_DTYPE.get(precision)
    if wanted is not None and ran != wanted:
        return Verdict.FALLBACK, _fallback_reason(step, label, str(ran)), _fallback_fix(precision, step, device)
    if precision == "bf16":
        emulated = _bf16_emulated(step, device, facts)
        if emulated is not None:
            return Verdict.EMULATED, emulated[0], emulated[1]
    note = (
        f"; the grad scaler skipped the first step (scale {step['scaler'].get('scale')})" if skipped_by_scaler else ""
    )
    return Verdict.NATIVE, f"{label} ran in {ran} on {step.get('device')}{note}", ()


def _fp8_verdict(
    step: Mapping[str, Any], device: Mapping[str, Any], facts: Sequence[HardwareFact]
) -> tuple[Verdict, str, tuple[str, ...]] | None:
    """fp8's own verdicts: not attempted (and why), no backend, accelerate's fallback; None: the usual checks."""
    need, fact_id = fp8_threshold(facts)
    if step.get("attempted") is False:
        return Verdict.NOT_ATTEMPTED, f"not attempted: {_fp8_missing_hardware(device, need, fact_id)}", ()
    backends = step.get("fp8_backends") or {}
    if not step.get("ran") and backends and not any(backends.values()):
        return (
            Verdict.FAILS,
            "fp8 needs a backend and none is installed (accelerate tries torchao, transformer-engine, MS-AMP): "
            f"{_message(step.get('error'))}",
            FP8_BACKEND_FIX,
        )
    if step.get("ran") and not step.get("fp8_layers"):
        ran = step.get("mixed_precision") or step.get("compute_dtype")
        return (
            Verdict.FALLBACK,
            f"fp8 requested, {_short(str(ran))} ran (no layer was converted to fp8)",
            ("mixed_precision='bf16' (what a GPU of this class runs natively)",),
        )
    return None


def _fp8_missing_hardware(device: Mapping[str, Any], need: tuple[int, int], fact_id: str) -> str:
    wanted = f"fp8 needs a CUDA GPU of compute capability {need[0]}.{need[1]}+ ({fact_id})"
    gpus = device.get("devices") or ()
    if device.get("torch_hip"):
        return f"a ROCm build; {wanted}, and envdoctor does not try fp8 on ROCm"
    if not device.get("cuda_available") or not gpus:
        return f"no CUDA GPU here; {wanted}"
    cc = tuple(gpus[0].get("capability") or ())
    where = f"sm_{cc[0]}{cc[1]}" if len(cc) == 2 else "an unknown compute capability"
    return f"{gpus[0].get('name')} is {where}; {wanted}"


def fp8_threshold(facts: Sequence[HardwareFact]) -> tuple[tuple[int, int], str]:
    """The compute capability from which accelerate trains in fp8 (its lowest over the releases read)."""
    found = [
        (f.min_compute_capability, f"matrix fact {f.id}")
        for f in facts
        if f.feature == "fp8" and f.package == "accelerate" and f.min_compute_capability is not None
    ]
    return min(found) if found else (FP8_CC, "compute capability 8.9, Ada / Hopper")


def _fallback_reason(step: Mapping[str, Any], label: str, ran: str) -> str:
    reason = f"{label} requested, {_short(ran)} ran"
    if str(step.get("device", "")).startswith("cpu") and step.get("precision") == "fp16":
        reason += " (accelerate applies fp16 only off the CPU: no autocast, no grad scaler, and no warning)"
    return reason


def _fallback_fix(precision: str, step: Mapping[str, Any], device: Mapping[str, Any]) -> tuple[str, ...]:
    if precision == "fp16" and str(step.get("device", "")).startswith("cpu"):
        fixes = ["on this CPU use mixed_precision='bf16' or 'no'; fp16 needs a GPU"]
        if device.get("cpu_bf16_flags") == []:
            fixes = ["on this CPU use mixed_precision='no'; fp16 needs a GPU"]
        return tuple(fixes)
    return (f"mixed_precision='no' (what really ran), or a device where {LABEL.get(precision)} runs",)


def _bf16_emulated(
    step: Mapping[str, Any], device: Mapping[str, Any], facts: Sequence[HardwareFact]
) -> tuple[str, tuple[str, ...]] | None:
    where = str(step.get("device", ""))
    if where.startswith("cuda") and not device.get("torch_hip"):
        gpu = _gpu(device, where)
        if gpu is None:
            return None
        cc = tuple(gpu.get("capability") or ())
        need, fact_id = _bf16_threshold(facts)
        if len(cc) == 2 and cc < need:
            return (
                f"bf16 on {gpu.get('name')} (sm_{cc[0]}{cc[1]}) is emulated: native bf16 needs compute capability "
                f"{need[0]}.{need[1]} ({fact_id}); it runs, slower than fp16",
                (f"use fp16 with the grad scaler, or a GPU of compute capability {need[0]}.{need[1]}+",),
            )
        return None
    if where.startswith("cpu") and device.get("cpu_bf16_flags") == []:
        return (
            "this CPU has no bf16 instructions (avx512_bf16, amx_bf16): bf16 is converted in software, "
            "usually slower than fp32",
            ("on this CPU use mixed_precision='no'",),
        )
    return None


def _bf16_threshold(facts: Sequence[HardwareFact]) -> tuple[tuple[int, int], str]:
    for fact in facts:
        if fact.feature == "bf16" and fact.package == "torch" and fact.min_compute_capability is not None:
            return fact.min_compute_capability, f"matrix fact {fact.id}"
    return NATIVE_BF16_CC, "compute capability 8.0, Ampere"


def _gpu(device: Mapping[str, Any], where: str) -> Mapping[str, Any] | None:
    tail = where.partition(":")[2]
    index = int(tail) if tail.isdigit() else 0
    return next((d for d in device.get("devices") or () if d.get("index") == index), None)


def _fix_for_failure(precision: str, device: Mapping[str, Any], facts: Sequence[HardwareFact]) -> tuple[str, ...]:
    if precision == "bf16" and device.get("cuda_available"):
        need, _ = _bf16_threshold(facts)
        return (f"use fp16 with the grad scaler, or a GPU of compute capability {need[0]}.{need[1]}+",)
    if precision == "no":
        return ()
    return ("train with mixed_precision='no' until this is fixed",)


def _fix_nonfinite(precision: str) -> tuple[str, ...]:
    if precision == "no":
        return ("the fp32 step itself is not finite: check the model, the data and the installed torch",)
    if precision == "fp16":
        return ("use bf16 (wider range) or fp32; with fp16 keep the grad scaler",)
    return ("use fp32 (mixed_precision='no')",)


def _ratio(step: Mapping[str, Any], base: Mapping[str, Any] | None, key: str) -> float | None:
    if base is None or step is base:
        return None if base is None else 1.0
    mine, theirs = step.get(key), base.get(key)
    if not isinstance(mine, int | float) or not isinstance(theirs, int | float) or theirs <= 0:
        return None
    return round(float(mine) / float(theirs), 2)


def _short(dtype: str) -> str:
    return {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}.get(dtype, dtype)


def _message(error: Any) -> str | None:
    if not isinstance(error, Mapping):
        return None
    return f"{error.get('type')}: {error.get('message')}"


# -------------------------------------------------------------------------------------------- findings


def findings(step: TrainStep, facts: Sequence[HardwareFact] = ()) -> list[Finding]:
    """A finding for each precision that is not native, and for a driver older than the torch build needs.

    Severity: a failing fp32 step, or a failing step in the precision the user asked for, is an error;
    another failing mixed precision a warning; a fallback or emulation a warning when asked for, else a note.
    """
    out = [f for r in step.results if (f := _finding(r, step.requested)) is not None]
    driver = _driver_finding(step.device, facts)
    if driver is not None:
        out.append(driver)
    error = step.device.get("cuda_error")
    if error:
        out.append(
            Finding(
                id="train-cuda-unusable",
                severity=Severity.ERROR if step.requested in ("fp16", "bf16") else Severity.WARNING,
                title=f"torch {step.device.get('torch_build')} build cannot use CUDA: {_message(error)}",
                packages=("torch",),
                check=CHECK,
            )
        )
    return out


def _finding(r: PrecisionResult, requested: str | None) -> Finding | None:
    asked = requested == r.precision
    if r.verdict is Verdict.NATIVE or (r.verdict is Verdict.NOT_ATTEMPTED and not asked):
        return None
    label = LABEL.get(r.precision, r.precision)
    evidence = tuple(f"{k}={r.step.get(k)}" for k in ("device", "compute_dtype", "native_amp", "loss") if k in r.step)
    if r.verdict is Verdict.NOT_ATTEMPTED:
        return Finding(
            id="train-precision-not-attempted",
            severity=Severity.ERROR,
            title=f"{label} was asked for and {r.reason}",
            packages=("torch", "accelerate"),
            advice=(f"run on the hardware named above, or ask for a precision that runs here instead of {label}",),
            check=CHECK,
        )
    fix, advice = fix_and_advice(r.fix)
    if r.verdict is Verdict.FAILS:
        severity = Severity.ERROR if r.precision == "no" or asked else Severity.WARNING
        if r.fix == FP8_BACKEND_FIX and not asked:
            severity = Severity.INFO  # the GPU can, nothing installed asks for it: worth knowing only
        return Finding(
            id="train-step-fails",
            severity=severity,
            title=f"the {label} training step fails: {r.reason}",
            detail=_traceback_tail(r.step),
            packages=("torch", "accelerate"),
            evidence=evidence,
            fix=fix,
            advice=advice,
            check=CHECK,
        )
    return Finding(
        id=f"train-precision-{r.verdict}",
        severity=Severity.WARNING if asked else Severity.INFO,
        title=r.reason,
        detail=f"one real {label} step through Accelerate ran; the verdict comes from the dtype a Linear layer "
        "computed in, not from the absence of an exception",
        packages=("torch", "accelerate"),
        evidence=evidence,
        fix=fix,
        advice=advice,
        check=CHECK,
    )


def _traceback_tail(step: Mapping[str, Any]) -> str:
    error = step.get("error")
    if not isinstance(error, Mapping):
        return ""
    lines = [line for line in str(error.get("traceback", "")).splitlines() if line.strip()]
    return " | ".join(line.strip() for line in lines[-3:])


def _driver_finding(device: Mapping[str, Any], facts: Sequence[HardwareFact]) -> Finding | None:
    runtime, driver = device.get("torch_cuda"), device.get("driver_cuda")
    if not runtime or not driver:
        return None
    for fact in facts:
        if fact.feature != "cuda-driver" or fact.cuda_runtime is None or fact.min_driver_cuda is None:
            continue
        if Version(str(runtime)) not in fact.cuda_runtime:
            continue
        if Version(str(driver)) < Version("{}.{}".format(*fact.min_driver_cuda)):
            return Finding(
                id="train-driver-too-old",
                severity=Severity.ERROR,
                title=f"torch is built for CUDA {runtime}, the NVIDIA driver supports CUDA {driver} only",
                detail=fact.why,
                packages=("torch",),
                evidence=(f"torch.version.cuda={runtime}", f"cuDriverGetVersion={driver}", f"matrix fact {fact.id}"),
                advice=(
                    "update the NVIDIA driver to one that supports CUDA {}.{}".format(*fact.min_driver_cuda),
                    "or install a torch build for the driver's CUDA",
                ),
                check=CHECK,
            )
    return None


# -------------------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class StepRun:
    """What ``run`` adds to a report."""

    step: TrainStep | None
    findings: tuple[Finding, ...] = ()
    skipped: tuple[Skipped, ...] = ()


def run(
    python: str,
    *,
    timeout: float,
    requested: str | None = None,
    facts: Sequence[HardwareFact] = (),
    on_progress: Callable[[str], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> StepRun:
    """Run the training-step probe in ``python`` (with the whole environment ``env``, default: ours) and
    interpret it. Never raises for what the target does: a missing torch or accelerate is a Skipped, a hang
    or a crash an error finding. ``on_progress`` hears each precision as the probe starts it ("precision bf16")."""
    with ProgressFile(on_progress) as path:
        request = {"precisions": list(PRECISIONS), "progress": path, "fp8": {"min_capability": fp8_threshold(facts)[0]}}
        result = runner.run_probe(python, "step", request, timeout=timeout, env=env)
    if result.outcome is runner.Outcome.TIMEOUT:
        return StepRun(
            None,
            findings=(
                _ended_badly(
                    "train-step-timeout",
                    result.message + "; its process group was killed",
                    "a step that hangs: run one step by hand, or raise --timeout if the machine is only slow",
                ),
            ),
        )
    if result.outcome is runner.Outcome.CRASHED:
        return StepRun(
            None,
            findings=(
                _ended_badly(
                    "train-step-crashed",
                    result.message,
                    "a crash in a compiled extension: check the torch build against the hardware and driver",
                ),
            ),
        )
    if not result.ok or result.payload is None:
        return StepRun(None, skipped=(Skipped(CHECK, result.message),))
    payload = result.payload
    missing = _missing(payload.get("imports") or {})
    step = interpret(payload, facts, requested)
    if missing:
        return StepRun(step, skipped=(Skipped(CHECK, missing),))
    return StepRun(step, findings=tuple(findings(step, facts)))


def _ended_badly(finding_id: str, message: str, advice: str) -> Finding:
    return Finding(
        id=finding_id,
        severity=Severity.ERROR,
        title=f"the training step did not end normally: {message}",
        packages=("torch", "accelerate"),
        advice=(advice,),
        check=CHECK,
    )


def _missing(imports: Mapping[str, Any]) -> str:
    """Why the steps could not run (torch or accelerate will not import), or ''."""
    for name in ("torch", "accelerate"):
        record = imports.get(name)
        if record is None or record.get("ok"):
            continue
        error = record.get("error") or {}
        if error.get("type") == "ModuleNotFoundError" and f"'{name}'" in str(error.get("message")):
            return f"{name} is not installed in the target, so no training step ran (pip install {name})"
        return f"`import {name}` fails in the target ({_message(error)}), so no training step ran"
    return ""
