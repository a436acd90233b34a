"""Fix planning: which distributions to move, and to which releases, so that every error is gone.

Pure logic over the Inventory, the error findings, the harvested facts (each release's Requires-Dist
and Requires-Python) and the matrix. No process is started and nothing is read from the network; pip's
own resolver confirms a plan afterwards (envdoctor.fix.pin). The search, the release policy ("nearest
series, newest patch") and what never moves unless allowed (NEVER_MOVED, ``keep``) are described once,
in README.md, "Fixing it: envdoctor pin".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from envdoctor.cache import Cache
from envdoctor.checks.metadata import check_metadata
from envdoctor.checks.rules import check_rules
from envdoctor.checks.signals.base import Files
from envdoctor.checks.symbols.calls import IDS as CALL_IDS
from envdoctor.checks.symbols.calls import Calls, collect, judged
from envdoctor.inventory import Dist, Inventory, planned_dist
from envdoctor.knowledge.matrix import Matrix, MatrixError
from envdoctor.knowledge.torchbuild import NEVER_MOVED
from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.report import Finding, Severity
from envdoctor.versions import (
    InvalidRequirement,
    InvalidSpecifier,
    NormalizedName,
    Requirement,
    SpecifierSet,
    Version,
    canonical,
    in_range,
    parse_requirement,
    tightest,
    version_or_none,
)

MAX_MOVES = 3
"""The largest plan searched for; a bigger change is a rebuild, not a fix."""

CANDIDATES_PER_ALTERNATIVE = 2
"""How many clean releases of one alternative are carried into the next round of the search."""

_SYMBOL_IDS = frozenset({"symbol-missing", "module-missing", "module-undeclared", "import-failed", "stack-step-fails"})
"""Errors no re-check of metadata and rules can judge (an import read from the files, run for real by
``--probes``, or a stack step that failed in ``pin --verify``'s copy): each is cleared by a move into one of
its fixes' ranges."""


@dataclass(frozen=True)
class Move:
    """One distribution that changes. ``after`` is the exact release when envdoctor chose one, None when
    the facts have no releases of this package: ``spec`` is then the range pip must pick from."""

    name: NormalizedName
    display_name: str
    before: str | None
    after: str | None
    spec: str
    reasons: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """The requirement line for this move: ``name==after``, or the range."""
        return f"{self.display_name}=={self.after}" if self.after is not None else self.spec

    def describe(self) -> str:
        before = self.before or "(not installed)"
        after = self.after if self.after is not None else f"a release in {self.spec} (pip picks)"
        return f"{self.display_name} {before} -> {after}"


@dataclass(frozen=True)
class Plan:
    """The chosen moves, the equally small alternatives, and what no plan could clear."""

    moves: tuple[Move, ...] = ()
    alternatives: tuple[tuple[Move, ...], ...] = ()
    cleared: tuple[Finding, ...] = ()
    remaining: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        """Nothing to do: no error finding at all."""
        return not self.moves and not self.cleared and not self.remaining

    @property
    def complete(self) -> bool:
        """Every error is cleared by the plan."""
        return not self.remaining


@dataclass(frozen=True)
class _Alternative:
    package: NormalizedName
    spec: SpecifierSet


@dataclass(frozen=True)
class _State:
    moves: tuple[Move, ...]

    def get(self, name: str) -> Move | None:
        return next((m for m in self.moves if m.name == name), None)

    def key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((m.name, m.after or m.spec) for m in self.moves))

    def plus(self, move: Move) -> _State:
        return _State(tuple(sorted((*self.moves, move), key=lambda m: m.name)))


class Planner:
    """Plans for one Inventory; reuse it to plan with different keep/allow sets."""

    def __init__(
        self,
        inv: Inventory,
        findings: Iterable[Finding],
        *,
        facts: Facts,
        matrix: Matrix | MatrixError,
        cache: Cache | None = None,
    ):
        self.inv = inv
        self.facts = facts
        self.matrix = matrix
        self.findings = tuple(findings)
        self.cache = cache
        self.files = Files(cache or Cache(None))  # the check's cache: the signals' reads are already in it
        self._evaluated: dict[tuple[tuple[str, str], ...], list[Finding]] = {}
        self._python = version_or_none(inv.python.version)
        self._constraints: dict[str, SpecifierSet] = {}
        self._sources: dict[str, str] = {}
        self._kept: frozenset[NormalizedName] = frozenset()
        self._symbol_errors = [f for f in self.findings if f.id in _SYMBOL_IDS and f.severity >= Severity.ERROR]
        self._cache = cache
        self._calls: Calls | None = None

    # -- the search ---------------------------------------------------------------------------

    def plan(
        self,
        *,
        keep: Collection[str] = (),
        allow: Collection[str] = (),
        constraints: Mapping[str, SpecifierSet] | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> Plan:
        """``keep``: never move these; ``allow``: may move these despite NEVER_MOVED; ``constraints``: a
        moved package's release must be in its range (the user's constraints file); ``sources``: where each
        constraint comes from (``c.txt:1: idna<2.5``), named when it contradicts a fix. An error whose every
        fix ``keep`` or a constraint blocks stays (``remaining``, with a note saying why); every other error
        is still planned for."""
        self._constraints = {canonical(k): v for k, v in (constraints or {}).items()}
        self._sources = {canonical(k): v for k, v in (sources or {}).items()}
        self._evaluated.clear()
        keep_names = frozenset(canonical(k) for k in keep)
        self._kept = keep_names
        frozen = keep_names | (NEVER_MOVED - {canonical(a) for a in allow})
        errors = [f for f in self.findings if f.severity >= Severity.ERROR]
        if not errors:
            return Plan()
        found = self._search(frozen)
        notes: list[str] = []
        if not found[0] and frozen - keep_names:
            widened = self._search(keep_names)
            if widened[0]:
                found = widened
                names = ", ".join(sorted(frozen - keep_names))
                notes.append(f"no plan exists without moving {names}; this one moves it (--allow-move to accept)")
        solutions, unplannable = found
        if not solutions:
            return Plan(remaining=tuple(errors), notes=tuple(notes) + self._why_unplanned(errors, frozen))
        best, *others = solutions
        shapes = {frozenset(m.name for m in best.moves)}
        alternatives = []
        for other in others:
            shape = frozenset(m.name for m in other.moves)
            if shape not in shapes:  # one alternative per set of moved packages, its best release
                shapes.add(shape)
                alternatives.append(other.moves)
        before = {finding_key(f) for f in errors}
        after = {finding_key(f) for f in self._evaluate(best)}
        cleared = tuple(f for f in errors if finding_key(f) not in after)
        remaining = tuple(f for f in self._evaluate(best) if finding_key(f) in before or finding_key(f) in unplannable)
        return Plan(
            moves=tuple(_with_reasons(m, cleared) for m in best.moves),
            alternatives=tuple(alternatives),
            cleared=cleared,
            remaining=remaining,
            notes=tuple(notes) + self._why_unplanned(remaining, frozen),
        )

    def _search(self, frozen: frozenset[NormalizedName]) -> tuple[list[_State], set[tuple[str, ...]]]:
        """The smallest clean states, best first; and the keys of errors that have no alternative at all."""
        unplannable: set[tuple[str, ...]] = set()
        frontier = [_State(())]
        seen: set[tuple[tuple[str, str], ...]] = set()
        for _size in range(MAX_MOVES + 1):
            solutions: list[_State] = []
            pending: list[tuple[_State, Finding, list[_Alternative]]] = []
            for state in frontier:
                problems = [f for f in self._evaluate(state) if finding_key(f) not in unplannable]
                for f in problems:
                    if not self._alternatives(f, state, self._kept):  # kept, or every fix contradicts a constraint
                        unplannable.add(finding_key(f))
                actionable = [(f, alts) for f in problems if (alts := self._alternatives(f, state, frozen))]
                if actionable:
                    pending.append((state, *actionable[0]))
                elif state.moves and all(finding_key(f) in unplannable for f in problems):
                    solutions.append(state)
            if solutions:  # the smallest size wins: no larger plan is even tried
                return sorted(solutions, key=self._cost), unplannable
            grown: list[_State] = []
            for state, finding, alts in pending:
                for alt in alts:
                    for move in self._candidates(alt, state, finding):
                        nxt = state.plus(move)
                        if nxt.key() not in seen:
                            seen.add(nxt.key())
                            grown.append(nxt)
            frontier = grown
            if not frontier:
                break
        return [], unplannable

    def _cost(self, state: _State) -> tuple[int, int]:
        """Fewest moves, then the shortest distance in release series; ties keep the candidates' order."""
        return (len(state.moves), sum(self._distance(m) for m in state.moves))

    def _distance(self, move: Move) -> int:
        """How many release series apart the move goes (0: a patch release of the same series)."""
        series = _series_list(self.facts.versions(move.name))
        a, b = _series(move.before), _series(move.after)
        if a is None or b is None or a not in series or b not in series:
            return len(series) or 1
        return abs(series.index(a) - series.index(b))

    # -- alternatives and candidates ------------------------------------------------------------

    def _alternatives(self, finding: Finding, state: _State, frozen: frozenset[NormalizedName]) -> list[_Alternative]:
        out = []
        for text in finding.fix:
            try:
                req = parse_requirement(text)
            except InvalidRequirement:
                continue  # a command or prose ("a release of X that accepts ..."), not a specifier
            name = canonical(req.name)
            if name in frozen or state.get(name) is not None or self._contradicted(name, req.specifier):
                continue
            out.append(_Alternative(name, tightest(req.specifier & self._constraints.get(name, SpecifierSet()))))
        for other in self._requirer_alternatives(finding, state, frozen):
            out.append(other)
        return out

    def _contradicted(self, name: str, spec: SpecifierSet) -> bool:
        """Whether no release can be in both ``spec`` and the user's constraint on ``name``."""
        return name in self._constraints and disjoint(spec, self._constraints[name])

    def _requirer_alternatives(
        self, finding: Finding, state: _State, frozen: frozenset[NormalizedName]
    ) -> list[_Alternative]:
        """For a requirement conflict, the other way out: a release of the requirer that accepts what is
        installed (from the facts' Requires-Dist of each release)."""
        if finding.id != "requirement-conflict" or len(finding.packages) != 2:
            return []
        requirer, required = (canonical(p) for p in finding.packages)
        if requirer in frozen or state.get(requirer) is not None:
            return []
        dep = self.inv.get(required)
        if dep is None or dep.version is None:
            return []
        accepting = []
        for version in self.facts.versions(requirer):
            reqs = self._release_requires(requirer, version)
            if reqs is None:
                continue
            if all(in_range(dep.version, r.specifier) for r in reqs if canonical(r.name) == required):
                accepting.append(version)
        if not accepting:
            return []
        spec = SpecifierSet(",".join(f"!={v}" for v in self.facts.versions(requirer) if v not in accepting))
        return [_Alternative(requirer, spec)]

    def _candidates(self, alt: _Alternative, state: _State, finding: Finding) -> list[Move]:
        dist = self.inv.get(alt.package)
        display = dist.display_name if dist is not None else alt.package
        before = dist.raw_version if dist is not None else None
        reason = f"{finding.id}: {finding.title}"
        versions = self.facts.versions(alt.package)
        if not versions:
            return [Move(alt.package, display, before, None, f"{display}{alt.spec}", (reason,))]
        clean: list[Move] = []
        fallback: Move | None = None
        ordered = self._ordered(alt, before)
        # Releases every installed dependent accepts are tried first (a cheap test that spares a full
        # evaluation per rejected series); the others only if none of those is clean.
        accepted = self._accepted_by_dependents(alt.package, state)
        ordered = [v for v in ordered if accepted(v)] + [v for v in ordered if not accepted(v)]
        target = finding_key(finding)
        before_keys = {finding_key(f) for f in self._evaluate(state)} - {target}
        for version in ordered:
            move = Move(alt.package, display, before, version, f"{display}=={version}", (reason,))
            trial = state.plus(move)
            new = [
                f
                for f in self._evaluate(trial)
                if finding_key(f) == finding_key(finding)
                or (alt.package in f.packages and (finding_key(f) not in before_keys or f.id in CALL_IDS))
            ]  # clean: it clears the finding, opens nothing new around the moved package, and every call into it works
            if not new:
                clean.append(move)
                if len(clean) >= CANDIDATES_PER_ALTERNATIVE:
                    break
            elif fallback is None:
                fallback = move
        return clean or ([fallback] if fallback is not None else [])

    def _accepted_by_dependents(self, package: str, state: _State) -> Callable[[str], bool]:
        """Whether ``package`` at a version fits by declared requirements alone: every distribution staying
        where it is accepts it, and it accepts what is installed (markers of the target, no extras)."""
        env = self.inv.marker_env
        specs = [
            r.specifier
            for d in self.inv.winners.values()
            if state.get(d.name) is None and d.name != package
            for r in d.requires
            if r.specifier and canonical(r.name) == package and env.holds(r.marker)
        ]

        def accepted(version: str) -> bool:
            v = version_or_none(version)
            if v is None or not all(in_range(v, spec) for spec in specs):
                return False
            for req in self._release_requires(package, version) or ():  # and it accepts what is there
                if req.marker is not None and not env.holds(req.marker):
                    continue
                moved = state.get(canonical(req.name))
                dep = self.inv.get(req.name)
                have = version_or_none(moved.after) if moved is not None else (dep.version if dep else None)
                if req.specifier and (have is None or not in_range(have, req.specifier)):
                    return False
            return True

        return accepted

    def _ordered(self, alt: _Alternative, before: str | None) -> list[str]:
        """Releases in the range the target's Python can install, nearest series first, newest patch first."""
        installed = version_or_none(before) if before else None
        ok = []
        for version in self.facts.versions(alt.package):
            v = version_or_none(version)
            if v is None or (installed is not None and v == installed) or not in_range(v, alt.spec):
                continue
            if alt.package in self._constraints and not in_range(v, self._constraints[alt.package]):
                continue
            if v.is_prerelease and not (installed is not None and installed.is_prerelease):
                continue
            release = self.facts.release(alt.package, version) or {}
            rp = release.get("requires_python")
            if rp and self._python is not None and not _admits(rp, self._python):
                continue
            ok.append(version)
        ok.sort(key=lambda text: version_or_none(text) or Version("0"))
        position = {text: i for i, text in enumerate(ok)}
        series = _series_list([*ok, *([before] if before else [])])
        here = _series(before)

        def rank(version: str) -> tuple[int, int]:
            s = _series(version)
            index = series.index(s) if s in series else 0
            distance = abs(index - series.index(here)) if here in series else len(series) - index
            return (distance, -position[version])  # nearest series, then newest within it

        return sorted(ok, key=rank)

    # -- the future environment -----------------------------------------------------------------

    def _evaluate(self, state: _State) -> list[Finding]:
        """The error findings of the environment as it would be after ``state``'s moves."""
        key = state.key()
        if key not in self._evaluated:
            self._evaluated[key] = self.errors_after(state.moves)
        return self._evaluated[key]

    def errors_after(self, moves: Sequence[Move], future: Inventory | None = None) -> list[Finding]:
        """The error findings after ``moves``, judged on ``future`` (default: built from the facts; pip's
        resolved set when verifying): metadata, matrix rules, and the import findings no move clears."""
        future = future if future is not None else self.future(moves)
        state = _State(tuple(moves))
        found = [f for f in check_metadata(future) if f.severity >= Severity.ERROR]
        found += [f for f in check_rules(future, self.matrix, self.files) if f.severity >= Severity.ERROR]
        found += [f for f in self._symbol_errors if not _cleared(f, state)]
        found += [f for f in judged(self.calls(), future, self.facts) if f.severity >= Severity.ERROR]
        return found

    def calls(self) -> Calls:
        """The calls the installed files make into harvested callables (envdoctor.checks.symbols.calls), read
        once: each candidate release is judged by them too."""
        if self._calls is None:
            from envdoctor.source.index import SourceIndex

            index = SourceIndex(self.inv, self._cache or Cache(None), self.facts)
            self._calls = collect(index, self.facts)
            index.save()
        return self._calls

    def future(self, moves: Sequence[Move]) -> Inventory:
        """The Inventory as it would be after ``moves``: each moved distribution is replaced by a planned one
        whose metadata comes from the facts (no files on disk)."""
        moved = {m.name: m for m in moves}
        dists: list[Dist] = []
        placed: set[str] = set()
        for dist in self.inv.dists:
            move = moved.get(dist.name)
            if move is None:
                dists.append(dist)
            elif dist.name not in placed:
                dists.append(self._planned(move, dist))
                placed.add(dist.name)
        for name, move in moved.items():
            if name not in placed and self.inv.get(name) is None:
                dists.append(self._planned(move, None))
        return dataclasses.replace(self.inv, dists=tuple(dists))

    def _planned(self, move: Move, installed: Dist | None) -> Dist:
        release = (self.facts.release(move.name, move.after) if move.after is not None else None) or {}
        dist = planned_dist(
            move.display_name,
            move.after or "",
            release.get("requires_dist", ()),
            release.get("requires_python") or None,
        )
        return dist if move.after is not None else dataclasses.replace(dist, raw_version=None)

    def _release_requires(self, package: str, version: str) -> list[Requirement] | None:
        release = self.facts.release(package, version)
        if release is None:
            return None
        out = []
        for line in release.get("requires_dist", ()):
            try:
                out.append(parse_requirement(line))
            except InvalidRequirement:
                continue
        return out

    def _why_unplanned(self, errors: Sequence[Finding], frozen: frozenset[NormalizedName]) -> tuple[str, ...]:
        notes = []
        for f in errors:
            where = f"{f.id} ({', '.join(f.packages)})"
            contradicted = [
                f"its fix {text} ({f.title}) contradicts {self._sources.get(name, f'your constraint {name}{spec}')}"
                for text in f.fix
                if (req := _requirement(text)) is not None
                and (name := canonical(req.name)) in self._constraints
                and (spec := self._constraints[name]) is not None
                and disjoint(req.specifier, spec)
            ]
            if contradicted:
                notes.append(f"{where}: " + "; ".join(contradicted))
            elif not self._alternatives(f, _State(()), frozenset()):
                notes.append(f"{where}: envdoctor has no requirement-level fix for it")
            elif not self._alternatives(f, _State(()), frozen):
                kept = sorted(self._kept & {canonical(p) for p in f.packages}) or sorted(self._kept)
                notes.append(f"{where}: every fix moves a package you asked to keep ({', '.join(kept)})")
        return tuple(notes)


def _requirement(text: str) -> Requirement | None:
    try:
        return parse_requirement(text)
    except InvalidRequirement:
        return None


def disjoint(a: SpecifierSet, b: SpecifierSet) -> bool:
    """Whether no final release can be in both ranges (``idna>=2.5`` and ``idna<2.5``). Tried on the versions
    the ranges name and their neighbours (one step above and below, one level deeper), which is where two
    ranges meet; so a range pair that admits a release admits one of these."""
    both = a & b
    points = [Version("0"), Version("99999")]
    for spec in both:
        text = spec.version.removesuffix(".*")
        v = version_or_none(text)
        if v is None:
            return False  # cannot tell: not a contradiction envdoctor can prove
        r = list(v.release) + [0] * max(0, 3 - len(v.release))
        points += [v, Version(".".join(map(str, [*r[:-1], r[-1] + 1]))), Version(".".join(map(str, [*r, 1])))]
        for i in reversed(range(len(r))):
            if r[i] > 0:
                points.append(Version(".".join(map(str, [*r[:i], r[i] - 1, 99999]))))
                break
    return not any(both.contains(p, prereleases=False) for p in points)


def _cleared(finding: Finding, state: _State) -> bool:
    """A symbol finding's fixes are computed from facts (the ranges of each side that do not break), so a
    move into one of them clears it."""
    for text in finding.fix:
        try:
            req = parse_requirement(text)
        except InvalidRequirement:
            continue
        move = state.get(canonical(req.name))
        if move is None:
            continue
        v = version_or_none(move.after) if move.after is not None else None
        if v is not None and in_range(v, req.specifier):
            return True
        if move.after is None and str(req.specifier) in move.spec:
            return True
    return False


def _with_reasons(move: Move, cleared: Sequence[Finding]) -> Move:
    """Every cleared finding that names the moved package is a reason for the move, not only the first."""
    more = tuple(f"{f.id}: {f.title}" for f in cleared if move.name in f.packages)
    reasons = tuple(dict.fromkeys((*move.reasons, *more)))
    return dataclasses.replace(move, reasons=reasons)


def finding_key(f: Finding) -> tuple[str, ...]:
    """What makes two findings the same problem: the id and the packages (titles carry versions)."""
    return (f.id, *f.packages)


def _admits(requires_python: str, python: Version) -> bool:
    try:
        return in_range(python, SpecifierSet(requires_python))
    except InvalidSpecifier:
        return True  # pip ignores what it cannot parse here too


def _series(text: str | None) -> tuple[int, int] | None:
    v = version_or_none(text)
    if v is None:
        return None
    rel = (*v.release, 0)
    return (rel[0], rel[1])


def _series_list(versions: Iterable[str]) -> list[tuple[int, int]]:
    return sorted({s for v in versions if (s := _series(v)) is not None})
