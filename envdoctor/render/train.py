"""The training-step tables (``check --train``: precisions, and the stack step) shared by the text and terminal
views."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from envdoctor.render import printable

HEADER = ("precision", "verdict", "ran in", "loss", "weights", "grad scaler", "time vs fp32", "why")
_LABEL = {"no": "fp32", "fp16": "fp16", "bf16": "bf16", "fp8": "fp8"}
_DTYPE = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float8": "fp8"}


def device_line(train: Mapping[str, Any]) -> str:
    """One line of device facts: torch build, GPUs (or plainly none), driver, CPUs, /dev/shm."""
    d = train.get("device") or {}
    torch = (train.get("imports") or {}).get("torch") or {}
    parts = [
        f"torch {torch.get('version')} ({d.get('torch_build')} build)" if torch.get("ok") else "torch: not importable"
    ]
    gpus = d.get("devices") or []
    if gpus:
        for g in gpus:
            cc = ".".join(map(str, g.get("capability") or []))
            parts.append(
                f"GPU {g.get('index')}: {g.get('name')} (compute capability {cc}, {_gib(g.get('total_memory'))})"
            )
    else:
        parts.append("no GPU" + (" (MPS available)" if d.get("mps_available") else ""))
    if d.get("driver_cuda"):
        parts.append(f"driver CUDA {d['driver_cuda']}")
    parts.append(f"{d.get('cpu_usable') or d.get('cpu_count')} CPUs")
    shm = d.get("shm") or {}
    if shm.get("total_bytes"):
        parts.append(f"/dev/shm {_gib(shm['total_bytes'])}")
    return printable("; ".join(parts))  # names and errors come from the target: data, never control codes


def rows(train: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """One row per precision, in HEADER's columns."""
    out: list[tuple[str, ...]] = []
    for p in train.get("precisions") or ():
        scaler = p.get("grad_scaler")
        scaled = f"scale {scaler.get('scale'):g}" if isinstance(scaler, Mapping) else "none" if p.get("ran") else "-"
        loss = p.get("loss")
        out.append(
            tuple(
                printable(cell)
                for cell in (
                    _LABEL.get(p.get("precision"), str(p.get("precision"))),
                    str(p.get("verdict")),
                    _DTYPE.get(p.get("compute_dtype"), str(p.get("compute_dtype") or "-")),
                    "-" if loss is None else f"{loss:.4g}",
                    {True: "changed", False: "unchanged"}.get(p.get("weights_changed"), "-"),
                    scaled,
                    "-" if p.get("time_vs_fp32") is None else f"{p['time_vs_fp32']:.2f}x",
                    str(p.get("reason", "")),
                )
            )
        )
    return out


STACK_HEADER = ("stack step", "result", "loss", "weights", "steps", "seconds", "why")
_STACK_LABEL = {"trainer": "Trainer", "resume": "resume", "lora": "LoRA (peft)", "sft": "SFTTrainer (trl)"}


def stack_line(train: Mapping[str, Any]) -> str:
    """The versions the stack step ran with: ``transformers 4.52.4, accelerate 1.2.1, ...``."""
    imports = (train.get("stack") or {}).get("imports") or {}
    return printable(", ".join(f"{n} {r.get('version')}" for n, r in imports.items() if r.get("ok") and n != "torch"))


def stack_rows(train: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """One row per stack step, in STACK_HEADER's columns (empty without a stack step)."""
    out: list[tuple[str, ...]] = []
    for s in (train.get("stack") or {}).get("steps") or ():
        loss, error, diag = s.get("loss"), s.get("error") or {}, s.get("diagnosis") or {}
        why = s.get("skipped") or diag.get("cause") or (f"{error.get('type')}: {error.get('message')}" if error else "")
        out.append(
            tuple(
                printable(cell)
                for cell in (
                    _STACK_LABEL.get(s.get("step"), str(s.get("step"))),
                    str(s.get("status")),
                    "-" if loss is None else f"{loss:.4g}",
                    {True: "changed", False: "unchanged"}.get(s.get("weights_changed"), "-"),
                    "-" if s.get("global_step") is None else str(s.get("global_step")),
                    "-" if s.get("seconds") is None else f"{s['seconds']:.2f}",
                    str(why).splitlines()[0] if why else "",
                )
            )
        )
    return out


def _gib(n: Any) -> str:
    return f"{n / 2**30:.1f} GiB" if isinstance(n, int | float) else "?"
