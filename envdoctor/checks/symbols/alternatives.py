"""Fixes computed from harvested facts for a broken cross-package import: which releases of the provider
define the name, which releases of the importer import it, and what else each alternative would move."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from envdoctor.inventory import Dist, Inventory
from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.versions import (
    InvalidRequirement,
    InvalidVersion,
    Version,
    canonical,
    in_range,
    parse_requirement,
    parse_version,
)

if TYPE_CHECKING:
    from envdoctor.checks.symbols.links import Break


@dataclass(frozen=True)
class _Run:
    """Consecutive harvested releases ``first``..``last`` that share a property (define the name, do not
    import it), with the releases just outside: None when ``first`` is the oldest harvested or ``last``
    the newest."""

    first: str
    last: str
    before: str | None
    after: str | None

    def spec(self, name: str, *, upward: bool) -> str:
        """The requirement that selects exactly this run: ``accelerate>=0.32.0``, ``huggingface-hub<0.26.0``,
        ``trl>=0.8.0,<0.9.0``. The side toward the installed release is always bounded."""
        lower = f">={self.first}" if upward or self.before is not None else ""
        upper = f"<{self.after}" if self.after is not None else "" if upward else f"<={self.last}"
        return name + ",".join(p for p in (lower, upper) if p)

    def span(self) -> str:
        if self.before is None and self.after is None:
            return "in every harvested release"
        if self.after is None:
            return f"from {self.first} on"
        if self.before is None:
            return f"up to {self.last}"
        return f"in {self.first} to {self.last}"


def computed_fix(facts: Facts, inv: Inventory, brk: Break) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """The fix, computed from harvested facts, in both directions on both sides: the provider's releases
    nearest to the installed one that define the name (newer, then older), the importer's releases
    nearest to the installed one that do not import it (newer, then older), and what else each would
    move. Upgrades are listed first. None when the facts cover neither side."""
    a, b = brk.importer.dist, brk.provider.dist
    if brk.missing_module or not brk.missing or a.version is None or b.version is None:
        return None
    names, module = ", ".join(brk.missing), brk.imp.module
    provided = _all_of(facts.providing(b.name, module, n) for n in brk.missing)
    imported = _any_of(facts.importing(a.name, module, n) for n in brk.missing)
    b_versions, a_versions = facts.versions(b.name), facts.versions(a.name)
    b_up = b_down = a_up = a_down = None
    if provided is not None:
        b_down, b_up = _nearest(_runs(b_versions, provided), b.version)
    if imported is not None:
        a_down, a_up = _nearest(_runs(a_versions, set(a_versions) - imported), a.version)
    said: list[str] = []
    evidence: list[str] = []
    defining = [r for r in (b_down, b_up) if r is not None]
    if defining:
        spans = " and ".join(r.span() for r in defining)
        said.append(f"{b.display_name} defines {names} in {module} {spans}")
        evidence += [
            _cite(
                facts, b, r.first if r is b_up else r.last, f"{module}.{brk.missing[0]} defined in {r.first}..{r.last}"
            )
            for r in defining
        ]
    importing = _run_at(_runs(a_versions, imported), a.version) if imported else None
    if importing is not None:
        said.append(f"{a.display_name} imports {'them' if len(brk.missing) > 1 else 'it'} {importing.span()}")
        evidence.append(
            _cite(
                facts, a, importing.first, f"imports {module}.{brk.missing[0]} in {importing.first}..{importing.last}"
            )
        )
    if a_up is not None:
        evidence.append(
            _cite(facts, a, a_up.first, f"no import of {module}.{brk.missing[0]} in {a_up.first}..{a_up.last}")
        )
    fixes: list[str] = []
    options: list[str] = []
    for dist, run, upward in ((b, b_up, True), (a, a_up, True), (b, b_down, False), (a, a_down, False)):
        if run is None:
            continue
        version = run.first if upward else run.last
        fixes.append(run.spec(dist.display_name, upward=upward))
        verb = "upgrade" if upward else "pin"
        options.append(f"{verb} {fixes[-1]} ({_moves(facts, inv, dist, version)}, as {dist.display_name} {version})")
    if not fixes:
        return None
    return f"{'; '.join(said)}: {', or '.join(options)}.", tuple(fixes), tuple(evidence)


def _all_of(sets: Iterable[set[str] | None]) -> set[str] | None:
    """Releases in every one of ``sets``; None when any is unknown."""
    out: set[str] | None = None
    for found in sets:
        if found is None:
            return None
        out = found if out is None else out & found
    return out


def _any_of(sets: Iterable[set[str] | None]) -> set[str] | None:
    """Releases in any one of ``sets``; None when all are unknown."""
    known = [found for found in sets if found is not None]
    return set().union(*known) if known else None


def _runs(versions: list[str], members: set[str]) -> list[_Run]:
    """The maximal runs of consecutive ``versions`` (oldest first) that are in ``members``."""
    runs: list[_Run] = []
    start: int | None = None
    for i, version in enumerate([*versions, None]):
        if version is not None and version in members:
            start = i if start is None else start
        elif start is not None:
            before = versions[start - 1] if start > 0 else None
            runs.append(_Run(versions[start], versions[i - 1], before, version))
            start = None
    return runs


def _nearest(runs: list[_Run], installed: Version) -> tuple[_Run | None, _Run | None]:
    """The run nearest below ``installed`` and the one nearest above it."""
    below = [r for r in runs if _version(r.last) < installed]
    above = [r for r in runs if _version(r.first) > installed]
    return (below[-1] if below else None), (above[0] if above else None)


def nearest_runs(versions: list[str], members: set[str], installed: Version) -> tuple[_Run | None, _Run | None]:
    """Of the runs of ``versions`` (oldest first) in ``members``: the one nearest below ``installed`` and the one
    nearest above it (what a fix moves to, downward or upward)."""
    return _nearest(_runs(versions, members), installed)


def _run_at(runs: list[_Run], installed: Version) -> _Run | None:
    return next((r for r in runs if _version(r.first) <= installed <= _version(r.last)), None)


def _moves(facts: Facts, inv: Inventory, dist: Dist, version: str) -> str:
    """What else installing ``dist==version`` would move: its own requirements the installed set
    does not meet, and installed packages whose declared range excludes that version."""
    needs: list[str] = []
    release = facts.release(dist.name, version) or {}
    env = inv.marker_env
    for line in release.get("requires_dist", ()):
        try:
            req = parse_requirement(line)
        except InvalidRequirement:
            continue
        if not env.holds(req.marker):
            continue
        dep = inv.get(req.name)
        if dep is None:
            needs.append(f"needs {req.name}{req.specifier}, not installed")
        elif dep.version is not None and req.specifier and not in_range(dep.version, req.specifier):
            needs.append(f"needs {req.name}{req.specifier}, you have {dep.raw_version}")
    target = _version(version)
    for other in inv.winners.values():
        for req in other.base_requires:  # a requirement gated to an extra never holds here
            if canonical(req.name) == dist.name and env.holds(req.marker) and not in_range(target, req.specifier):
                needs.append(f"{other.display_name} {other.raw_version} requires {req.name}{req.specifier}")
    return "; ".join(needs) if needs else "moves nothing else"


def _cite(facts: Facts, dist: Dist, version: str, what: str) -> str:
    release = facts.release(dist.name, version) or {}
    wheel = release.get("wheel", "?")
    sha = str(release.get("sha256", ""))[:16]
    return f"{facts.path('symbols' if 'defined' in what else 'imports', dist.name)}: {what} ({wheel}, sha256 {sha}...)"


def _version(text: str) -> Version:
    try:
        return parse_version(text)
    except InvalidVersion:
        return parse_version("0")
