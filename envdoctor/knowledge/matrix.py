"""The curated compatibility matrix: matrix/*.toml, one file per family, loaded and validated.

Validation collects every problem (an unknown key, a malformed specifier, a rule without evidence
or without a test, a duplicate id), each with its file and line, and raises them together as one
MatrixError: an editor fixes all of them in one pass.

Besides rules, a file may hold ``[[fact]]`` tables (matrix/hardware.toml): hardware and precision
facts (the compute capability a precision check asks for, the CUDA driver a CUDA runtime needs),
validated the same way and exposed as ``Matrix.hardware``. No rule fires on them; the precision
probe reads them.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envdoctor.cache import Cache, OneOf
from envdoctor.errors import EnvdoctorError
from envdoctor.report import Severity
from envdoctor.versions import (
    InvalidRequirement,
    InvalidSpecifier,
    SpecifierSet,
    canonical,
    parse_requirement,
    parse_specifier,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

RULE_KEYS = {
    "id",
    "severity",
    "title",
    "applies",
    "python",
    "platform",
    "signal",
    "symptom",
    "breaks",
    "why",
    "fix",
    "test",
    "evidence",
}
REQUIRED = ("id", "severity", "title", "symptom", "why", "fix", "test", "evidence")
EVIDENCE_KEYS = {
    "run": {"kind", "bed", "command", "observed", "note"},
    "wheel": {"kind", "wheel", "sha256", "path", "line", "match", "note"},
    "issue": {"kind", "url", "note"},
}
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
_KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAJOR_MINOR = re.compile(r"^(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Evidence:
    kind: str  # "run": a recorded real run; "wheel": a file in a released wheel; "issue": upstream
    fields: Mapping[str, Any]

    def describe(self) -> str:
        f = self.fields
        if self.kind == "wheel":
            where = f"{f['path']}:{f['line']}" if f.get("line") else f["path"]
            return f"{f['wheel']} (sha256 {str(f.get('sha256', ''))[:16]}...): {where}: {f.get('match', '')}".rstrip(
                ": "
            )
        if self.kind == "run":
            return f"real run on {f['bed']}: `{f['command']}` -> {f['observed']}"
        return f"upstream: {f['url']}" + (f" ({f['note']})" if f.get("note") else "")


@dataclass(frozen=True)
class Rule:
    id: str
    family: str
    severity: Severity
    title: str
    symptom: str
    why: str
    fix: tuple[str, ...]
    test: str
    evidence: tuple[Evidence, ...]
    applies: Mapping[str, SpecifierSet] = field(default_factory=dict)
    python: SpecifierSet | None = None
    platform: tuple[str, ...] = ()
    signal: str = ""
    breaks: str = ""
    source: str = ""  # file:line, for messages


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


@dataclass(frozen=True)
class MatrixIssue:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class MatrixError(EnvdoctorError):
    def __init__(self, issues: Iterable[MatrixIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("; ".join(str(i) for i in self.issues))


@dataclass(frozen=True)
class Matrix:
    rules: tuple[Rule, ...]
    hardware: tuple[HardwareFact, ...] = ()

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def families(self) -> tuple[str, ...]:
        return tuple(sorted({r.family for r in self.rules}))

    def facts(self, feature: str, package: str | None = None) -> tuple[HardwareFact, ...]:
        """The hardware facts about ``feature`` ("bf16", "tf32", "fp8", "cuda-driver"), optionally of one package."""
        name = canonical(package) if package is not None else None
        return tuple(f for f in self.hardware if f.feature == feature and name in (None, f.package))


def load(root: Path, signals: Iterable[str] = (), cache: Cache | None = None) -> Matrix:
    """Every matrix/*.toml under ``root``; raises MatrixError listing every problem found.

    With a ``cache``, a file already validated (same content) is read back from JSON instead of
    parsed and validated again: TOML parsing is what grows with the number of rules.
    """
    issues: list[MatrixIssue] = []
    rules: list[Rule] = []
    facts: list[HardwareFact] = []
    for path in sorted(root.glob("*.toml")):
        file_rules, file_facts = _cached_file(path, issues, set(signals), cache or Cache(None))
        rules.extend(file_rules)
        facts.extend(file_facts)
    for kind, items in (("rule", rules), ("fact", facts)):
        seen: dict[str, str] = {}
        for item in items:
            if item.id in seen:
                file, line = item.source.rsplit(":", 1)
                issues.append(
                    MatrixIssue(file, int(line), f"duplicate {kind} id {item.id!r} (first at {seen[item.id]})")
                )
            seen.setdefault(item.id, item.source)
    if issues:
        raise MatrixError(issues)
    return Matrix(tuple(rules), tuple(facts))


def _cached_file(
    path: Path, issues: list[MatrixIssue], signals: set[str], cache: Cache
) -> tuple[list[Rule], list[HardwareFact]]:
    text = path.read_text(encoding="utf-8")
    key = f"matrix-{path.stem}-{hashlib.sha256((text + repr(sorted(signals))).encode()).hexdigest()[:24]}"
    stored = cache.get(key, _STORED)
    if stored is not None:
        try:
            return [_from_json(r) for r in stored["rules"]], [_fact_from_json(f) for f in stored.get("facts", [])]
        except (KeyError, TypeError, ValueError, IndexError):
            pass  # an entry of another shape: validated again from the file, and rewritten
    before = len(issues)
    rules: list[Rule] = []
    facts: list[HardwareFact] = []
    for item in _read_file(path, text, issues, signals):
        if isinstance(item, Rule):
            rules.append(item)
        else:
            facts.append(item)
    if len(issues) == before:
        entry: dict[str, Any] = {"rules": [_to_json(r) for r in rules], "facts": [_fact_to_json(f) for f in facts]}
        cache.put(key, entry)
    return rules, facts


_TEXT_KEYS = ("id", "family", "title", "symptom", "why", "test", "signal", "breaks", "source", "severity")
_STORED_RULE = {
    **dict.fromkeys(_TEXT_KEYS, str),
    "fix": [str],
    "evidence": [{"kind": str}],
    "applies": {str: str},
    "python": OneOf(str, None),
    "platform": [str],
}
_STORED_FACT = {
    **dict.fromkeys(("id", "feature", "package", "check", "below", "why", "test", "versions"), str),
    "evidence": [{"kind": str}],
}
_STORED = {"rules": [_STORED_RULE], "facts": [_STORED_FACT]}


def _to_json(rule: Rule) -> dict[str, Any]:
    return {
        **{
            k: getattr(rule, k)
            for k in ("id", "family", "title", "symptom", "why", "test", "signal", "breaks", "source")
        },
        "severity": str(rule.severity),
        "fix": list(rule.fix),
        "evidence": [{"kind": e.kind, **e.fields} for e in rule.evidence],
        "applies": {p: str(s) for p, s in rule.applies.items()},
        "python": str(rule.python) if rule.python is not None else None,
        "platform": list(rule.platform),
    }


def _from_json(raw: dict[str, Any]) -> Rule:
    return Rule(
        **{k: raw[k] for k in ("id", "family", "title", "symptom", "why", "test", "signal", "breaks", "source")},
        severity=Severity.parse(raw["severity"]),
        fix=tuple(raw["fix"]),
        evidence=tuple(Evidence(e["kind"], e) for e in raw["evidence"]),
        applies={p: parse_specifier(s) for p, s in raw["applies"].items()},
        python=parse_specifier(raw["python"]) if raw["python"] is not None else None,
        platform=tuple(raw["platform"]),
    )


def _read_file(path: Path, text: str, issues: list[MatrixIssue], signals: set[str]) -> Iterator[Rule | HardwareFact]:
    name = path.name
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = int(m.group(1)) if (m := re.search(r"line (\d+)", str(exc))) else 1
        issues.append(MatrixIssue(name, line, f"not valid TOML: {exc}"))
        return
    for key in sorted(set(data) - {"family", "rule", "fact"}):
        issues.append(MatrixIssue(name, _line_of(text, key), f"unknown top-level key {key!r}"))
    family = data.get("family", path.stem)
    if family != path.stem:
        issues.append(MatrixIssue(name, _line_of(text, "family"), f"family {family!r} must match the file name"))
    for raw, line, block in _tables(text, "rule", data.get("rule", [])):
        rule = _rule(raw, family, name, line, block, issues, signals)
        if rule is not None:
            yield rule
    for raw, line, block in _tables(text, "fact", data.get("fact", [])):
        fact = _fact(raw, name, line, block, issues)
        if fact is not None:
            yield fact


def _tables(text: str, table: str, raws: list[Any]) -> Iterator[tuple[Any, int, str]]:
    """Each ``[[table]]`` entry with the line it starts on and its text (for the lines of its keys)."""
    starts = [m.start() for m in re.finditer(rf"(?m)^\[\[{table}\]\]", text)]
    line, counted = 1, 0
    for index, raw in enumerate(raws):
        offset = starts[index] if index < len(starts) else 0
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        line += text.count("\n", counted, offset)
        counted = offset
        yield raw, line, text[offset:end]


def _line_of(text: str, key: str, base: int = 1) -> int:
    m = re.search(rf"(?m)^\s*{re.escape(key)}\s*=", text)
    return base + text.count("\n", 0, m.start()) if m else base


def _rule(  # noqa: PLR0917 - one call site, every argument a different piece of context
    raw: Mapping[str, Any], family: str, file: str, line: int, block: str, issues: list[MatrixIssue], signals: set[str]
) -> Rule | None:
    before = len(issues)

    def bad(key: str, message: str) -> None:
        issues.append(MatrixIssue(file, _line_of(block, key, line) if key else line, message))

    for key in sorted(set(raw) - RULE_KEYS):
        bad(key, f"unknown key {key!r} in a rule")
    for key in REQUIRED:
        if not raw.get(key):
            bad("", f"rule {raw.get('id', '?')!r} has no {key}")
    rule_id = str(raw.get("id", ""))
    if rule_id and not _KEBAB.match(rule_id):
        bad("id", f"rule id {rule_id!r} is not kebab-case")
    severity = Severity.ERROR
    try:
        severity = Severity.parse(str(raw.get("severity", "error")))
    except ValueError as exc:
        bad("severity", str(exc))
    applies: dict[str, SpecifierSet] = {}
    for package, spec in dict(raw.get("applies", {})).items():
        try:
            applies[canonical(package)] = parse_specifier(str(spec))
        except InvalidSpecifier:
            bad("applies", f"malformed specifier {spec!r} for {package}")
    python = None
    if raw.get("python"):
        try:
            python = parse_specifier(str(raw["python"]))
        except InvalidSpecifier:
            bad("python", f"malformed Python specifier {raw['python']!r}")
    signal = str(raw.get("signal", ""))
    if signal and signal not in signals:
        bad("signal", f"unknown signal {signal!r} (known: {', '.join(sorted(signals))})")
    for fix in raw.get("fix", []):
        try:  # placeholders ({torch}: the installed version) are filled at check time
            parse_requirement(re.sub(r"\{[a-z0-9_-]+\}", "1.0", str(fix)))
        except InvalidRequirement:
            bad("fix", f"fix {fix!r} is not a requirement specifier")
    evidence = tuple(_evidence(raw.get("evidence", []), bad))
    if evidence and not any(e.kind in {"run", "wheel"} for e in evidence):
        bad("", f"rule {rule_id!r}: an upstream reference is not evidence by itself; add a wheel or a run")
    test = str(raw.get("test", ""))
    if test and "::" not in test:
        bad("test", f"test {test!r} must name a test as path::function")
    if len(issues) > before:
        return None
    return Rule(
        id=rule_id,
        family=family,
        severity=severity,
        title=str(raw["title"]),
        symptom=str(raw["symptom"]),
        why=str(raw["why"]),
        fix=tuple(str(f) for f in raw["fix"]),
        test=test,
        evidence=evidence,
        applies=applies,
        python=python,
        platform=tuple(raw.get("platform", ()) if isinstance(raw.get("platform"), list) else [raw["platform"]])
        if raw.get("platform")
        else (),
        signal=signal,
        breaks=str(raw.get("breaks", "")),
        source=f"{file}:{line}",
    )


def _fact(raw: Mapping[str, Any], file: str, line: int, block: str, issues: list[MatrixIssue]) -> HardwareFact | None:
    before = len(issues)

    def bad(key: str, message: str) -> None:
        issues.append(MatrixIssue(file, _line_of(block, key, line) if key else line, message))

    for key in sorted(set(raw) - FACT_KEYS):
        bad(key, f"unknown key {key!r} in a fact")
    fact_id = str(raw.get("id", ""))
    for key in FACT_REQUIRED:
        if not raw.get(key):
            bad("", f"fact {fact_id or '?'!r} has no {key}")
    if fact_id and not _KEBAB.match(fact_id):
        bad("id", f"fact id {fact_id!r} is not kebab-case")
    feature = str(raw.get("feature", ""))
    if feature and feature not in FEATURES:
        bad("feature", f"unknown feature {feature!r} (expected one of: {', '.join(FEATURES)})")

    def spec(key: str) -> SpecifierSet | None:
        if key not in raw:
            return None
        try:
            return parse_specifier(str(raw[key]))
        except InvalidSpecifier:
            bad(key, f"malformed specifier {raw[key]!r} in {key}")
            return None

    def major_minor(key: str) -> tuple[int, int] | None:
        if key not in raw:
            return None
        if not (m := _MAJOR_MINOR.match(str(raw[key]))):
            bad(key, f'{key} {raw[key]!r} is not MAJOR.MINOR (like "8.9")')
            return None
        return int(m.group(1)), int(m.group(2))

    versions, cuda_runtime = spec("versions"), spec("cuda_runtime")
    capability, driver = major_minor("min_compute_capability"), major_minor("min_driver_cuda")
    if feature == "cuda-driver":
        for key in ("cuda_runtime", "min_driver_cuda"):
            if key not in raw:
                bad("", f"fact {fact_id!r}: a cuda-driver fact needs {key}")
        if "min_compute_capability" in raw:
            bad("min_compute_capability", f"fact {fact_id!r}: a cuda-driver fact has no min_compute_capability")
    elif feature:
        if "min_compute_capability" not in raw:
            bad("", f"fact {fact_id!r}: a {feature} fact needs min_compute_capability")
        for key in ("cuda_runtime", "min_driver_cuda"):
            if key in raw:
                bad(key, f"fact {fact_id!r}: {key} is only for cuda-driver facts")
    below, fallback = str(raw.get("below", "")), str(raw.get("fallback", ""))
    if below and below not in BELOW:
        bad("below", f"unknown below {below!r} (expected one of: {', '.join(BELOW)})")
    if below == "fallback" and fallback not in FALLBACKS:
        bad("fallback" if fallback else "below", f"below = 'fallback' needs fallback, one of: {', '.join(FALLBACKS)}")
    if fallback and below != "fallback":
        bad("fallback", "fallback is only for below = 'fallback'")
    evidence = tuple(_evidence(raw.get("evidence", []), bad))
    if evidence and not any(e.kind in {"run", "wheel"} for e in evidence):
        bad("", f"fact {fact_id!r}: an upstream reference is not evidence by itself; add a wheel or a run")
    test = str(raw.get("test", ""))
    if test and "::" not in test:
        bad("test", f"test {test!r} must name a test as path::function")
    if len(issues) > before or versions is None:
        return None
    return HardwareFact(
        id=fact_id,
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


def _fact_to_json(fact: HardwareFact) -> dict[str, Any]:
    return {
        **{k: getattr(fact, k) for k in ("id", "feature", "package", "check", "below", "why", "test", "fallback")},
        **{k: getattr(fact, k) for k in ("symptom", "source")},
        "versions": str(fact.versions),
        "evidence": [{"kind": e.kind, **e.fields} for e in fact.evidence],
        "min_compute_capability": fact.min_compute_capability,
        "cuda_runtime": str(fact.cuda_runtime) if fact.cuda_runtime is not None else None,
        "min_driver_cuda": fact.min_driver_cuda,
    }


def _fact_from_json(raw: dict[str, Any]) -> HardwareFact:
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


def _evidence(items: Any, bad: Any) -> Iterator[Evidence]:
    for item in items if isinstance(items, list) else []:
        kind = str(item.get("kind", ""))
        allowed = EVIDENCE_KEYS.get(kind)
        if allowed is None:
            bad("kind", f"evidence kind {kind!r} is not one of run, wheel, issue")
            continue
        for key in sorted(set(item) - allowed):
            bad(key, f"unknown key {key!r} in {kind} evidence")
        needed = {
            "run": ("bed", "command", "observed"),
            "wheel": ("wheel", "sha256", "path", "match"),
            "issue": ("url",),
        }
        for key in needed[kind]:
            if not item.get(key):
                bad("kind", f"{kind} evidence needs {key}")
        if kind == "wheel" and item.get("sha256") and not _SHA256.match(str(item["sha256"])):
            bad("sha256", "wheel evidence needs the wheel's full sha256")
        yield Evidence(kind, dict(item))
