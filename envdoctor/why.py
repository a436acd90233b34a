"""``envdoctor why PKG``: why a distribution is installed and what hangs on it, the question people answer
with pipdeptree's reverse tree, plus what envdoctor knows: who requires it (with the declared range and
whether the installed version is in it), what it requires, which findings involve it, which matrix rules
name it and which releases the harvested facts know (matrix/facts/releases).

A package that is neither installed, nor required by anything installed, nor known to the facts is a
UsageError (exit 2) with the closest installed names.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envdoctor.errors import UsageError
from envdoctor.report import Report

if TYPE_CHECKING:
    from packaging.requirements import Requirement

    from envdoctor.inventory import Dist, Inventory

SCHEMA = "envdoctor.why/1"
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class Why:
    package: str
    installed: str | None
    """The installed version (or "(no version)"); None when it is not installed."""
    python: str
    required_by: tuple[Mapping[str, Any], ...] = ()
    requires: tuple[Mapping[str, Any], ...] = ()
    findings: tuple[Mapping[str, Any], ...] = ()
    rules: tuple[Mapping[str, Any], ...] = ()
    releases: tuple[str, ...] = ()
    location: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "package": self.package,
            "installed": self.installed,
            "location": self.location,
            "python": self.python,
            "required_by": [dict(r) for r in self.required_by],
            "requires": [dict(r) for r in self.requires],
            "findings": [dict(f) for f in self.findings],
            "rules": [dict(r) for r in self.rules],
            "releases": list(self.releases),
        }

    def text(self) -> str:
        from envdoctor.render import printable as p

        head = f"{p(self.package)} {p(self.installed)}" if self.installed is not None else f"{p(self.package)}"
        state = f"installed in {p(self.location)}" if self.installed is not None else "NOT installed"
        lines = [f"{head}: {state} (Python at {p(self.python)})", ""]
        always = [r for r in self.required_by if not r["only_with"]]
        lines.append(f"Required by ({len(always)}):" if always else "Required by: nothing installed (unconditionally)")
        for r in always:
            lines.append(f"  {p(r['by'])} {p(r['by_version'] or '')}: {p(r['requirement'])}  [{_verdict(r)}]")
        for (by, version, requirement), extras in _by_extra(self.required_by, "by", "by_version").items():
            lines.append(f"  {p(by)} {p(version or '')}: {p(requirement)}  [only with {_extras(extras)}]")
        always = [r for r in self.requires if not r["only_with"]]
        lines.append(f"Requires ({len(always)}):" if always else "Requires: nothing (unconditionally)")
        for r in always:
            lines.append(f"  {p(r['requirement'])}: {_installed(r)}  [{_verdict(r)}]")
        optional = _by_extra(self.requires)
        if optional:
            extras = sorted({e for group in optional.values() for e in group})
            lines.append(f"  and {len(optional)} more only with an extra ({_extras(extras)}); --format json lists them")
        lines.append(f"Findings ({len(self.findings)}):" if self.findings else "Findings: none involve it")
        for f in self.findings:
            suppressed = f" (suppressed: {p(f['suppressed'])})" if f.get("suppressed") else ""
            lines.append(f"  {str(f['severity']).upper()} [{p(f['id'])}] {p(f['title'])}{suppressed}")
        if self.rules:
            lines.append(f"Matrix rules that name it ({len(self.rules)}):")
            lines += [f"  {p(r['id'])} ({p(r['severity'])}): {p(r['applies'])}: {p(r['title'])}" for r in self.rules]
        if self.releases:
            shown = ", ".join(self.releases[-8:])
            more = (
                f" ... ({len(self.releases)} in all, {self.releases[0]} to {self.releases[-1]})"
                if len(self.releases) > 8
                else ""
            )
            lines.append(f"Releases the facts know: {p(shown)}{more}")
        else:
            lines.append("Releases the facts know: none (matrix/facts has no harvest of it)")
        return "\n".join(lines) + "\n"


def _verdict(row: Mapping[str, Any]) -> str:
    return {True: "ok", False: "NOT satisfied", None: "not installed"}[row["satisfied"]]


def _by_extra(rows: Sequence[Mapping[str, Any]], *keys: str) -> dict[tuple[str, ...], list[str]]:
    """The rows that hold only with an extra, grouped by ``keys`` and the requirement: their extras."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for r in rows:
        if r["only_with"]:
            groups.setdefault((*(str(r[k]) for k in keys), r["requirement"]), []).append(r["only_with"])
    return groups


def _extras(extras: Sequence[str]) -> str:
    if len(extras) == 1:
        return f"the extra [{extras[0]}]"
    shown = ", ".join(f"[{e}]" for e in extras[:6])
    return f"one of the extras {shown}" + (f" and {len(extras) - 6} more" if len(extras) > 6 else "")


def _installed(row: Mapping[str, Any]) -> str:
    return "not installed" if row["installed"] is None else f"{row['installed']} installed"


def explain(
    package: str,
    *,
    python: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    report: Report | None = None,
) -> Why:
    """The answer for ``package`` in the environment of ``python``; ``report`` is the check's (run when None)."""
    from envdoctor import api
    from envdoctor.knowledge.wheelfacts import Facts
    from envdoctor.target import Target
    from envdoctor.versions import canonical

    name = canonical(package)
    if not package.strip() or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", package.strip()):
        raise UsageError(f"why {package!r}: not a package name")
    target = Target.resolve(python)
    inv = target.inventory(timeout=timeout)
    dist = inv.get(name)
    required_by = tuple(_required_by(inv, name))
    releases = tuple(Facts.shipped().versions(name))
    if dist is None and not required_by and not releases:
        close = difflib.get_close_matches(name, sorted(inv.winners), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(
            f"why {package}: no distribution {name!r} is installed in {target.python}, none installed requires "
            f"it, and envdoctor's facts do not know it{hint}"
        )
    if report is None:
        report = api.check(python=target.python, timeout=timeout)
    findings = tuple(f.to_dict() for f in report.findings if name in f.packages)
    return Why(
        package=dist.display_name if dist is not None else name,
        installed=(dist.raw_version or "(no version)") if dist is not None else None,
        python=inv.python.executable,
        location=dist.location if dist is not None else "",
        required_by=required_by,
        requires=tuple(_requires(inv, dist)) if dist is not None else (),
        findings=findings,
        rules=tuple(_rules(name)),
        releases=releases,
    )


def _row(inv: Inventory, req: Requirement, extra: str | None) -> dict[str, Any]:
    dep = inv.get(req.name)
    version = dep.version if dep is not None else None
    satisfied = None if dep is None else (version is not None and req.specifier.contains(version, prereleases=True))
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return {
        "requirement": f"{req.name}{extras}{req.specifier}",
        "name": req.name,
        "specifier": str(req.specifier) or "any version",
        "marker": str(req.marker) if req.marker is not None else "",
        "installed": None if dep is None else (dep.raw_version or "(no version)"),
        "satisfied": satisfied,
        "only_with": extra or "",
    }


def _applies(inv: Inventory, req: Requirement) -> tuple[bool, str | None]:
    """Whether ``req`` holds in the target, and the extra it needs (None: needs none)."""
    if inv.marker_env.holds(req.marker):
        return True, None
    extra = _EXTRA.search(str(req.marker or ""))
    if extra and inv.marker_env.holds(req.marker, extra.group(1)):
        return True, extra.group(1)
    return False, None


def _required_by(inv: Inventory, name: str) -> list[dict[str, Any]]:
    from envdoctor.versions import canonical

    rows = []
    for dist in inv.winners.values():
        for req in dist.requires:
            if canonical(req.name) != name:
                continue
            holds, extra = _applies(inv, req)
            if holds:
                rows.append({"by": dist.display_name, "by_version": dist.raw_version, **_row(inv, req, extra)})
    return sorted(rows, key=lambda r: (bool(r["only_with"]), str(r["by"]).lower()))


def _requires(inv: Inventory, dist: Dist) -> list[dict[str, Any]]:
    rows = []
    for req in dist.requires:
        holds, extra = _applies(inv, req)
        if holds:
            rows.append(_row(inv, req, extra))
    return sorted(rows, key=lambda r: (bool(r["only_with"]), str(r["name"]).lower()))


def _rules(name: str) -> list[dict[str, Any]]:
    from envdoctor.diagnose import load_matrix
    from envdoctor.knowledge.matrix import MatrixError

    matrix = load_matrix()
    if isinstance(matrix, MatrixError):
        return []
    return [
        {
            "id": r.id,
            "severity": str(r.severity),
            "applies": ", ".join(f"{p}{s}" for p, s in r.applies.items()),
            "title": r.title,
        }
        for r in matrix.rules
        if name in r.applies
    ]
