"""Hardware and precision facts: the ``[[fact]]`` tables of matrix/hardware.toml (the compute capability a
precision check asks for, the CUDA driver a CUDA runtime needs), validated like the rules and exposed as
``Matrix.hardware``. No rule fires on them; the precision step (envdoctor.runtime.step) reads them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from envdoctor.knowledge.entries import Entry, Evidence, MatrixIssue
from envdoctor.versions import SpecifierSet, canonical, parse_specifier

FACT_KEYS = {
    "id",
    "feature",
    "package",
    "versions",
    "check",
    "min_compute_capability",
    "cuda_runtime",
    "min_driver_cuda",
    "below",
    "fallback",
    "symptom",
    "why",
    "test",
    "evidence",
}
FACT_REQUIRED = ("id", "feature", "package", "versions", "check", "below", "why", "test", "evidence")
FEATURES = ("bf16", "tf32", "fp8", "cuda-driver")
BELOW = ("false", "error", "fallback", "emulated")  # what the check does under the threshold
FALLBACKS = ("fp32", "fp16", "bf16")
_MAJOR_MINOR = re.compile(r"^(\d+)\.(\d+)$")


@dataclass(frozen=True)
class HardwareFact:
    """What a precision or CUDA check in ``package`` (releases ``versions``) asks of the hardware.

    Capability facts (bf16, tf32, fp8) carry ``min_compute_capability``; driver facts carry the CUDA
    runtimes they are about (``cuda_runtime``) and the CUDA version the driver must support
    (``min_driver_cuda``, as the driver reports it: cudaDriverGetVersion, nvidia-smi's "CUDA Version").
    ``below`` says what happens under the threshold: "false" (the check answers False), "error",
    "fallback" (it warns and runs ``fallback`` instead) or "emulated" (it passes; the dtype is emulated).
    """

    id: str
    feature: str
    package: str
    versions: SpecifierSet
    check: str
    below: str
    why: str
    test: str
    evidence: tuple[Evidence, ...]
    min_compute_capability: tuple[int, int] | None = None
    cuda_runtime: SpecifierSet | None = None
    min_driver_cuda: tuple[int, int] | None = None
    fallback: str = ""
    symptom: str = ""
    source: str = ""  # file:line, for messages


def parse_fact(
    raw: Mapping[str, Any], file: str, line: int, block: str, issues: list[MatrixIssue]
) -> HardwareFact | None:
    """The fact of one ``[[fact]]`` table; None when it has problems (each added to ``issues``)."""
    entry = Entry(raw, file, line, block, issues)
    entry.check_keys("fact", FACT_KEYS, FACT_REQUIRED, entry.id or "?")
    feature = str(raw.get("feature", ""))
    if feature and feature not in FEATURES:
        entry.bad("feature", f"unknown feature {feature!r} (expected one of: {', '.join(FEATURES)})")

    def spec(key: str) -> SpecifierSet | None:
        return entry.specifier(key, lambda value: f"malformed specifier {value!r} in {key}") if key in raw else None

    versions, cuda_runtime = spec("versions"), spec("cuda_runtime")
    capability = _major_minor(entry, "min_compute_capability")
    driver = _major_minor(entry, "min_driver_cuda")
    _check_feature_keys(entry, feature)
    below, fallback = str(raw.get("below", "")), str(raw.get("fallback", ""))
    _check_below(entry, below, fallback)
    evidence, test = entry.evidence_and_test("fact")
    if not entry.ok or versions is None:
        return None
    return HardwareFact(
        id=entry.id,
        feature=feature,
        package=canonical(str(raw["package"])),
        versions=versions,
        check=str(raw["check"]),
        below=below,
        why=str(raw["why"]),
        test=test,
        evidence=evidence,
        min_compute_capability=capability,
        cuda_runtime=cuda_runtime,
        min_driver_cuda=driver,
        fallback=fallback,
        symptom=str(raw.get("symptom", "")),
        source=f"{file}:{line}",
    )


def _major_minor(entry: Entry, key: str) -> tuple[int, int] | None:
    if key not in entry.raw:
        return None
    if not (m := _MAJOR_MINOR.match(str(entry.raw[key]))):
        entry.bad(key, f'{key} {entry.raw[key]!r} is not MAJOR.MINOR (like "8.9")')
        return None
    return int(m.group(1)), int(m.group(2))


def _check_feature_keys(entry: Entry, feature: str) -> None:
    """A cuda-driver fact names runtimes and a driver version; a capability fact names a compute capability."""
    raw, fact_id = entry.raw, entry.id
    if feature == "cuda-driver":
        for key in ("cuda_runtime", "min_driver_cuda"):
            if key not in raw:
                entry.bad("", f"fact {fact_id!r}: a cuda-driver fact needs {key}")
        if "min_compute_capability" in raw:
            entry.bad("min_compute_capability", f"fact {fact_id!r}: a cuda-driver fact has no min_compute_capability")
    elif feature:
        if "min_compute_capability" not in raw:
            entry.bad("", f"fact {fact_id!r}: a {feature} fact needs min_compute_capability")
        for key in ("cuda_runtime", "min_driver_cuda"):
            if key in raw:
                entry.bad(key, f"fact {fact_id!r}: {key} is only for cuda-driver facts")


def _check_below(entry: Entry, below: str, fallback: str) -> None:
    if below and below not in BELOW:
        entry.bad("below", f"unknown below {below!r} (expected one of: {', '.join(BELOW)})")
    if below == "fallback" and fallback not in FALLBACKS:
        entry.bad(
            "fallback" if fallback else "below", f"below = 'fallback' needs fallback, one of: {', '.join(FALLBACKS)}"
        )
    if fallback and below != "fallback":
        entry.bad("fallback", "fallback is only for below = 'fallback'")


def fact_to_json(fact: HardwareFact) -> dict[str, Any]:
    return {
        **{k: getattr(fact, k) for k in ("id", "feature", "package", "check", "below", "why", "test", "fallback")},
        **{k: getattr(fact, k) for k in ("symptom", "source")},
        "versions": str(fact.versions),
        "evidence": [{"kind": e.kind, **e.fields} for e in fact.evidence],
        "min_compute_capability": fact.min_compute_capability,
        "cuda_runtime": str(fact.cuda_runtime) if fact.cuda_runtime is not None else None,
        "min_driver_cuda": fact.min_driver_cuda,
    }


def fact_from_json(raw: dict[str, Any]) -> HardwareFact:
    def pair(value: Any) -> tuple[int, int] | None:
        return (int(value[0]), int(value[1])) if value is not None else None

    keys = ("id", "feature", "package", "check", "below", "why", "test", "fallback", "symptom", "source")
    return HardwareFact(
        **{k: raw[k] for k in keys},
        versions=parse_specifier(raw["versions"]),
        evidence=tuple(Evidence(e["kind"], e) for e in raw["evidence"]),
        min_compute_capability=pair(raw["min_compute_capability"]),
        cuda_runtime=parse_specifier(raw["cuda_runtime"]) if raw["cuda_runtime"] is not None else None,
        min_driver_cuda=pair(raw["min_driver_cuda"]),
    )
