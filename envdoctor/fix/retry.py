"""Which plans ``pin --verify`` tries in the throwaway copy, in which order, and how many.

The plan first. When it fails in the copy, its next candidate release: the planner is asked again, led by
the failure's diagnosed fix where there is one (a fix naming a moved package bounds its release,
``accelerate>=1.3.0`` from the keyword the step's callee lacked; one naming another package adds that move,
``accelerate<=0.34.2`` after transformers moved down), else with each moved package kept out of the release
series that failed (``accelerate!=0.32.*``); the plan it finds that moves the same packages is tried next.
Each next release that fails is followed by its own, until the bound; then come the plan's equally small
alternatives, in order, each followed the same way.
Never more than MAX_PLANS_TRIED plans in the copy (a plan pip refuses does not count: it never reaches the
copy). The first plan that passes is the file's plan, with a note for each that failed; when none passes,
the first plan, NOT verified, with every failure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol, TypeVar

from envdoctor.fix.planner import Plan, Planner
from envdoctor.names import canonical
from envdoctor.report import Finding, Severity
from envdoctor.versions import InvalidRequirement, SpecifierSet, parse_requirement, version_or_none


class Verification(Protocol):
    """What ``pin`` made of a plan (envdoctor.fix.pin.Verification)."""

    @property
    def verified(self) -> bool: ...
    @property
    def tried(self) -> bool: ...
    @property
    def summary(self) -> str: ...
    @property
    def fixes(self) -> tuple[str, ...]: ...


MAX_PLANS_TRIED = 4
"""The most plans ``pin --verify`` installs into a copy: the plan, its next release, the alternatives."""

T = TypeVar("T")
V = TypeVar("V", bound=Verification)
Judged = tuple[Plan, T, V]


def candidates(plan: Plan) -> list[Plan]:
    """The plan, then each of its alternatives as a plan of its own (the others its alternatives)."""
    options = [plan.moves, *plan.alternatives]
    return [
        dataclasses.replace(plan, moves=moves, alternatives=tuple(o for o in options if o is not moves))
        for moves in options
    ]


def next_release(
    planner: Planner,
    failed: Plan,
    fixes: Sequence[str],
    tried: Sequence[Plan] = (),
    *,
    keep: Sequence[str],
    allow: Sequence[str],
    constraints: Mapping[str, SpecifierSet],
    sources: Mapping[str, str],
) -> Plan | None:
    """The next plan after ``failed`` failed in the copy (``tried``: the plans that failed before it). Where
    the failures were diagnosed (``fixes``), each fix that names a moved package bounds its release
    (``accelerate>=1.3.0``) and one that names another package is a new error the plan must clear by moving it
    (``accelerate<=0.34.2`` after transformers moved down); without a diagnosis, each moved package leaves
    every release series that failed. Among the plans the planner then finds, the one moving the same
    packages comes first. None when there is no new plan."""
    moved = {m.name for m in failed.moves}
    ranges = {canonical(k): v for k, v in constraints.items()}
    bounded, others = _split(fixes, moved)
    for name, spec in bounded:
        ranges[name] = ranges.get(name, SpecifierSet()) & spec
    if not fixes:  # out of every release series of a moved package that failed in a copy so far
        for move in (m for p in (failed, *tried) for m in p.moves if m.name in moved):
            v = version_or_none(move.after) if move.after is not None else None
            if v is not None:
                out = SpecifierSet(f"!={'.'.join(map(str, (*v.release, 0)[:2]))}.*")
                ranges[move.name] = ranges.get(move.name, SpecifierSet()) & out
    if others:
        planner = Planner(
            planner.inv, (*planner.findings, *others), facts=planner.facts, matrix=planner.matrix, cache=planner.cache
        )
    plan = planner.plan(keep=keep, allow=allow, constraints=ranges, sources=sources)
    options = [o for o in (plan.moves, *plan.alternatives) if o]
    same = [o for o in options if moved <= {m.name for m in o}]
    chosen = (same or options or [()])[0]
    if not chosen or _key(dataclasses.replace(plan, moves=chosen)) == _key(failed):
        return None
    return dataclasses.replace(plan, moves=chosen, alternatives=failed.alternatives, notes=failed.notes)


def _split(fixes: Sequence[str], moved: Collection[str]) -> tuple[list[tuple[str, SpecifierSet]], list[Finding]]:
    """The diagnosed fixes that bound a moved package, and the others as error findings to clear."""
    bounded: list[tuple[str, SpecifierSet]] = []
    others: list[Finding] = []
    for text in fixes:
        try:
            req = parse_requirement(text)
        except InvalidRequirement:
            continue
        name = canonical(req.name)
        if name in moved:
            bounded.append((name, req.specifier))
        else:
            title = f"the plan fails in a throwaway copy; the failure's diagnosed fix is {text}"
            others.append(Finding("stack-step-fails", Severity.ERROR, title, packages=(name,), fix=(text,)))
    return bounded, others


def first_passing(
    plan: Plan,
    judged: Callable[[Plan], Judged[T, V]],
    following: Callable[[Plan, Sequence[str], Sequence[Plan]], Plan | None],
) -> Judged[T, V]:
    """The first plan that passes ``judged`` (pip, the re-check, and with --verify the copy), trying the plan,
    its next release (``following``), then the alternatives (see the module's docstring); when none passes in
    the copy, the first one. Each that failed in the copy is a note of the one returned."""
    queue = candidates(plan)
    failed: list[Judged[T, V]] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    chosen: Judged[T, V] | None = None
    while queue and len(failed) < MAX_PLANS_TRIED:
        candidate = queue.pop(0)
        if _key(candidate) in seen:
            continue
        seen.add(_key(candidate))
        chosen = judged(candidate)
        verification = chosen[2]
        if verification.verified or (not failed and not verification.tried):
            break  # it passed; or the first plan could not be tried at all (pip refused it, no --verify)
        if verification.tried:
            nxt = following(chosen[0], verification.fixes, [p for p, _, _ in failed])
            failed.append(chosen)
            if nxt is not None:
                queue.insert(0, nxt)
    else:  # no plan passed in the copy: the first one, with what the others did
        chosen = failed[0] if failed else chosen
    assert chosen is not None  # the plan itself is always judged
    return _with_notes(chosen, failed)


def _with_notes(chosen: Judged[T, V], failed: Sequence[Judged[T, V]]) -> Judged[T, V]:
    plan, pins, verification = chosen
    others = [
        f"tried in a copy and failed: {_moves(p)}: {v.summary.split('; but ')[-1]}"
        for p, _, v in failed
        if p is not plan
    ]
    if others:
        bad = {_key(p) for p, _, _ in failed}
        alternatives = tuple(a for a in plan.alternatives if _key(dataclasses.replace(plan, moves=a)) not in bad)
        plan = dataclasses.replace(plan, alternatives=alternatives, notes=(*plan.notes, *others))
    return plan, pins, verification


def _key(plan: Plan) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((m.name, m.after or m.spec) for m in plan.moves))


def _moves(plan: Plan) -> str:
    return ", ".join(m.describe() for m in plan.moves)
