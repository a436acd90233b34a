"""Config lint (``check --train``, ``--accelerate-config FILE``): the accelerate config in use and the DeepSpeed
JSON it references, against the device facts and against each other.

``run`` reads both files through probes/accelerate_config.py in the target (PyYAML is accelerate's, not
envdoctor's); ``lint`` is pure: the probe's JSON and the precision step's device facts
(envdoctor.runtime.step) in, findings out. A file that does not parse is a finding with its file and line.
The rules follow what accelerate itself does with these files (``accelerate launch`` and
``DeepSpeedPlugin``), read in its released sources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from envdoctor import runner
from envdoctor.knowledge.matrix import HardwareFact
from envdoctor.report import Finding, Severity, Skipped
from envdoctor.runtime.step import NATIVE_BF16_CC

CHECK = "config-lint"
MULTI_GPU_TYPES = ("MULTI_GPU", "DEEPSPEED", "FSDP", "MEGATRON_LM")
SHM_MIN_BYTES = 1 << 30
"""Below this, /dev/shm is called too small for NCCL between processes (Docker's default is 64 MiB)."""
DS_FIELDS = (
    "gradient_accumulation_steps",
    "gradient_clipping",
    "zero_stage",
    "offload_optimizer_device",
    "offload_param_device",
    "offload_param_nvme_path",
    "offload_optimizer_nvme_path",
    "zero3_save_16bit_model",
)
"""accelerate's DeepSpeedPlugin._deepspeed_config_checks: set in the accelerate config together with a
``deepspeed_config_file``, each of these (and ``mixed_precision``) makes Accelerator() raise ValueError."""


def run(python: str, *, path: str | None, cwd: str, timeout: float) -> tuple[Mapping[str, Any] | None, Skipped | None]:
    """The probe's JSON, or why it could not be read."""
    result = runner.run_probe(python, "accelerate_config", {"path": path, "cwd": cwd}, timeout=timeout)
    if not result.ok or result.payload is None:
        return None, Skipped(CHECK, result.message)
    return result.payload, None


@dataclass(frozen=True)
class _Files:
    """The accelerate config (``path``, ``data``) and the DeepSpeed JSON it names (``ds_path``, ``ds``: {} when
    none, or when it does not parse), with the probe's whole ``payload``."""

    path: str
    data: Mapping[str, Any]
    ds: Mapping[str, Any]
    ds_path: str | None
    payload: Mapping[str, Any]


def lint(payload: Mapping[str, Any], device: Mapping[str, Any], facts: Sequence[HardwareFact] = ()) -> list[Finding]:
    """Findings for the accelerate config (and its DeepSpeed JSON) in ``payload`` on a machine with ``device``."""
    config = payload.get("config") or {}
    path = str(config.get("path"))
    if not config.get("exists"):
        if payload.get("source") == "file":
            return [_finding("accelerate-config-invalid", Severity.ERROR, f"{path}: no such file", path)]
        return []
    if config.get("error"):
        return [_invalid(config)]
    data: Mapping[str, Any] = config.get("data") or {}
    ds_payload = payload.get("deepspeed") or {}
    out: list[Finding] = []
    ds: Mapping[str, Any] = {}
    if ds_payload:
        if not ds_payload.get("exists"):
            out.append(
                _finding(
                    "accelerate-config-invalid",
                    Severity.ERROR,
                    f"{path}: deepspeed_config_file {ds_payload.get('path')} does not exist",
                    path,
                )
            )
        elif ds_payload.get("error"):
            out.append(_invalid(ds_payload))
        else:
            ds = ds_payload.get("data") or {}
    gpus = [g for g in device.get("devices") or () if isinstance(g, Mapping)]
    files = _Files(path, data, ds, ds_payload.get("path") if ds_payload else None, payload)
    out += _precision(files, gpus, facts)
    out += _both_files(files)
    out += _processes(files, device, gpus)
    out += _deepspeed_ops(files, device)
    return out


def _invalid(file: Mapping[str, Any]) -> Finding:
    error = file.get("error") or {}
    where = f"{file.get('path')}:{error['line']}" if error.get("line") else str(file.get("path"))
    return _finding(
        "accelerate-config-invalid", Severity.ERROR, f"{where}: {error.get('message')}", str(file.get("path"))
    )


def _finding(
    fid: str, severity: Severity, title: str, path: str, *, advice: tuple[str, ...] = (), detail: str = ""
) -> Finding:
    return Finding(
        id=fid,
        severity=severity,
        title=title,
        detail=detail,
        packages=("accelerate",),
        evidence=(f"config: {path}",),
        advice=advice,
        check=CHECK,
    )


def _enabled(section: Any) -> bool:
    """A DeepSpeed ``fp16`` / ``bf16`` section that turns the precision on ("auto" leaves it to accelerate)."""
    return isinstance(section, Mapping) and section.get("enabled") is True


def _precision(files: _Files, gpus: Sequence[Mapping[str, Any]], facts: Sequence[HardwareFact]) -> list[Finding]:
    path, data, ds = files.path, files.data, files.ds
    wants_bf16 = data.get("mixed_precision") == "bf16" or _enabled(ds.get("bf16"))
    if not wants_bf16 or data.get("use_cpu") is True or not gpus:
        return []
    need = NATIVE_BF16_CC
    for fact in facts:
        if fact.feature == "bf16" and fact.package == "torch" and fact.min_compute_capability is not None:
            need = fact.min_compute_capability
    old = [g for g in gpus if len(g.get("capability") or ()) == 2 and tuple(g["capability"]) < need]
    if not old:
        return []
    where = files.ds_path if _enabled(ds.get("bf16")) else path
    names = ", ".join(f"{g.get('name')} (sm_{g['capability'][0]}{g['capability'][1]})" for g in old)
    return [
        _finding(
            "accelerate-config-bf16-unsupported",
            Severity.ERROR,
            f"{where} asks for bf16; {names} has no native bf16 (compute capability {need[0]}.{need[1]} needed)",
            str(where),
            advice=("mixed_precision: fp16 (with the grad scaler), or a GPU of compute capability 8.0+",),
            detail="bf16 there is emulated or refused: slow, or an error at the first step.",
        )
    ]


def _both_files(files: _Files) -> list[Finding]:
    """With a deepspeed_config_file, accelerate refuses mixed_precision and the plugin fields in its own config."""
    path, data, ds, ds_path = files.path, files.data, files.ds, files.ds_path
    if not ds:
        return []
    out = []
    section = data.get("deepspeed_config") or {}
    mp = data.get("mixed_precision")
    ds_mp = "bf16" if _enabled(ds.get("bf16")) else "fp16" if _enabled(ds.get("fp16")) else None
    if mp not in (None, "no") or (mp == "no" and ds_mp):
        where = f" (the DeepSpeed JSON says {ds_mp})" if ds_mp else ""
        out.append(
            _finding(
                "accelerate-config-set-twice",
                Severity.ERROR,
                f"{path} sets mixed_precision: {mp} and also names a DeepSpeed config file{where}: "
                "accelerate refuses this (ValueError at Accelerator())",
                path,
                advice=(f"remove mixed_precision from {path}; set fp16 / bf16 in {ds_path}",),
            )
        )
    ga, ds_ga = section.get("gradient_accumulation_steps"), ds.get("gradient_accumulation_steps")
    if ga is not None:
        disagree = ds_ga not in (None, "auto") and ds_ga != ga
        out.append(
            _finding(
                "accelerate-config-grad-accum-mismatch" if disagree else "accelerate-config-set-twice",
                Severity.ERROR,
                f"{path} sets gradient_accumulation_steps: {ga}"
                + (f", the DeepSpeed JSON {ds_path} says {ds_ga}" if disagree else "")
                + " next to a DeepSpeed config file: accelerate refuses this (ValueError at Accelerator())",
                path,
                advice=(f"keep gradient_accumulation_steps in {ds_path} only",),
            )
        )
    others = [k for k in DS_FIELDS[1:] if section.get(k) is not None]
    if others:
        out.append(
            _finding(
                "accelerate-config-set-twice",
                Severity.ERROR,
                f"{path} sets {', '.join(others)} next to a DeepSpeed config file: accelerate refuses this",
                path,
                advice=(f"keep these in {ds_path} only",),
            )
        )
    return out


def _processes(files: _Files, device: Mapping[str, Any], gpus: Sequence[Mapping[str, Any]]) -> list[Finding]:
    path, data = files.path, files.data
    kind = str(data.get("distributed_type") or "NO")
    if kind not in MULTI_GPU_TYPES or data.get("use_cpu") is True:
        return []
    out = []
    procs = data.get("num_processes")
    machines = data.get("num_machines") or 1
    visible = len(gpus)
    per_machine = procs // machines if isinstance(procs, int) and isinstance(machines, int) and machines else None
    if per_machine is not None and per_machine > visible:
        out.append(
            _finding(
                "accelerate-config-too-many-processes",
                Severity.ERROR,
                f"{path}: num_processes {procs} on {machines} machine(s), {visible} GPU(s) visible here",
                path,
                advice=(
                    f"num_processes: {max(visible, 1) * machines}",
                    "or make the GPUs visible (CUDA_VISIBLE_DEVICES)",
                ),
            )
        )
    if kind == "MULTI_GPU" and visible == 1:
        out.append(
            _finding(
                "accelerate-config-multi-gpu-on-one",
                Severity.WARNING,
                f"{path}: distributed_type MULTI_GPU with one GPU visible",
                path,
                advice=("distributed_type: 'NO' (one process), or run where the GPUs are",),
            )
        )
    shm = (device.get("shm") or {}).get("total_bytes")
    if isinstance(procs, int) and procs > 1 and visible > 1 and isinstance(shm, int) and shm < SHM_MIN_BYTES:
        out.append(
            _finding(
                "shm-too-small",
                Severity.WARNING,
                f"/dev/shm is {shm / 2**20:.0f} MiB: NCCL between {procs} processes needs more",
                path,
                advice=("docker run --shm-size=8g (or --ipc=host)", "or NCCL_SHM_DISABLE=1 (slower)"),
            )
        )
    return out


def _deepspeed_ops(files: _Files, device: Mapping[str, Any]) -> list[Finding]:
    """DeepSpeed builds CPUAdam (optimizer offload to the CPU) and async_io (NVMe offload) at first use, with nvcc."""
    path, data, ds, payload = files.path, files.data, files.ds, files.payload
    if str(data.get("distributed_type")) != "DEEPSPEED" or payload.get("cuda_home") or payload.get("nvcc"):
        return []
    if device.get("torch_build") != "cuda":
        return []
    section = data.get("deepspeed_config") or {}
    zero = ds.get("zero_optimization") or {} if ds else {}
    devices = {
        section.get("offload_optimizer_device"),
        section.get("offload_param_device"),
        (zero.get("offload_optimizer") or {}).get("device") if isinstance(zero, Mapping) else None,
        (zero.get("offload_param") or {}).get("device") if isinstance(zero, Mapping) else None,
    }
    ops = [op for op, where in (("cpu_adam", "cpu"), ("async_io", "nvme")) if where in devices]
    if not ops:
        return []
    where = files.ds_path or path
    return [
        _finding(
            "deepspeed-ops-no-cuda-home",
            Severity.WARNING,
            f"{where} offloads to {' and '.join(sorted(d for d in devices if d in ('cpu', 'nvme')))}: DeepSpeed "
            f"compiles {', '.join(ops)} at the first step, and there is no CUDA_HOME and no nvcc",
            str(where),
            advice=("install the CUDA toolkit and set CUDA_HOME", "or a deepspeed wheel with the ops prebuilt"),
        )
    ]
