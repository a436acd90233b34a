"""The "Fix (first step)" block shared by the text and terminal views: lines a user can run as they are.

The first fix of each error, merged by canonical name into one specifier each (``huggingface-hub>=0.34``
and ``huggingface_hub<2`` become one ``huggingface-hub<2,>=0.34``). The torch family never gets a bare
range from PyPI, which would replace the installed build (``+cpu``, ``+cu124``) with PyPI's (on Linux
the CUDA one, several GB): a build the installed one already satisfies needs no move and is said so; any
other torch line goes to the installed build's own index (``--index-url
https://download.pytorch.org/whl/cpu``; a PyPI build stays on PyPI), in a command of its own; a torch that
is not installed gets a comment saying to install the machine's build, never a bare range.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from envdoctor.report import Report, Severity
from envdoctor.torchbuild import PYTORCH_INDEX, TORCH_FAMILY, pytorch_tag

if TYPE_CHECKING:
    from envdoctor.versions import NormalizedName, SpecifierSet


def _empty_spec() -> SpecifierSet:
    from envdoctor.versions import SpecifierSet

    return SpecifierSet()


@dataclass
class _Merged:
    display: str
    extras: set[str] = field(default_factory=set)
    spec: SpecifierSet = field(default_factory=_empty_spec)

    def line(self) -> str:
        from envdoctor.versions import tightest

        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.display}{extras}{tightest(self.spec)}"


def merged_fixes(report: Report) -> dict[NormalizedName, _Merged]:
    """The first requirement-shaped fix of each error, one merged specifier per canonical name. (packaging
    is imported only when there is an error to fix: a stored report without one is printed without it.)"""
    merged: dict[NormalizedName, _Merged] = {}
    errors = report.at_least(Severity.ERROR)
    if not any(finding.fix for finding in errors):
        return merged
    from envdoctor.versions import InvalidRequirement, canonical, parse_requirement

    for finding in errors:
        for fix in finding.fix[:1]:
            try:
                req = parse_requirement(fix)
            except InvalidRequirement:
                continue
            one = merged.setdefault(canonical(req.name), _Merged(req.name))
            one.extras |= set(req.extras)
            one.spec &= req.specifier
    return merged


def first_step(report: Report) -> list[str]:
    """The lines of the "Fix (first step)" block: commands to run, and what needs no move."""
    merged = merged_fixes(report)
    if not merged:
        return []
    from envdoctor.versions import version_or_none

    builds = dict(report.summary.torch_builds)
    plain: list[str] = []
    torch: dict[str, list[str]] = {}  # index tag -> requirements
    lines: list[str] = []
    for name, fix in merged.items():
        if name not in TORCH_FAMILY:
            plain.append(fix.line())
            continue
        installed = builds.get(name)
        have = version_or_none(installed)
        if have is not None and fix.spec.contains(have, prereleases=True):
            lines.append(f"# {fix.display} needs no move: the installed {installed} satisfies {fix.spec}")
            continue
        tag = next((t for s in fix.spec if (t := pytorch_tag(s.version))), None) or pytorch_tag(installed)
        if tag is None and installed is None:
            lines.append(
                f"# {fix.line()}: not installed; install the build for this machine from its index "
                f"({PYTORCH_INDEX}cpu, {PYTORCH_INDEX}cu124, ...), not a bare range from PyPI"
            )
            continue
        torch.setdefault(tag or "", []).append(fix.line())  # "": a PyPI build stays on PyPI
    commands = ["pip install " + " ".join(shlex.quote(s) for s in plain)] if plain else []
    commands += [
        "pip install " + " ".join(shlex.quote(s) for s in specs) + (f" --index-url {PYTORCH_INDEX}{tag}" if tag else "")
        for tag, specs in torch.items()
    ]
    return commands + lines
