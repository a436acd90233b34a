"""The one model every check feeds and every renderer reads: Severity, Finding, Skipped, Report."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "envdoctor.report/2"


class Severity(enum.IntEnum):
    """How bad a finding is. Ordered, so ``severity >= Severity.WARNING`` reads naturally."""

    INFO = 10
    WARNING = 20
    ERROR = 30

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Severity from its lower-case name; raises ValueError for anything else."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(str(s) for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None


@dataclass(frozen=True)
class Finding:
    """One thing wrong (or worth knowing) about the environment.

    ``id`` is the stable kebab-case rule id; ``packages`` are canonical project names.
    ``evidence`` lists facts a person can check (paths, METADATA lines); ``fix`` lists
    requirement specifiers only (each one parses as a PEP 508 requirement), best first; ``advice``
    lists what else can fix it that is not a specifier: a command, or prose ("or a release of requests
    that accepts idna==2.4").
    """

    id: str
    severity: Severity
    title: str
    detail: str = ""
    packages: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    fix: tuple[str, ...] = ()
    check: str = ""
    advice: tuple[str, ...] = ()
    suppressed: str | None = None
    """The reason it is accepted (an ``ignore`` in the configuration, or ``--ignore``): a suppressed finding
    stays in the report, shown as suppressed, and never counts toward the exit code or the verdict."""
    ranks: tuple[int, ...] = ()
    """``check --distributed``: the ranks this finding holds on (empty in a single-process check)."""

    def sort_key(self) -> tuple[int, str, tuple[str, ...], str]:
        return (-int(self.severity), self.id, self.packages, self.title)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (schema envdoctor.report/2)."""
        return {
            "id": self.id,
            "severity": str(self.severity),
            "check": self.check,
            "packages": list(self.packages),
            "title": self.title,
            "detail": self.detail,
            "evidence": list(self.evidence),
            "fix": list(self.fix),
            "advice": list(self.advice),
            "suppressed": self.suppressed,
            **({"ranks": list(self.ranks)} if self.ranks else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Inverse of ``to_dict``; raises KeyError or ValueError on anything else."""
        return cls(
            id=str(data["id"]),
            severity=Severity.parse(str(data["severity"])),
            title=str(data["title"]),
            detail=str(data.get("detail", "")),
            packages=tuple(data.get("packages", ())),
            evidence=tuple(data.get("evidence", ())),
            fix=tuple(data.get("fix", ())),
            check=str(data.get("check", "")),
            advice=tuple(data.get("advice", ())),
            suppressed=None if data.get("suppressed") is None else str(data["suppressed"]),
            ranks=tuple(int(r) for r in data.get("ranks", ())),
        )


@dataclass(frozen=True)
class Skipped:
    """A check that could not run: never shown as clean, never a crash."""

    check: str
    reason: str


@dataclass(frozen=True)
class Summary:
    """What was looked at, for the report's header."""

    python: str = ""
    python_version: str = ""
    distributions: int = 0
    paths: tuple[str, ...] = ()
    torch_builds: tuple[tuple[str, str], ...] = ()
    """The installed torch family, ``(canonical name, version)``: a fix must keep their builds."""


@dataclass(frozen=True)
class Report:
    """Findings, sorted most severe first, plus what was checked and what could not be."""

    findings: tuple[Finding, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    summary: Summary = field(default_factory=Summary)
    checks: tuple[str, ...] = ()
    train: Mapping[str, Any] | None = None
    """``check --train``: the device facts and a verdict per precision (envdoctor.runtime.step.TrainStep.to_dict)."""
    probes: tuple[Mapping[str, Any], ...] = ()
    """With ``check --probes``: each import probe's outcome (envdoctor.runtime.imports.ImportResult.to_dict)."""
    distributed: Mapping[str, Any] | None = None
    """``check --distributed``: the ranks, their nodes and the collectives (envdoctor.runtime.distributed)."""

    def __iter__(self) -> Iterator[Finding]:
        """The findings, most severe first (suppressed ones included: ``f.suppressed`` says so)."""
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def __bool__(self) -> bool:
        """``ok``: true when no finding that is not suppressed is an error (what exit code 0 means at the
        default ``--fail-on error``). An empty report is true; a report with only warnings is true."""
        return self.ok

    @property
    def ok(self) -> bool:
        """No error among the findings that are not suppressed."""
        return not self.at_least(Severity.ERROR)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, schema envdoctor.report/2 (README "JSON output"): what ``check --format json`` writes."""
        from envdoctor.render.json import to_dict

        return to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """Inverse of ``to_dict`` (``Report.from_dict(d).to_dict() == d`` for any ``d`` that ``to_dict`` wrote);
        raises KeyError, TypeError or ValueError on anything else, and ValueError on another schema."""
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not an {SCHEMA} report (schema: {data.get('schema')!r})")
        py = data["python"]
        report = cls.build(
            [Finding.from_dict(f) for f in data["findings"]],
            skipped=[Skipped(str(s["check"]), str(s["reason"])) for s in data["skipped"]],
            summary=Summary(
                python=str(py["executable"]),
                python_version=str(py["version"]),
                distributions=int(data["summary"]["distributions"]),
            ),
            checks=[str(c) for c in data["checks"]],
            train=dict(data["train"]) if data.get("train") is not None else None,
        )
        if "probes" in data:
            from dataclasses import replace

            report = replace(report, probes=tuple(dict(p) for p in data["probes"]))
        return report

    def _repr_html_(self) -> str:
        """A notebook cell's view: verdict, findings by severity, the fix as a requirements block."""
        from envdoctor.render.html import report_html

        return report_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """IPython's text view: the verdict, one line per finding, the first fix step (not the dataclass)."""
        from envdoctor.render.html import report_short

        p.text(report_short(self))

    def __str__(self) -> str:
        """The plain-text report (``envdoctor check --format text``)."""
        from envdoctor.render import Format, RenderOptions, render

        return render(self, Format.TEXT, RenderOptions(color=False))

    @classmethod
    def build(
        cls,
        findings: Iterable[Finding],
        *,
        skipped: Iterable[Skipped] = (),
        summary: Summary | None = None,
        checks: Iterable[str] = (),
        train: Mapping[str, Any] | None = None,
    ) -> Report:
        return cls(
            findings=tuple(sorted(findings, key=Finding.sort_key)),
            skipped=tuple(skipped),
            summary=summary if summary is not None else Summary(),
            checks=tuple(checks),
            train=train,
        )

    def probe_summary(self) -> str:
        """One line about the import probes ("" when they did not run)."""
        if "probes" not in self.checks:
            return ""
        ok = [p for p in self.probes if p.get("ending") == "ok"]
        line = f"Import probes: {len(self.probes)} run, {len(ok)} ok, {len(self.probes) - len(ok)} failed"
        if ok:
            slowest = max(ok, key=lambda p: float(p.get("seconds") or 0.0))
            line += f" (slowest: `{slowest.get('statement')}` {float(slowest.get('seconds') or 0.0):.1f} s)"
        return line

    @property
    def active(self) -> tuple[Finding, ...]:
        """The findings that are not suppressed: the ones the verdict and the exit code count."""
        return tuple(f for f in self.findings if f.suppressed is None)

    @property
    def suppressed(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.suppressed is not None)

    def at_least(self, severity: Severity) -> tuple[Finding, ...]:
        return tuple(f for f in self.active if f.severity >= severity)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.active if f.severity == severity)

    @property
    def worst(self) -> Severity | None:
        return max((f.severity for f in self.active), default=None)

    def verdict(self) -> str:
        """One line a person can act on; never says "clean" when a check could not run."""
        errors, warnings, infos = (self.count(s) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO))
        parts = [_plural(errors, "error"), _plural(warnings, "warning")]
        if infos:
            parts.append(_plural(infos, "note"))
        if self.suppressed:
            parts.append(f"{len(self.suppressed)} suppressed")
        tail = f"; {_plural(len(self.skipped), 'check')} could not run" if self.skipped else ""
        if errors:
            head = "BROKEN"
        elif warnings:
            head = "OK with warnings"
        elif self.skipped:
            head = "INCOMPLETE"
        else:
            head = "OK"
        return f"{head}: {', '.join(parts)}{tail} ({_plural(self.summary.distributions, 'distribution')} checked)"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
