"""What the installed metadata declares, checked against what is installed: a superset of pip check.

Emits, for the winning copy of each project (the first on sys.path):

- requirement-missing (error): a Requires-Dist that applies to the target is not installed.
- requirement-conflict (error): it is installed at a version outside the declared range.
- wheel-unsupported (error): the installed wheel's tags do not fit the target interpreter.
- extra-requirement-missing / extra-requirement-conflict (warning): the same, for requirements
  that an installed package pulls in through an extra (``B[x]``); pip check does not look there.
- requires-python-mismatch (warning): the distribution declares a Python the target is not.
- metadata-missing, metadata-corrupt, version-invalid, requirement-invalid (warning).
- record-missing (info): a dist-info without RECORD, which pip cannot uninstall cleanly.
- distribution-duplicate (warning): several copies of one project on sys.path; names the winner.

Markers and extras are evaluated in the target's marker environment. Raises nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from envdoctor.checks.tags import supported_tags, unsupported_wheel
from envdoctor.inventory import Dist, Inventory
from envdoctor.report import Finding, Severity
from envdoctor.versions import (
    MarkerEnvironment,
    NormalizedName,
    Requirement,
    canonical,
    in_range,
    parse_version,
)

CHECK = "metadata"


def check_metadata(inv: Inventory) -> list[Finding]:
    findings: list[Finding] = []
    for dist in inv.dists:
        findings.extend(_metadata_health(dist))
    for copies in inv.copies.values():
        if len(copies) > 1:
            findings.append(_duplicate(copies))
    supported = supported_tags(inv.python)
    for dist in inv.winners.values():
        findings.extend(_requirements(inv, dist))
        findings.extend(_python(inv, dist))
        if supported is not None and unsupported_wheel(dist.wheel_tags, supported):
            findings.append(_unsupported(inv, dist))
    findings.extend(_extras(inv))
    return findings


def _finding(id: str, severity: Severity, title: str, **kw: object) -> Finding:
    return Finding(id=id, severity=severity, title=title, check=CHECK, **kw)  # type: ignore[arg-type]


def _metadata_health(dist: Dist) -> Iterator[Finding]:
    if dist.unreadable:
        yield _finding(
            "metadata-corrupt",
            Severity.WARNING,
            f"{dist.display_name}'s metadata folder cannot be read",
            detail=f"{dist.unreadable}. Nothing about this distribution can be checked (its requirements, its "
            "files) until its permissions let this user read it.",
            packages=(dist.name,),
            evidence=(dist.path,),
            fix=(f"ls -ld {dist.path}", f"pip install --force-reinstall --no-deps {dist.display_name}"),
        )
        return
    yield from _metadata_file(dist)
    yield from _declarations(dist)


def _metadata_file(dist: Dist) -> Iterator[Finding]:
    """The main metadata file missing, or damaged."""
    if dist.missing_metadata:
        yield _finding(
            "metadata-missing",
            Severity.WARNING,
            f"{dist.display_name} has no {dist.metadata_file}",
            detail="The metadata folder exists but its main file is gone, so tools cannot tell what is "
            "installed or what it needs (an interrupted install or a partial uninstall).",
            packages=(dist.name,),
            evidence=(dist.path,),
            advice=(_reinstall(dist.display_name),),
        )
    elif dist.problems:
        yield _finding(
            "metadata-corrupt",
            Severity.WARNING,
            f"{dist.display_name}'s {dist.metadata_file} is damaged",
            detail="; ".join(dist.problems),
            packages=(dist.name,),
            evidence=(dist.metadata_path,),
            advice=(_reinstall(_pin(dist)),),
        )


def _declarations(dist: Dist) -> Iterator[Finding]:
    """No RECORD, a version or a requirement that does not parse."""
    if dist.kind == "dist-info" and not dist.has_record and not dist.missing_metadata:
        yield _finding(
            "record-missing",
            Severity.INFO,
            f"{dist.label} has no RECORD file",
            detail="pip cannot uninstall or upgrade it cleanly: its files are not listed. Installed by "
            f"{dist.installer or 'an unknown installer'}.",
            packages=(dist.name,),
            evidence=(dist.path,),
            advice=(_reinstall(_pin(dist)),),
        )
    if dist.raw_version and dist.version is None:
        yield _finding(
            "version-invalid",
            Severity.WARNING,
            f"{dist.display_name} has a version that is not PEP 440: {dist.raw_version!r}",
            detail="Requirements on this project cannot be checked, and current pip refuses to reason about it.",
            packages=(dist.name,),
            evidence=(f"{dist.metadata_path}: Version: {dist.raw_version}",),
        )
    for line, error in dist.invalid_requires:
        yield _finding(
            "requirement-invalid",
            Severity.WARNING,
            f"{dist.label} declares a requirement that does not parse",
            detail=error,
            packages=(dist.name,),
            evidence=(f"{dist.metadata_path}: Requires-Dist: {line}",),
        )
    if dist.raw_requires_python and dist.requires_python is None:
        yield _finding(
            "requirement-invalid",
            Severity.WARNING,
            f"{dist.label} declares a Requires-Python that does not parse",
            packages=(dist.name,),
            evidence=(f"{dist.metadata_path}: Requires-Python: {dist.raw_requires_python}",),
        )


def _duplicate(copies: tuple[Dist, ...]) -> Finding:
    winner = copies[0]
    return _finding(
        "distribution-duplicate",
        Severity.WARNING,
        f"{len(copies)} copies of {winner.display_name} are installed; {winner.raw_version} wins",
        detail="Python imports the copy that comes first on sys.path; tools that pick another copy "
        "(or a later install that removes one) will disagree with what runs.",
        packages=(winner.name,),
        evidence=tuple(f"{d.raw_version}: {d.path}" + (" (used)" if d is winner else "") for d in copies),
        advice=tuple(
            f"remove {shlex.quote(d.path)} (and the files its RECORD lists)"
            for d in copies[1:]
            if d.location == winner.location
        )
        or (f"pip uninstall {shlex.quote(winner.display_name)}, then reinstall the one version you want",),
    )


def _requirements(inv: Inventory, dist: Dist) -> Iterator[Finding]:
    env = inv.marker_env
    for req in dist.base_requires:  # a requirement gated to an extra never holds without it
        if env.holds(req.marker):
            yield from _one_requirement(inv, dist, req, extra=None)


def _one_requirement(inv: Inventory, dist: Dist, req: Requirement, *, extra: str | None) -> Iterator[Finding]:
    name = canonical(req.name)
    dep = inv.winners.get(name)
    via = f" (through its extra [{extra}])" if extra else ""
    severity = Severity.WARNING if extra else Severity.ERROR
    prefix = "extra-" if extra else ""
    evidence = f"{dist.metadata_path}: Requires-Dist: {req}"
    wanted = f"{req.name}{req.specifier}" if req.specifier else req.name
    if dep is None:
        yield _finding(
            f"{prefix}requirement-missing",
            severity,
            f"{dist.label} requires {wanted}{via}, which is not installed",
            detail=f"Importing {dist.display_name} (or the part of it that needs {req.name}) will fail.",
            packages=(dist.name, name),
            evidence=(evidence,),
            fix=(wanted,),
        )
        return
    if dep.version is None or not req.specifier:
        return  # an unparseable version is reported by itself (version-invalid)
    if not in_range(dep.version, req.specifier):
        yield _finding(
            f"{prefix}requirement-conflict",
            severity,
            f"{dist.label} requires {wanted}{via}, but {dep.label} is installed",
            detail=f"{dist.display_name} declares it needs {req.name} in {req.specifier}; "
            f"the installed {dep.raw_version} is outside that range.",
            packages=(dist.name, name),
            evidence=(evidence, f"{dep.metadata_path}: Version: {dep.raw_version}"),
            fix=(wanted,),
            advice=(f"or a release of {dist.display_name} that accepts {req.name}=={dep.raw_version}",),
        )


def _python(inv: Inventory, dist: Dist) -> Iterator[Finding]:
    if dist.requires_python is None:
        return
    try:
        py = parse_version(inv.python.version)
    except ValueError:
        return
    if not in_range(py, dist.requires_python):
        yield _finding(
            "requires-python-mismatch",
            Severity.WARNING,
            f"{dist.label} requires Python {dist.requires_python}, but this is Python {inv.python.version}",
            detail="pip would not have installed this release here; it may use syntax or APIs this Python "
            "does not have.",
            packages=(dist.name,),
            evidence=(f"{dist.metadata_path}: Requires-Python: {dist.raw_requires_python}",),
            advice=(f"a release of {dist.display_name} whose Requires-Python admits {inv.python.version}",),
        )


def _unsupported(inv: Inventory, dist: Dist) -> Finding:
    return _finding(
        "wheel-unsupported",
        Severity.ERROR,
        f"{dist.label} was built for another Python or platform",
        detail=f"Its wheel tags ({', '.join(dist.wheel_tags)}) do not fit Python {inv.python.version} "
        f"({inv.python.soabi or inv.python.implementation}, {inv.python.platform}); its compiled parts "
        "will not load.",
        packages=(dist.name,),
        evidence=(f"{dist.path}/WHEEL: Tag: {', '.join(dist.wheel_tags)}",),
        advice=(_reinstall(_pin(dist)),),
    )


def _extras(inv: Inventory) -> Iterator[Finding]:
    """Requirements pulled in through extras (``B[x]``) that some installed package asks for."""
    env = inv.marker_env
    requested: dict[NormalizedName, set[str]] = {}
    work = [r for d in inv.winners.values() for r in d.base_requires if r.extras and env.holds(r.marker)]
    seen: set[tuple[NormalizedName, str]] = set()
    while work:
        req = work.pop()
        name = canonical(req.name)
        dep = inv.winners.get(name)
        for extra in sorted(req.extras):
            key = (name, canonical(extra))
            if dep is None or key in seen:
                continue
            seen.add(key)
            requested.setdefault(name, set()).add(key[1])
            work.extend(r for r in dep.requires_with(key[1]) if r.extras and _extra_only(env, r, key[1]))
    for name, extras in sorted(requested.items()):
        dep = inv.winners[name]
        for extra in sorted(extras):
            for req in dep.requires_with(canonical(extra)):
                if _extra_only(env, req, extra):
                    yield from _one_requirement(inv, dep, req, extra=extra)


def _extra_only(env: MarkerEnvironment, req: Requirement, extra: str) -> bool:
    """True when ``req`` applies with ``extra`` requested but not without it."""
    return req.marker is not None and env.holds(req.marker, extra) and not env.holds(req.marker)


def _reinstall(spec: str) -> str:
    """The command that reinstalls ``spec``; every word from the target is shell-quoted."""
    return f"pip install --force-reinstall --no-deps {shlex.quote(spec)}"


def _pin(dist: Dist) -> str:
    return f"{dist.display_name}=={dist.raw_version}" if dist.raw_version else dist.display_name
