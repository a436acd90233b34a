"""The curated compatibility matrix: matrix/*.toml, one file per family, loaded and validated.

Validation collects every problem (an unknown key, a malformed specifier, a rule without evidence
or without a test, a duplicate id), each with its file and line, and raises them together as one
MatrixError: an editor fixes all of them in one pass.

Besides rules, a file may hold ``[[fact]]`` tables (matrix/hardware.toml): hardware and precision
facts (envdoctor.knowledge.hardware), validated the same way and exposed as ``Matrix.hardware``.
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
from envdoctor.knowledge.entries import Entry, Evidence, MatrixIssue, line_of
from envdoctor.knowledge.hardware import HardwareFact, fact_from_json, fact_to_json, parse_fact
from envdoctor.report import Severity
from envdoctor.versions import (
    InvalidRequirement,
    InvalidSpecifier,
    SpecifierSet,
    canonical,
    parse_requirement,
    parse_specifier,
)

__all__ = [  # the hardware facts and the tables' vocabulary are the matrix's too (Matrix.hardware, MatrixError)
    "Evidence",
    "HardwareFact",
    "Matrix",
    "MatrixError",
    "MatrixIssue",
    "Rule",
    "load",
]

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
            return [_from_json(r) for r in stored["rules"]], [fact_from_json(f) for f in stored.get("facts", [])]
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
        entry: dict[str, Any] = {"rules": [_to_json(r) for r in rules], "facts": [fact_to_json(f) for f in facts]}
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
        issues.append(MatrixIssue(name, line_of(text, key), f"unknown top-level key {key!r}"))
    family = data.get("family", path.stem)
    if family != path.stem:
        issues.append(MatrixIssue(name, line_of(text, "family"), f"family {family!r} must match the file name"))
    for raw, line, block in _tables(text, "rule", data.get("rule", [])):
        rule = _rule(raw, family, name, line, block, issues, signals)
        if rule is not None:
            yield rule
    for raw, line, block in _tables(text, "fact", data.get("fact", [])):
        fact = parse_fact(raw, name, line, block, issues)
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


def _rule(  # noqa: PLR0917 - one call site, every argument a different piece of context
    raw: Mapping[str, Any], family: str, file: str, line: int, block: str, issues: list[MatrixIssue], signals: set[str]
) -> Rule | None:
    entry = Entry(raw, file, line, block, issues)
    entry.check_keys("rule", RULE_KEYS, REQUIRED, raw.get("id", "?"))
    severity = Severity.ERROR
    try:
        severity = Severity.parse(str(raw.get("severity", "error")))
    except ValueError as exc:
        entry.bad("severity", str(exc))
    applies = _applies(entry)
    python = None
    if raw.get("python"):
        python = entry.specifier("python", lambda value: f"malformed Python specifier {value!r}")
    signal = str(raw.get("signal", ""))
    if signal and signal not in signals:
        entry.bad("signal", f"unknown signal {signal!r} (known: {', '.join(sorted(signals))})")
    for fix in raw.get("fix", []):
        try:  # placeholders ({torch}: the installed version) are filled at check time
            parse_requirement(re.sub(r"\{[a-z0-9_-]+\}", "1.0", str(fix)))
        except InvalidRequirement:
            entry.bad("fix", f"fix {fix!r} is not a requirement specifier")
    evidence, test = entry.evidence_and_test("rule")
    if not entry.ok:
        return None
    return Rule(
        id=entry.id,
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


def _applies(entry: Entry) -> dict[str, SpecifierSet]:
    applies: dict[str, SpecifierSet] = {}
    for package, spec in dict(entry.raw.get("applies", {})).items():
        try:
            applies[canonical(package)] = parse_specifier(str(spec))
        except InvalidSpecifier:
            entry.bad("applies", f"malformed specifier {spec!r} for {package}")
    return applies
