"""``envdoctor pin``: check, plan, write the pin set, and have pip's own resolver confirm it.

Verification: the requirements file is given to ``pip install --dry-run --report`` in the target
(envdoctor.resolve; nothing is installed). The set pip resolves, with its new releases' wheels read from
envdoctor's cache (envdoctor.materialize), is then checked again by every static check. A plan is
"verified" only when pip resolves it and that re-check finds no error; offline, or when pip cannot run,
the plan is marked unverified and says why.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envdoctor import __version__
from envdoctor.api import DEFAULT_TIMEOUT, check_inventory, listed, load_matrix, with_probes
from envdoctor.cache import Cache, default_dir
from envdoctor.facts import Facts
from envdoctor.inventory import Inventory
from envdoctor.matrix import Matrix, MatrixError
from envdoctor.pins import PinSet, pin_set, render
from envdoctor.pipconfig import PipConfig
from envdoctor.planner import Move, Plan, Planner, finding_key
from envdoctor.progress import Progress, Silent
from envdoctor.report import Finding, Report, Severity
from envdoctor.target import Target
from envdoctor.versions import NormalizedName, SpecifierSet

if TYPE_CHECKING:
    from envdoctor.resolve import Resolved


@dataclass(frozen=True)
class Verification:
    verified: bool
    summary: str
    """One line: what pip said, and what envdoctor found in the resolved set."""
    also_moved: tuple[str, ...] = ()
    """Changes pip makes beyond the plan (a dependency it upgrades), ``name old -> new``."""
    changed: tuple[NormalizedName, ...] = ()
    """Every distribution pip would install or replace (the plan's and the others)."""
    problems: tuple[Finding, ...] = ()
    pip_version: str = ""


@dataclass(frozen=True)
class PinResult:
    inventory: Inventory
    report: Report
    plan: Plan
    pins: PinSet
    verification: Verification

    def text(self, fmt: str = "requirements") -> str:
        return render(self.pins, fmt, self.header())

    def summary(self) -> list[str]:
        """What stderr says after the file is written."""
        if self.plan.healthy:
            head = "no error found: the pins are the current versions, unchanged"
        elif self.plan.moves:
            head = "plan: " + ", ".join(m.describe() for m in self.plan.moves)
        else:
            head = "no plan clears the errors"
        lines = [head, self.pins.scope] if self.pins.scope else [head]
        lines += [f"NOT fixed: [{f.id}] {f.title}" for f in self.plan.remaining]
        lines += [f"note: {n}" for n in self.plan.notes]
        if self.plan.moves or not self.plan.healthy:
            lines.append(self.verdict())
        return lines

    def verdict(self) -> str:
        """The file's one verdict: whether pip's resolver and envdoctor's re-check confirmed it, and whether it
        is a complete fix."""
        v = self.verification
        if not v.verified:
            return f"NOT verified: {v.summary}"
        if self.plan.remaining:
            n = len(self.plan.remaining)
            return f"verified, but NOT a complete fix ({n} error{'s' if n > 1 else ''} NOT fixed, below): {v.summary}"
        if self.plan.healthy:
            return f"verified: the environment has no error, these are its current versions; {v.summary}"
        return f"verified: {v.summary}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (schema envdoctor.pin/1)."""

        def move(m: Move) -> dict[str, Any]:
            return {"name": m.name, "from": m.before, "to": m.after, "requirement": m.line, "reasons": list(m.reasons)}

        return {
            "schema": "envdoctor.pin/1",
            "python": self.inventory.python.executable,
            "python_version": self.inventory.python.version,
            "verified": self.verification.verified,
            "complete": self.plan.complete,
            "verdict": self.verdict(),
            "verification": self.verification.summary,
            "pip_also_moves": list(self.verification.also_moved),
            "moves": [move(m) for m in self.plan.moves],
            "alternatives": [[move(m) for m in alt] for alt in self.plan.alternatives],
            "cleared": [f.to_dict() for f in self.plan.cleared],
            "remaining": [f.to_dict() for f in self.plan.remaining],
            "notes": list(self.plan.notes),
            "options": list(self.pins.options),
            "requirements": [
                {"line": p.text, "comment": p.comment, "moved": p.moved, "name": p.name} for p in self.pins.lines
            ],
        }

    def header(self) -> list[str]:
        lines = [
            f"written by envdoctor {__version__} (`envdoctor pin`) for {self.inventory.python.executable}, "
            f"Python {self.inventory.python.version}",
            self.verdict(),
        ]
        if self.pins.scope:
            lines.append(self.pins.scope)
        for move in self.plan.moves:
            lines.append(f"moves {move.describe()}")
        for alt in self.plan.alternatives:
            lines.append("alternative: " + ", ".join(m.line for m in alt))
        for f in self.plan.remaining:
            lines.append(f"NOT fixed: [{f.id}] {f.title}")
        lines += [f"note: {n}" for n in self.plan.notes]
        lines += [f"pip also moves {m}" for m in self.verification.also_moved]
        return lines


def watched(facts: Facts, matrix: Matrix | MatrixError) -> set[str]:
    """The packages the pin set is built around: those with harvested facts or matrix rules."""
    names: set[str] = set()
    if facts.root is not None and (facts.root / "releases").is_dir():
        names |= {p.stem for p in (facts.root / "releases").glob("*.json")}
    for rule in getattr(matrix, "rules", ()):
        names |= set(rule.applies)
    return names


def pin(
    *,
    python: str | os.PathLike[str] | None = None,
    keep: Collection[str] = (),
    allow: Collection[str] = (),
    changes_only: bool = False,
    everything: bool = False,
    verify: bool = True,
    constraints: Sequence[str | os.PathLike[str]] = (),
    timeout: float = DEFAULT_TIMEOUT,
    resolve_timeout: float = 300.0,
    probes: bool = False,
    imports: Sequence[str] = (),
    progress: Progress | None = None,
) -> PinResult:
    """Check ``python``'s environment, plan the smallest fix, and return the pin set (verified by pip's
        resolver unless ``verify`` is False). ``constraints``: constraints / requirements files whose ranges
        a moved package must stay in (read as pip reads them; given to pip's resolver too). ``probes`` (or any
    ``imports``): run the import probes too, as ``check --probes`` does, and plan for the failures nothing
    static explains by their diagnosed fix (``tensorboard>=1.15``); ``timeout`` is then each probe's limit.
    Writes nothing."""
    from envdoctor.errors import check_timeout

    check_timeout(timeout)
    check_timeout(resolve_timeout, "resolve_timeout")
    keep, allow, constraints = listed(keep), listed(allow), listed(constraints)
    ranges, sources = _constraint_ranges(constraints)
    target = Target.resolve(python)
    inv = Inventory.from_payload(target.probe("inventory", {}, timeout=timeout))
    cache = Cache(default_dir())
    releases = None
    if verify:  # online: an error's fix the facts do not cover is read from the importer's release wheels
        from envdoctor.importers import ReleaseReader

        releases = ReleaseReader(target.python, default_dir(), inv)
    report = check_inventory(inv, cache=cache, releases=releases)
    if probes or imports:
        report = with_probes(
            report, python=target.python, inv=inv, imports=imports, timeout=timeout, progress=progress or Silent()
        )
    facts = Facts.shipped()
    matrix = load_matrix()
    planner = Planner(inv, report.findings, facts=facts, matrix=matrix, cache=cache)
    plan = planner.plan(keep=keep, allow=allow, constraints=ranges, sources=sources)
    pip = PipConfig.load(inv.python.prefix)
    names = watched(facts, matrix)
    pins = pin_set(inv, plan, names, pip=pip, changes_only=changes_only, everything=everything)
    if not verify:
        verification = Verification(False, "verification skipped (--no-verify)")
    else:
        extra = [a for path in constraints for a in ("-c", os.fspath(path))]
        verification, plan = _verify(target.python, inv, plan, pins, extra=extra, timeout=resolve_timeout)
        pins = pin_set(inv, plan, names, pip=pip, changes_only=changes_only, everything=everything)
    return PinResult(inv, report, plan, pins, verification)


def _constraint_ranges(files: Sequence[str | os.PathLike[str]]) -> tuple[dict[str, SpecifierSet], dict[str, str]]:
    """Each constrained name's range, and where it comes from (``c.txt:1: idna<2.5``)."""
    from envdoctor.reqfile import read_requirements

    ranges: dict[str, SpecifierSet] = {}
    sources: dict[str, list[str]] = {}
    for path in files:
        for line in read_requirements(path).lines:
            if line.requirement is not None and line.name is not None:
                ranges[line.name] = ranges.get(line.name, SpecifierSet()) & line.requirement.specifier
                sources.setdefault(line.name, []).append(f"{line.file}:{line.lineno}: {line.text.strip()}")
    return ranges, {name: " and ".join(where) for name, where in sources.items()}


def _verify(
    python: str,
    inv: Inventory,
    plan: Plan,
    pins: PinSet,
    *,
    extra: Sequence[str],
    timeout: float,
) -> tuple[Verification, Plan]:
    """Ask pip to resolve the pin set; re-check the resolved set. Returns the verification and the plan
    with exact releases filled in where pip picked them."""
    from envdoctor.materialize import materialize
    from envdoctor.resolve import ResolveError, dry_run, future_inventory

    with tempfile.TemporaryDirectory(prefix="envdoctor-pin-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(render(pins, "requirements"), encoding="utf-8")
        try:
            resolution = dry_run(python, ["-r", str(req), *extra], timeout=timeout, known=inv)
        except ResolveError as exc:
            why = "the package index cannot be reached" if exc.offline else "pip does not accept the set"
            detail = "; ".join(exc.details[:3])
            return Verification(False, f"{why}: {exc.message}" + (f" ({detail})" if detail else "")), plan
    future = future_inventory(inv, resolution)
    by_name = {r.name: r for r in resolution.installs}
    plan = dataclasses.replace(plan, moves=tuple(_exact(m, by_name.get(m.name)) for m in plan.moves))
    planned = {m.name for m in plan.moves}
    also = tuple(
        f"{r.display_name} {_installed(inv, r.name) or 'not installed'} -> {r.version}"
        for r in resolution.installs
        if r.name not in planned
    )
    future, unread = materialize(python, future, default_dir(), known=inv)
    left = {finding_key(f) for f in plan.remaining}
    found = check_inventory(future, cache=Cache(default_dir())).at_least(Severity.ERROR)
    problems = [f for f in found if finding_key(f) not in left]
    # An error the planner could not act on may still be gone in the resolved set (a module-missing
    # whose fix is prose, cleared by a move made for another finding): the real check decides.
    still = {finding_key(f) for f in found}
    gone = tuple(f for f in plan.remaining if finding_key(f) not in still)
    if gone:
        plan = dataclasses.replace(
            plan, remaining=tuple(f for f in plan.remaining if f not in gone), cleared=plan.cleared + gone
        )
    changed = tuple(r.name for r in resolution.installs)
    pip_said = f"pip {resolution.pip_version} resolves it ({len(resolution.installs)} to install)"
    if problems:
        listed = "; ".join(f"[{f.id}] {f.title}" for f in problems[:3])
        return Verification(
            False,
            f"{pip_said}, but envdoctor finds errors in that set: {listed}",
            also,
            changed,
            tuple(problems),
            resolution.pip_version,
        ), plan
    kept = sum(1 for f in found if finding_key(f) in left)
    summary = f"{pip_said}; envdoctor's checks of the resolved set find " + (
        f"no error but the {kept} listed as NOT fixed" if kept else "no error"
    )
    if unread:
        summary += f" ({len(unread)} checked from metadata only: {'; '.join(unread)})"
    return Verification(True, summary, also, changed, (), resolution.pip_version), plan


def _exact(move: Move, got: Resolved | None) -> Move:
    """A range-only move with the release pip picked for it."""
    return dataclasses.replace(move, after=got.version) if move.after is None and got is not None else move


def _installed(inv: Inventory, name: str) -> str | None:
    dist = inv.get(name)
    return dist.raw_version if dist is not None else None
