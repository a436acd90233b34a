"""``envdoctor pin``: check, plan, write the pin set, and have pip's own resolver confirm it.

Verification: the requirements file is given to ``pip install --dry-run --report`` in the target
(envdoctor.predict.dryrun; nothing is installed). The set pip resolves, with its new releases' wheels read from
envdoctor's cache (envdoctor.predict.materialize), is then checked again by every static check. A plan is
"verified" only when pip resolves it and that re-check finds no error; offline, or when pip cannot run,
the plan is marked unverified and says why.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envdoctor.cache import Cache, default_dir
from envdoctor.diagnose import DEFAULT_TIMEOUT, check_inventory, listed, load_matrix, with_probes
from envdoctor.fix.pinfile import PinSet, pin_set
from envdoctor.fix.pipconfig import PipConfig
from envdoctor.fix.planner import Move, Plan, Planner, finding_key
from envdoctor.fix.retry import first_passing, next_release
from envdoctor.inventory import Inventory
from envdoctor.knowledge.matrix import Matrix, MatrixError
from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.progress import Progress, Silent
from envdoctor.render.pinfile import render
from envdoctor.report import Finding, Report, Severity
from envdoctor.target import Target
from envdoctor.versions import NormalizedName, SpecifierSet

if TYPE_CHECKING:
    from envdoctor.predict.dryrun import Resolution, Resolved


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
    tried: bool = False
    """The plan was installed into a throwaway copy of the target and its import probes (and the stack
    step) ran there (``pin --verify``); ``summary`` says how that went."""
    fixes: tuple[str, ...] = ()
    """When it failed in the copy: the failures' diagnosed fixes, where the next release is looked for."""


@dataclass(frozen=True)
class PinResult:
    inventory: Inventory
    report: Report
    plan: Plan
    pins: PinSet
    verification: Verification

    def text(self, fmt: str = "requirements") -> str:
        """The pin file (or its ``fmt`` form): the same text ``envdoctor pin`` writes."""
        from envdoctor.render.pin import text

        return text(self, fmt)

    def _repr_html_(self) -> str:
        from envdoctor.render.html import pin_html

        return pin_html(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        from envdoctor.render.html import pin_short

        p.text(pin_short(self))

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
    trial: bool = False,
    imports: Sequence[str] = (),
    constraints: Sequence[str | os.PathLike[str]] = (),
    timeout: float = DEFAULT_TIMEOUT,
    resolve_timeout: float = 300.0,
    probes: bool = False,
    progress: Progress | None = None,
) -> PinResult:
    """Check ``python``'s environment, plan the smallest fix, and return the pin set (verified by pip's
    resolver unless ``verify`` is False). ``trial``: also install the resolved plan into a throwaway copy and
    run the import probes (every installed watched package's, and ``imports``) and the stack step there; the
    plan is verified only when they pass, else the next plans are tried (envdoctor.fix.trial, .retry).
    ``probes``: first run the import probes in the environment itself, as ``check --probes`` does, and plan
    for the failures nothing static explains by their diagnosed fix (``tensorboard>=1.15``); ``timeout``
    is each probe's limit. ``constraints``: files bounding each moved package (pip's too). Writes nothing."""
    from envdoctor.errors import check_timeout

    check_timeout(timeout)
    check_timeout(resolve_timeout, "resolve_timeout")
    keep, allow, constraints = listed(keep), listed(allow), listed(constraints)
    ranges, sources = _constraint_ranges(constraints)
    target = Target.resolve(python)
    inv = target.inventory(timeout=timeout)
    cache = Cache(default_dir())
    probing = {"imports": imports, "timeout": timeout, "progress": progress or Silent()} if probes else None
    report = _checked(target, inv, cache, online=verify, probing=probing)
    facts = Facts.shipped()
    matrix = load_matrix()
    planner = Planner(inv, report.findings, facts=facts, matrix=matrix, cache=cache)
    plan = planner.plan(keep=keep, allow=allow, constraints=ranges, sources=sources)
    pip = PipConfig.load(inv.python.prefix)
    names = watched(facts, matrix)
    pins = pin_set(inv, plan, names, pip=pip, changes_only=changes_only, everything=everything)
    if not verify:
        return PinResult(inv, report, plan, pins, Verification(False, "verification skipped (--no-verify)"))
    extra = [a for path in constraints for a in ("-c", os.fspath(path))]

    def judged(candidate: Plan) -> tuple[Plan, PinSet, Verification]:
        pins = pin_set(inv, candidate, names, pip=pip, changes_only=changes_only, everything=everything)
        verification, candidate, resolution = _verify(
            target.python, inv, candidate, pins, extra=extra, timeout=resolve_timeout
        )
        pins = pin_set(inv, candidate, names, pip=pip, changes_only=changes_only, everything=everything)
        if trial and verification.verified and resolution is not None and resolution.installs:
            verification = _try(
                inv, pins, resolution, verification, imports=imports, timeout=timeout, install_timeout=resolve_timeout
            )
        return candidate, pins, verification

    following = partial(next_release, planner, keep=keep, allow=allow, constraints=ranges, sources=sources)
    plan, pins, verification = first_passing(plan, judged, following)
    return PinResult(inv, report, plan, pins, verification)


def _checked(target: Target, inv: Inventory, cache: Cache, *, online: bool, probing: dict[str, Any] | None) -> Report:
    """The report the plan is made from: the static checks (``online``: an error's fix the facts do not cover
    is read from the importer's release wheels), then with ``probing`` the import probes (with_probes)."""
    releases = None
    if online:
        from envdoctor.knowledge.importers import ReleaseReader

        releases = ReleaseReader(target.python, default_dir(), inv)
    report = check_inventory(inv, cache=cache, releases=releases)
    if probing is not None:
        report = with_probes(report, python=target.python, inv=inv, **probing)
    return report


def _try(
    inv: Inventory,
    pins: PinSet,
    resolution: Resolution,
    verification: Verification,
    *,
    imports: Sequence[str],
    timeout: float,
    install_timeout: float,
) -> Verification:
    """``verification`` after the plan was tried in a throwaway copy (envdoctor.fix.trial)."""
    from envdoctor import runner
    from envdoctor.fix.trial import TrialError, try_plan
    from envdoctor.predict.dryrun import ResolveError, choose_pip
    from envdoctor.redact import Redactor, secret_values

    env = runner.child_environment()
    scrub = Redactor([*secret_values(), *secret_values(env)])
    python = inv.python.executable
    try:
        pip = choose_pip(python, env, scrub, inv)
    except ResolveError as exc:
        why = f"the plan was not tried in a copy: {exc.message}"
        return dataclasses.replace(verification, verified=False, summary=f"{verification.summary}; but {why}")
    argv = list(pip.argv)
    if "--python" in argv:  # envdoctor's own pip, pointed at the target: point it at the copy instead
        at = argv.index("--python")
        del argv[at : at + 2]
    direct = {line.name: line.text for line in pins.lines if line.name is not None and line.text is not None}
    lines = [
        direct[r.name] if r.is_direct and r.name in direct else f"{r.display_name}=={r.version}"
        for r in resolution.installs
    ]
    try:
        tried = try_plan(
            inv,
            lines,
            [r.name for r in resolution.installs],
            pip=argv,
            options=pins.options,
            imports=imports,
            timeout=timeout,
            install_timeout=install_timeout,
        )
    except TrialError as exc:
        why = f"the plan could not be tried in a copy: {scrub(str(exc))}"
        return dataclasses.replace(verification, verified=False, summary=f"{verification.summary}; but {why}")
    if not tried.passed:
        return dataclasses.replace(
            verification,
            verified=False,
            tried=True,
            summary=f"{verification.summary}; but {scrub(tried.summary)}",
            fixes=tried.fixes,
        )
    return dataclasses.replace(verification, tried=True, summary=f"{verification.summary}; {scrub(tried.summary)}")


def _constraint_ranges(files: Sequence[str | os.PathLike[str]]) -> tuple[dict[str, SpecifierSet], dict[str, str]]:
    """Each constrained name's range, and where it comes from (``c.txt:1: idna<2.5``)."""
    from envdoctor.predict.reqfile import read_requirements

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
) -> tuple[Verification, Plan, Resolution | None]:
    """Ask pip to resolve the pin set; re-check the resolved set. Returns the verification, the plan
    with exact releases filled in where pip picked them, and pip's resolution (None when pip did not resolve)."""
    from envdoctor.predict.dryrun import ResolveError, dry_run, future_inventory
    from envdoctor.predict.materialize import materialize

    with tempfile.TemporaryDirectory(prefix="envdoctor-pin-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(render(pins, "requirements"), encoding="utf-8")
        try:
            resolution = dry_run(python, ["-r", str(req), *extra], timeout=timeout, known=inv)
        except ResolveError as exc:
            why = "the package index cannot be reached" if exc.offline else "pip does not accept the set"
            detail = "; ".join(exc.details[:3])
            return Verification(False, f"{why}: {exc.message}" + (f" ({detail})" if detail else "")), plan, None
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
    verdict = _verdict(resolution, found=found, problems=problems, left=left, also=also, unread=unread)
    return verdict, plan, resolution


def _verdict(
    resolution: Resolution,
    *,
    found: Sequence[Finding],
    problems: list[Finding],
    left: set[tuple[str, ...]],
    also: tuple[str, ...],
    unread: list[str],
) -> Verification:
    """What pip's answer and envdoctor's check of the resolved set say together."""
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
        )
    kept = sum(1 for f in found if finding_key(f) in left)
    summary = f"{pip_said}; envdoctor's checks of the resolved set find " + (
        f"no error but the {kept} listed as NOT fixed" if kept else "no error"
    )
    if unread:
        summary += f" ({len(unread)} checked from metadata only: {'; '.join(unread)})"
    return Verification(True, summary, also, changed, (), resolution.pip_version)


def _exact(move: Move, got: Resolved | None) -> Move:
    """A range-only move with the release pip picked for it."""
    return dataclasses.replace(move, after=got.version) if move.after is None and got is not None else move


def _installed(inv: Inventory, name: str) -> str | None:
    dist = inv.get(name)
    return dist.raw_version if dist is not None else None
