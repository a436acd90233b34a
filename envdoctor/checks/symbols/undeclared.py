"""Undeclared dependencies: a distribution imports a top-level module that nothing on the target's sys.path
provides, and does not declare the distribution that would.

trl 0.11.4 does ``from rich.console import Console`` at module level (trl/trainer/utils.py:27) without
declaring rich; tyro < 1.0 declared rich and so brought it in, tyro 1.0.0 dropped it, and
``from trl import SFTTrainer`` fails with ``No module named 'rich'`` while pip check is clean.

Built on the symbols machinery: the text pass (SourceIndex.absent_imports) finds the imports, the
Resolver says where each runs and what reaches it (through unconditional imports only), with
symbol-missing's severity rule. Reported only when it is an error: an unconditional module-level import
reached from ``import A`` or a well-known entry point; the importer's other imports of the module are
listed with it. An import only in a function, under an ``if`` (``if is_rich_available():``,
``if sys.version_info >= (3, 14):``), in an ``except`` fallback, or in a module nothing well-known imports
is how packages use optional dependencies (130 such pairs of distribution and module on the trl bed:
``pytest`` in ``conftest.py``, matplotlib in ``tqdm.gui``, jax in torch's inductor): not a finding. Nor are the target's
standard library, a module anything on sys.path provides, a module the importer vendors, or a
distribution the importer declares in any form (a missing declared requirement is requirement-missing's
finding; one in an extra is optional).
"""

from __future__ import annotations

from envdoctor.checks.symbols.links import CHECK, Reach, statement
from envdoctor.checks.symbols.providers import Provider, provider
from envdoctor.checks.symbols.resolver import Resolver
from envdoctor.inventory import Dist
from envdoctor.report import Finding, Severity
from envdoctor.source.index import DistFiles, SourceIndex
from envdoctor.source.text import ImportLine
from envdoctor.versions import canonical

ID = "module-undeclared"
_VENDOR_DIRS = ("_vendor", "vendor", "vendored", "_vendored", "extern", "_extern")
"""Folders a package puts on sys.path for its vendored copies (setuptools' ``_vendor``)."""
_SHOWN = 3
"""Import statements quoted as evidence, the worst first."""


def check_undeclared(index: SourceIndex, resolver: Resolver) -> list[Finding]:
    """One finding per (importer, missing top-level module) that an unconditional import would fail on.
    ``resolver`` reaches modules through unconditional imports only."""
    findings = []
    for files in index.files.values():
        by_top: dict[str, list[tuple[str, ImportLine]]] = {}
        for rel, imp in index.absent_imports(files):
            by_top.setdefault(imp.module.split(".")[0], []).append((rel, imp))
        vendored = _vendored(files) if by_top else frozenset()
        for top, imports in sorted(by_top.items()):
            # An error needs an unconditional module-level import: a column-0 line (the text pass says so),
            # so the many modules imported only in functions or under an `if` cost no parse here.
            if all(imp.indented for _rel, imp in imports):
                continue
            known = provider(top, resolver.facts)
            if _accounted_for(index, files, top, known, vendored):
                continue
            # A column-0 import is an error only where a root reaches its module (the text edges say so, no
            # parse): the ast confirmation below is paid only for those.
            if not any(resolver.reached(files, rel) for rel, imp in imports if not imp.indented):
                continue
            top_level = [
                (r, imp) for rel, imp in imports if not imp.indented and (r := _runs(resolver, files, rel, imp))
            ]
            if not any(reach.severity >= Severity.ERROR for reach, _imp in top_level):
                continue
            nested = [(r, imp) for rel, imp in imports if imp.indented and (r := _runs(resolver, files, rel, imp))]
            findings.append(_finding(files.dist, top, known, top_level + nested))
    return findings


def _runs(resolver: Resolver, files: DistFiles, rel: str, imp: ImportLine) -> Reach | None:
    """Where an import runs in every environment: not guarded, not under an ``if``, not a fallback."""
    reach = resolver.runs(files, rel, imp)
    return None if reach is None or reach.site.conditional else reach


def _accounted_for(
    index: SourceIndex, files: DistFiles, top: str, known: Provider | None, vendored: frozenset[str]
) -> bool:
    """Declared by the importer (any marker, any extra), vendored in its own files (setuptools puts
    ``_vendor`` on sys.path), or installed after all (a distribution without a file list, one a what-if
    would install), or unknowable (a what-if install whose files are not read)."""
    names = {canonical(top)} | ({canonical(known.distribution)} if known else set())
    if names & files.dist.declared_names:
        return True
    if top in vendored:
        return True
    if any(index.inv.get(n) is not None for n in names):
        return True
    return known is None and bool(index.planned)


def _vendored(files: DistFiles) -> frozenset[str]:
    """The names ``files`` has right below one of the _VENDOR_DIRS (``pkg._vendor.NAME``)."""
    pairs = (f.rsplit(".", 2)[-2:] for f in (*files.folders, *files.py))
    return frozenset(p[1] for p in pairs if len(p) == 2 and p[0] in _VENDOR_DIRS)


def _finding(importer: Dist, top: str, known: Provider | None, runs: list[tuple[Reach, ImportLine]]) -> Finding:
    runs.sort(key=lambda r: (-r[0].severity, r[0].path, r[1].line))
    worst = runs[0][0]
    seen = f"ModuleNotFoundError: No module named '{top}'"
    a = importer.display_name
    if known is not None:
        install = (
            f"Install {known.distribution}, the distribution that provides {top} (or a release of {a} that "
            f"declares it)."
        )
        fix: tuple[str, ...] = (known.distribution,)
        advice: tuple[str, ...] = ()
        packages: tuple[str, ...] = (importer.name, canonical(known.distribution))
        extra: tuple[str, ...] = (known.evidence,)
    else:
        install = (
            f"envdoctor does not know which distribution provides the module {top} (a distribution's name "
            f"can differ from its module's): find it and install it, or use a release of {a} that does not "
            "import it."
        )
        fix = ()
        advice = (f"the distribution that provides the module {top} (not known to envdoctor)",)
        packages = (importer.name,)
        extra = ()
    detail = (
        f"Fails {worst.when}, with {seen}. No installed distribution provides {top}, and {a} does not declare "
        f"it, so pip check is satisfied (another package may have brought it in before). {install}"
    )
    more = f" ({len(runs)} import statements)" if len(runs) > 1 else ""
    return Finding(
        id=ID,
        severity=worst.severity,
        title=f"{importer.label} imports {top}, which is not installed and which {a} does not declare{more}",
        detail=detail,
        packages=packages,
        evidence=(
            *(f"{reach.path}:{imp.line}: {statement(imp)}" for reach, imp in runs[:_SHOWN]),
            f"{importer.metadata_path}: no Requires-Dist names {known.distribution if known else top}",
            *extra,
        ),
        fix=fix,
        advice=advice,
        check=CHECK,
    )
