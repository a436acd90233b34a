"""Which plans ``pin --verify`` tries in the throwaway copy, in which order, and how many.

The plan first. When it fails in the copy, its next candidate release: the planner is asked again with each
moved package kept out of the release series that failed (``accelerate!=0.32.*``) and, when the failure was
diagnosed, inside its fix's range (``accelerate>=1.3.0``, from the keyword the step's callee lacked), and the
best plan that moves the same packages is tried next. Then the plan's equally small alternatives, in order,
the first of which may again be followed by its next release. Never more than MAX_PLANS_TRIED plans in the copy
(a plan pip refuses does not count: it never reaches the copy). The first plan that passes is the file's plan,
with a note for each that failed; when none passes, the first plan, NOT verified, with every failure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from envdoctor.fix.planner import Plan, Planner
from envdoctor.names import canonical
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
    *,
    keep: Sequence[str],
    allow: Sequence[str],
    constraints: Mapping[str, SpecifierSet],
    sources: Mapping[str, str],
) -> Plan | None:
    """The plan that moves the same packages as ``failed`` to their next candidate releases: out of each
    failed release's series, inside ``fixes`` (diagnosed in the copy) where they name a moved package, inside
    the user's ``constraints``; None when no such plan exists."""
    moved = {m.name for m in failed.moves}
    ranges = {canonical(k): v for k, v in constraints.items()}
    for move in failed.moves:
        v = version_or_none(move.after) if move.after is not None else None
        if v is not None:
            series = (*v.release, 0)[:2]
            ranges[move.name] = ranges.get(move.name, SpecifierSet()) & SpecifierSet(f"!={series[0]}.{series[1]}.*")
    for text in fixes:
        try:
            req = parse_requirement(text)
        except InvalidRequirement:
            continue
        if canonical(req.name) in moved:
            name = canonical(req.name)
            ranges[name] = ranges.get(name, SpecifierSet()) & req.specifier
    plan = planner.plan(keep=keep, allow=allow, constraints=ranges, sources=sources)
    same = next((o for o in (plan.moves, *plan.alternatives) if {m.name for m in o} == moved), None)
    if same is None:
        return None
    return dataclasses.replace(plan, moves=same, alternatives=failed.alternatives, notes=failed.notes)


def first_passing(
    plan: Plan,
    judged: Callable[[Plan], Judged[T, V]],
    following: Callable[[Plan, Sequence[str]], Plan | None],
) -> Judged[T, V]:
    """The first plan that passes ``judged`` (pip, the re-check, and with --verify the copy), trying the plan,
    its next release (``following``), then the alternatives (see the module's docstring); when none passes in
    the copy, the first one. Each that failed in the copy is a note of the one returned."""
    queue: list[tuple[Plan, bool]] = [(p, True) for p in candidates(plan)]  # (plan, may be followed)
    failed: list[Judged[T, V]] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    chosen: Judged[T, V] | None = None
    while queue and len(failed) < MAX_PLANS_TRIED:
        candidate, follow = queue.pop(0)
        if _key(candidate) in seen:
            continue
        seen.add(_key(candidate))
        chosen = judged(candidate)
        verification = chosen[2]
        if verification.verified or (not failed and not verification.tried):
            break  # it passed; or the first plan could not be tried at all (pip refused it, no --verify)
        if verification.tried:
            failed.append(chosen)
            nxt = following(chosen[0], verification.fixes) if follow else None
            if nxt is not None:
                queue.insert(0, (nxt, False))
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
