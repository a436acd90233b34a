"""Fixes computed from harvested facts for a broken cross-package import: which releases of the provider
define the name, which releases of the importer import it, and what else each alternative would move."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envdoctor.facts import Facts, containing, first_after
from envdoctor.inventory import Dist, Inventory
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
    from envdoctor.checks.symbols import Break


def computed_fix(facts: Facts, inv: Inventory, brk: Break) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """The fix, computed from harvested facts: which releases of the provider define the name, which
    releases of the importer import it, and what else each alternative would move. None when the
    facts do not cover this pair."""
    a, b = brk.importer.dist, brk.provider.dist
    if brk.missing_module or not brk.missing or a.version is None or b.version is None:
        return None
    name, module = brk.missing[0], brk.imp.module
    defined = facts.defined(b.name, module, name)
    if defined is None:
        return None
    said: list[str] = []
    fixes: list[str] = []
    options: list[str] = []
    evidence: list[str] = []
    up = first_after(defined, b.version)
    if up is not None:
        newest = facts.versions(b.name)[-1]
        said.append(
            f"{b.display_name} defines {name} in {module} from {up[0]} on"
            if up[1] == newest
            else f"{b.display_name} defines {name} in {module} in {up[0]} to {up[1]}"
        )
        fixes.append(f"{b.display_name}>={up[0]}" + ("" if up[1] == newest else f",<={up[1]}"))
        options.append(f"upgrade {fixes[-1]} ({_moves(facts, inv, b, up[0])})")
        evidence.append(_cite(facts, b, up[0], f"{module}.{name} defined in {up[0]}..{up[1]}"))
    imported = facts.imported(a.name, module, name)
    run = containing(imported, a.version) if imported else None
    older = [v for v in facts.versions(a.name) if run is not None and _version(v) < _version(run[0])]
    if run is not None:
        said.append(f"{a.display_name} imports it from {run[0]} on")
        evidence.append(_cite(facts, a, run[0], f"imports {module}.{name} in {run[0]}..{run[1]}"))
        if older:
            fixes.append(f"{a.display_name}<{run[0]}")
            options.append(f"pin {fixes[-1]} ({_moves(facts, inv, a, older[-1])}, as {a.display_name} {older[-1]})")
    if not fixes:
        return None
    return f"{'; '.join(said)}: {', or '.join(options)}.", tuple(fixes), tuple(evidence)


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
        for req in other.requires:
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
