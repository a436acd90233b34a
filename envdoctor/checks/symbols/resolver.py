"""Resolving cross-package imports against the installed sources: whether the module an import names exists
and binds the names it takes, which module-level chain reaches it from ``import A`` or a well-known entry point,
whether a gate or a handler keeps it from running, and the finding (with its fix) for a confirmed break.
The check that drives it is envdoctor.checks.symbols.check."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from envdoctor.checks.symbols.alternatives import computed_fix
from envdoctor.checks.symbols.links import CHECK, Break, Found, Reach, statement
from envdoctor.inventory import Dist
from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.report import Finding, Severity
from envdoctor.source.index import DistFiles, Located, SourceIndex, absolute, dotted_parent
from envdoctor.source.syntax import Context, Gate, ImportSite, ModuleInfo, min_version_defaults
from envdoctor.source.text import ImportLine
from envdoctor.versions import InvalidVersion, canonical, parse_version

if TYPE_CHECKING:
    from envdoctor.knowledge.importers import Lookup


ENTRY_POINTS: tuple[tuple[str, str], ...] = (
    # What users type first, and the module that statement imports. transformers' top level is a
    # lazy module, so `from transformers import Trainer` imports transformers.trainer (the lazy
    # `_import_structure` maps Trainer to "trainer"); transformers.trainer imports peft at module
    # level when peft is installed.
    ("from transformers import Trainer", "transformers.trainer"),
    ("from transformers import AutoModelForCausalLM", "transformers.modeling_utils"),
    ("from trl import SFTTrainer", "trl.trainer.sft_trainer"),
    ("from accelerate import Accelerator", "accelerate.accelerator"),
    ("from datasets import load_dataset", "datasets.load"),
    ("from peft import get_peft_model", "peft.mapping"),
)
_MAX_EXPANDED = 5000
"""Modules one reachability search may parse: a bound on the cost of one finding's chain."""


class Resolver:
    def __init__(
        self, index: SourceIndex, facts: Facts, releases: Lookup | None = None, *, unconditional: bool = False
    ) -> None:
        """``releases``: reads an importer's release wheels (pin's path); ``unconditional``: reach modules only
        through imports that run in every environment (not under an ``if``, not in an ``except`` handler)."""
        self.index = index
        self.facts = facts
        self.releases = releases
        self.unconditional = unconditional
        self._text_edges: dict[str, list[str]] = {}
        self._names: dict[tuple[str, str], Found] = {}
        self._reach: dict[tuple[str, str], dict[str, str | None]] = {}
        self._gates: dict[tuple[str, Gate], str] = {}
        self._floors: dict[str, dict[str, str]] = {}  # per file: each is_X_available's default minimum version

    # -- is the link broken? ---------------------------------------------------------------

    def broken(self, files: DistFiles, rel: str, imp: ImportLine) -> Break | None:
        loc = self.index.locate(imp.module)
        if loc is None:
            return self._missing_module(files, rel, imp)
        if loc.dist.name == files.dist.name or not imp.names:
            return None
        missing = tuple(n for n in imp.names if n != "*" and self.has(imp.module, n) is Found.NO)
        return Break(files, rel, imp, loc, missing) if missing else None

    def _missing_module(self, files: DistFiles, rel: str, imp: ImportLine) -> Break | None:
        owner = self.index.owner(imp.module)
        if owner is None or owner.dist.name == files.dist.name:
            return None  # not installed at all (an optional dependency), or our own
        for parent in reversed(list(dotted_parent(imp.module))):
            ploc = self.index.locate(parent)
            if ploc is None:
                continue
            if ploc.kind != "package":
                return None  # below an extension module or a namespace folder: cannot know
            info = self.index.info(ploc)
            child = imp.module[len(parent) + 1 :].split(".")[0]
            if info is None or info.dynamic or info.lazy or child in info.names:
                return None  # an attribute, or a submodule made on first access
            if self._hook_paths(ploc) is not None:
                return None  # a path without a file, which the distribution's import hook may serve
            return Break(files, rel, imp, ploc, (), missing_module=f"{parent}.{child}")
        return None

    def has(self, module: str, name: str) -> Found:
        """Whether ``from module import name`` finds ``name`` in the installed files."""
        key = (module, name)
        hit = self._names.get(key)
        if hit is None:
            hit = self._has(module, name)
            loc = self.index.locate(module) if hit is Found.NO else None
            if loc is not None and f"{module}.{name}" in (self._hook_paths(loc) or ()):
                hit = Found.UNKNOWN  # `from pkg import name` imports pkg.name, which the hook's table lists
            self._names[key] = hit
        return hit

    def _hook_paths(self, package: Located) -> frozenset[str] | None:
        """The paths an import hook of ``package``'s distribution spells, when there is one; None for a
        plain module (a hook adds no names to it) or a distribution without a hook."""
        files = self.index.files.get(package.dist.name)
        return self.index.hook_paths(files) if package.kind == "package" and files is not None else None

    def _has(self, module: str, name: str) -> Found:
        loc = self.index.locate(module)
        if loc is None:
            return Found.UNKNOWN
        if loc.kind in {"package", "namespace"} and self.index.locate(f"{module}.{name}") is not None:
            return Found.YES  # a submodule: `from pkg import sub` imports it
        if loc.kind in {"package", "module"}:
            known = self.index.known_names(loc)  # facts first: a harvested release's file needs no reading
            if known is not None and name in known:
                self.index.answered_by_facts += 1
                return Found.YES
            if self.index.defines_by_text(loc, name):
                return Found.YES
        info = self.index.info(loc) if loc.kind in {"package", "module"} else None
        if info is None:
            return Found.UNKNOWN  # a compiled extension or a namespace folder
        if name in info.names:
            return Found.YES
        exported = self.index.known_exports(loc) if info.stars else None
        if exported is not None:  # facts first: the harvested release's star chains, already walked
            self.index.answered_by_facts += 1
            return Found.YES if name in exported else Found.UNKNOWN if info.dynamic else Found.NO
        found = self._through_stars(loc, info, name)
        if found is Found.YES:
            return Found.YES
        return Found.UNKNOWN if found is Found.UNKNOWN or info.dynamic else Found.NO

    def _through_stars(self, loc: Located, info: ModuleInfo, name: str) -> Found:
        """Whether one of ``loc``'s ``from X import *`` brings ``name``, depth first, stopping at the first
        that does: transformers' top level reaches AutoConfig through ``from .models import *`` and then
        ``from .auto import *``, without walking the other few hundred model packages."""
        unknown = False
        for target in self._star_targets(loc, info):
            found = self._star_gives(target, name)
            if found is Found.YES:
                return Found.YES
            unknown = unknown or found is Found.UNKNOWN
        return Found.UNKNOWN if unknown else Found.NO

    def _star_targets(self, loc: Located, info: ModuleInfo) -> Iterator[str]:
        """The modules ``loc``'s star imports read, less those that can bring nothing: a star under
        ``if TYPE_CHECKING:`` (never run) into a module its distribution does not ship (its RECORD lists
        every file). transformers 4.x's top level has ``from .utils.dummies_sentencepiece_and_tokenizers_objects
        import *`` there, a module no release ships; it made the whole top level unknown. Such a star that
        names, absolutely, a file of the package itself stands for that file; in a package built by
        ``define_import_structure`` (which reads the ``__all__`` of every file of the package at run time),
        a missing one stands for all of the package's files."""
        own = loc.kind == "package" and info.own_files
        for star, level in info.stars:
            target = absolute(loc.module, loc.kind == "package", star, level)
            if (star, level) in info.unrun_stars and self.index.locate(target) is None:
                sibling = f"{loc.module}.{star}"
                if level == 0 and loc.kind == "package" and self.index.locate(sibling) is not None:
                    yield sibling  # transformers 4.57's models/xlstm: `from configuration_xlstm import *`
                elif own:  # the names are stale (4.57's t5gemma names configuration_encdecgemma2): what the
                    own = False  # lazy module really reads is every file of the package
                    yield from self.index.children(loc.module)
                elif self.index.owner(target) is None:
                    yield target  # not installed at all: cannot know
                continue
            yield target

    def star_exports(self, module: str) -> tuple[frozenset[str], bool]:
        """Every name ``module``'s own star imports bring, and whether that set may be incomplete (a star
        into a module whose names cannot be known). The exhaustive walk: matrix/harvest.py stores its
        result per release, so that a check can skip it for harvested files."""
        loc = self.index.locate(module)
        info = self.index.info(loc) if loc is not None and loc.kind in {"package", "module"} else None
        if loc is None or info is None:
            return frozenset(), True
        names: set[str] = set()
        unknown = False
        for target in self._star_targets(loc, info):
            sub, sub_unknown = self._star_set(target, set())
            names |= sub
            unknown = unknown or sub_unknown
        return frozenset(names), unknown

    def _star_set(self, module: str, seen: set[str]) -> tuple[set[str], bool]:
        if module in seen:
            return set(), True
        seen.add(module)
        loc = self.index.locate(module)
        if loc is None:
            return set(), True
        listed = self.index.star_names(loc)
        if listed is not None:
            return set(listed), False
        info = self.index.info(loc)
        if info is None:
            return set(), True
        if info.all is not None and not info.dynamic:
            return set(info.all), False
        names = {n for n in info.names if not n.startswith("_")}
        unknown = bool(info.dynamic)
        for target in self._star_targets(loc, info):
            sub, sub_unknown = self._star_set(target, seen)
            names |= sub
            unknown = unknown or sub_unknown
        return names, unknown

    def _star_gives(self, module: str, name: str) -> Found:
        """Whether ``from module import *`` binds ``name``. Memoised; a cycle of star imports proves nothing."""
        key = (f"*{module}", name)
        hit = self._names.get(key)
        if hit is not None:
            return hit
        self._names[key] = Found.UNKNOWN
        loc = self.index.locate(module)
        result = Found.UNKNOWN
        if loc is not None:
            listed = self.index.star_names(loc)
            info = None if listed is not None else self.index.info(loc)
            if listed is not None:
                result = Found.YES if name in listed else Found.NO
            elif info is not None and info.all is not None and not info.dynamic:
                result = Found.YES if name in info.all else Found.NO
            elif info is not None:
                if name in info.names and not name.startswith("_"):
                    result = Found.YES
                else:
                    through = self._through_stars(loc, info, name)
                    result = Found.UNKNOWN if through is Found.NO and info.dynamic else through
        self._names[key] = result
        return result

    # -- does it run, and who reaches it? ------------------------------------------------------

    def runs(self, importer: DistFiles, rel: str, imp: ImportLine) -> Reach | None:
        """Where the import statement runs, and when it fails: None inside a string or where the package
        handles the failure (``try/except ImportError``, ``TYPE_CHECKING``)."""
        path = os.path.join(importer.dist.location, rel)
        site = _site_at(self.index.sites(importer.dist, path), imp)
        if site is None or site.context in {Context.TYPE_CHECKING, Context.GUARDED}:
            return None
        chain: tuple[str, list[str]] | None = None
        if site.context in {Context.MODULE, Context.FALLBACK}:
            chain = self.reached_by(importer, _module_of(rel))
        dead = site.function.startswith("_") and self.index.mentions(importer, site.function) <= 1
        return Reach(path, site, *_severity(rel, site, chain, dead))

    def confirm(self, brk: Break) -> Finding | None:
        reach = self.runs(brk.importer, brk.rel, brk.imp)
        if reach is None:
            return None  # inside a string, or a failure the package handles
        fallback = ""
        if reach.site.context is Context.FALLBACK:
            first = self.primary_fails(brk, reach.site)
            if first is False:
                return None  # the import it stands in for works here: this line never runs
            fallback = f"line {reach.site.primary[0].line}" + (", which fails too" if first else "")
        finding = _finding(brk, reach, fallback=fallback, skipped=self._skipped_at(brk, reach.site))
        planned = computed_fix(self.facts, self.index.inv, brk)
        if planned is None:
            return self._read_fix(finding, brk)
        text, fixes, evidence = planned
        return dataclasses.replace(
            finding, detail=f"{finding.detail} {text}", fix=fixes, advice=(), evidence=finding.evidence + evidence
        )

    def _read_fix(self, finding: Finding, brk: Break) -> Finding:
        """Where the facts do not cover the pair: for an error, the importer's nearest releases on each side
        that do not import the name, read from their wheels; else the fix says plainly that was not checked."""
        if self.releases is None or finding.severity < Severity.ERROR or not brk.missing:
            return finding
        from envdoctor.knowledge.importers import describe  # pin's path only: it starts pip

        nearest = self.releases(brk.importer.dist, brk.imp.module, brk.missing[0])
        text, lines, advice = describe(nearest, brk.importer.dist, brk.missing[0])
        return dataclasses.replace(  # the importer's side of the advice is replaced by what was read
            finding,
            detail=f"{finding.detail} Read from wheels: {text}.",
            fix=(*finding.fix, *lines),
            advice=(*finding.advice[:1], *advice),
        )

    def primary_fails(self, brk: Break, site: ImportSite) -> bool | None:
        """For a fallback import: whether the imports it stands in for fail in the installed set (True),
        all work (False: the fallback never runs), or cannot be known (None)."""
        here = _module_of(brk.rel)
        unknown = False
        for first in site.primary:
            module = absolute(here, brk.rel.endswith("__init__.py"), first.module, first.level)
            if self.index.locate(module) is None:
                top = module.split(".")[0]
                if self.index.owner(module) is None and top not in sys.stdlib_module_names:
                    return True  # not installed at all: the ImportError the fallback is for
                unknown = True
                continue
            found = {self.has(module, n) for n in first.names if n != "*"}
            if Found.NO in found:
                return True
            unknown = unknown or Found.UNKNOWN in found
        return None if unknown else False

    def _skipped_at(self, brk: Break, site: ImportSite) -> str:
        here = self.index.locate(_module_of(brk.rel)) if site.available else None
        return self.skipped_by(here, site) if here is not None else ""

    def skipped_by(self, loc: Located, site: ImportSite) -> str:
        """Why the ``if is_X_available(...):`` branch holding an import in ``loc`` is skipped with the
        installed versions, or "" when it runs or that cannot be known."""
        for gate in site.available:
            key = (loc.dist.name, gate)  # one definition of is_X_available per distribution
            if key not in self._gates:
                self._gates[key] = self._gate_false(loc, gate)
            if self._gates[key]:
                return self._gates[key]
        return ""

    def _gate_false(self, where: Located, gate: Gate) -> str:
        """Two cases are known: X is installed below the minimum the call asks for (its literal, or the
        function's ``min_version`` default read from its source); X is not installed at all and the
        function's file looks X up by name (``find_spec("torch")``), so the test looks for X itself."""
        how = f'{gate.function}("{gate.min_version}")' if gate.min_version else f"{gate.function}()"
        found = self.index.defining(where.dist, where.path, where.module, gate.function) if where.path else None
        source = found[1] if found is not None else None
        loc = self.index.locate(gate.package)
        if loc is None:
            named = source is not None and _looks_up(source, gate.package)
            if named and self.index.inv.get(gate.package) is None:
                return f"{how} is false: {gate.package} is not installed"
            return ""
        dist = loc.dist
        if found is not None and found[0] not in self._floors:
            self._floors[found[0]] = min_version_defaults(found[1])
        default = self._floors[found[0]].get(gate.function) if found is not None else None
        floor = gate.min_version or default or ""
        try:
            below = bool(floor) and dist.version is not None and dist.version < parse_version(floor)
        except InvalidVersion:
            return ""
        return f"{how} asks for {dist.display_name}>={floor}, and {dist.raw_version} is installed" if below else ""

    def reached(self, importer: DistFiles, rel: str) -> bool:
        """Whether a root reaches the module of the file ``rel`` of ``importer`` (what ``runs`` asks for a
        module-level import), without reading the import's own context."""
        return self.reached_by(importer, _module_of(rel)) is not None

    def reached_by(self, importer: DistFiles, target: str) -> tuple[str, list[str]] | None:
        """The first root (an ``import A`` or an entry point) whose module-level imports reach ``target``."""
        roots = [(f"import {top}", top) for top in sorted(importer.top_level)]
        roots += [(label, m) for label, m in ENTRY_POINTS if self.index.locate(m) is not None]
        for label, root in roots:
            parents = self._tree(root, importer.dist.name)
            if target in parents:
                return label, _path(parents, target)
        return None

    def _tree(self, root: str, importer: str) -> dict[str, str | None]:
        """Breadth-first search over module-level imports from ``root``, expanding only modules of
        the importer's distribution and of the root's own (the links a chain to the importer needs)."""
        key = (root, importer)
        if key in self._reach:
            return self._reach[key]
        root_loc = self.index.locate(root)
        allowed = {importer, root_loc.dist.name if root_loc else importer}
        parents: dict[str, str | None] = {root: None}
        queue = deque([root])
        expanded = 0
        while queue and expanded < _MAX_EXPANDED:
            module = queue.popleft()
            loc = self.index.locate(module)
            if loc is None or loc.path is None or loc.dist.name not in allowed:
                continue
            expanded += 1
            for nxt in self._edges(loc):
                if nxt not in parents:
                    parents[nxt] = module
                    queue.append(nxt)
        self._reach[key] = parents
        return parents

    def _edges(self, loc: Located) -> Iterator[str]:
        assert loc.path is not None
        if self.unconditional:  # imports at column 0 run in every environment: the text says so, no parse
            if loc.path not in self._text_edges:
                self._text_edges[loc.path] = list(self._column0_edges(loc))
            yield from self._text_edges[loc.path]
            return
        for site in self.index.sites(loc.dist, loc.path) or ():
            if site.context is not Context.MODULE or (self.unconditional and site.conditional):
                continue
            if site.available and self.skipped_by(loc, site):
                continue  # diffusers' `if is_torch_available(): from .pipeline_utils import ...` without torch
            target = absolute(loc.module, loc.kind == "package", site.module, site.level)
            if not target:
                continue
            yield from dotted_parent(target)
            yield target
            for name in site.names:
                sub = f"{target}.{name}"
                if name != "*" and self.index.locate(sub) is not None:
                    yield sub

    def _column0_edges(self, loc: Located) -> Iterator[str]:
        """The modules ``loc`` imports at column 0 (outside any ``if``, ``try``, ``def`` or ``with``), found by
        text: the cold check reaches through thousands of files, and parsing each costs far more than reading
        it. A column-0 line inside a string can add an edge that does not exist; the import a finding is about
        is still confirmed with ``ast`` (``runs``)."""
        assert loc.path is not None
        for level, module, names in self.index.column0(loc):
            target = absolute(loc.module, loc.kind == "package", module, level)
            if not target:
                continue
            yield from dotted_parent(target)
            yield target
            for name in names:
                sub = f"{target}.{name}"
                if name != "*" and self.index.locate(sub) is not None:
                    yield sub


def _site_at(sites: list[ImportSite] | None, imp: ImportLine) -> ImportSite | None:
    for site in sites or ():
        if site.line == imp.line and site.level == 0 and site.module == imp.module:
            return site
    return None


def _looks_up(source: bytes, package: str) -> bool:
    """Whether ``source`` asks for ``package`` by name: ``find_spec("torch")``, transformers'
    ``_is_package_available("torch")``, ``importlib.metadata.version("torch")``. A bare string is not
    enough: transformers' BACKENDS_MAPPING has ``("vision", ...)`` for Pillow."""
    name = re.escape(package.encode())
    return (
        re.search(rb"(?:find_spec|_is_package_available|import_module|version)\(\s*[\"']" + name + rb"[\"']", source)
        is not None
    )


def _module_of(rel: str) -> str:
    stem = rel[:-3] if rel.endswith(".py") else rel
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_script(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.startswith("convert_") or name == "__main__.py"


def _path(parents: dict[str, str | None], target: str) -> list[str]:
    out = [target]
    while (prev := parents.get(out[-1])) is not None:
        out.append(prev)
    return out[::-1]


def _declared(importer: Dist, provider: Dist) -> str:
    for req in importer.requires:
        if canonical(req.name) == provider.name:
            if req.marker is not None and "extra" in str(req.marker):
                return f"{importer.display_name} lists {provider.display_name} only in an extra ({req})"
            return f"{importer.display_name} declares {req}"
    return f"{importer.display_name} does not declare {provider.display_name} as a requirement"


def _severity(rel: str, site: ImportSite, chain: tuple[str, list[str]] | None, dead: bool) -> tuple[Severity, str]:
    """The README's severity rule for a failing import, and when it fails."""
    if site.context is Context.FUNCTION and dead:
        severity, when = (
            Severity.INFO,
            f"only if {site.function}() is called (a private function nothing in its distribution calls)",
        )
    elif site.context is Context.FUNCTION:
        severity, when = Severity.WARNING, "when the function that holds this import is called"
    elif chain is None:
        severity, when = Severity.WARNING, f"when {_module_of(rel)} is imported (nothing well-known imports it)"
    else:
        severity, when = Severity.ERROR, f"at `{chain[0]}`: {' -> '.join(chain[1])}"
    if chain is None and _is_script(rel):  # transformers' convert_*_to_pytorch.py: run by hand, never imported
        severity = Severity.INFO
        when = f"when the script {_module_of(rel)} is run"
    if site.gated:  # `if transformers_lt_4_56: from transformers import HybridCache`: the package
        # chose this branch by version; it runs only where the version test says so.
        severity = Severity(max(Severity.INFO, severity - 10))
        when += " (in a branch taken only for some versions)"
    return severity, when


def _finding(brk: Break, reach: Reach, *, fallback: str = "", skipped: str = "") -> Finding:
    a, b = brk.importer.dist, brk.provider.dist
    imp = brk.imp
    where = f"{reach.path}:{imp.line}"
    if brk.missing_module:
        what = f"module {brk.missing_module}"
        title = f"{a.label} imports {imp.module}, but {b.label} has no module {brk.missing_module}"
        seen = f"ModuleNotFoundError: No module named '{brk.missing_module}'"
    else:
        names = ", ".join(brk.missing)
        what = f"{names} in {imp.module}"
        title = f"{a.label} imports {names} from {imp.module}, which {b.label} does not define"
        seen = f"ImportError: cannot import name '{brk.missing[0]}' from '{imp.module}'"
    severity, when = reach.severity, reach.when
    if fallback and not fallback.endswith("fails too"):  # scikit-learn's `except ImportError:` for an old scipy
        severity = Severity.INFO
        when = f"only if the import it falls back from ({fallback}) fails, and then {when}"
    elif fallback:
        when += f" (it is the fallback for the import at {fallback})"
    detail = (
        f"Fails {when}, with {seen}. {_declared(a, b)}, so pip check is satisfied; the installed "
        f"{b.display_name} {b.raw_version} lacks {what}."
    )
    if skipped:  # `if is_accelerate_available("0.28.0"):` under accelerate 0.25.0: the branch does not run
        severity = Severity.INFO
        detail = (
            f"Does not fail here: the import is in a branch the installed versions skip ({skipped}), so it "
            f"never runs and {a.display_name} goes on as if that optional part were absent. {_declared(a, b)}; "
            f"the installed {b.display_name} {b.raw_version} lacks {what}."
        )
    provider_file = brk.provider.path or brk.provider.module
    return Finding(
        id="module-missing" if brk.missing_module else "symbol-missing",
        severity=severity,
        title=title,
        detail=detail,
        packages=(a.name, b.name),
        evidence=(f"{where}: {statement(imp)}", f"{provider_file}: {b.label} has no {what}"),
        advice=(  # no direction is guessed: a newer release may have dropped a name, or the import
            f"a release of {b.display_name} that provides {what} (which ones was not checked)",
            f"or a release of {a.display_name} that does not import it (which ones was not checked; "
            "`envdoctor pin` reads its releases' wheels)",
        ),
        check=CHECK,
    )
