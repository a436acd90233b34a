"""``envdoctor check --script FILE``: the user's own code read statically (a script, or a notebook's code cells)
against what is installed.

Two kinds of finding, each with where it is (``train.py:12``, ``nb.ipynb cell 3 line 2``) and its fix:

- ``script-import-missing``: ``import a.b`` / ``from a.b import n`` where an installed distribution provides
  ``a`` but not the module ``a.b`` or the name ``n`` (the same resolution as the cross-package check:
  envdoctor.checks.symbols.Resolver over the installed sources; a module whose names cannot be known
  statically is never reported). The fix: the releases that ship it (harvested facts), as a specifier.
- ``script-keyword``: a call of a harvested callable (``Trainer(...)``, ``SFTTrainer(...)``, ``SFTConfig(...)``,
  ``Accelerator(...)``: matrix/facts/signatures) with a keyword argument the installed release does not accept:
  an error, with the renamed keyword to use instead (``processing_class=`` for ``tokenizer=``, and the reverse)
  and the releases that accept it; a keyword the installed release accepts only as a deprecated alias is a
  warning. A release newer or older than every harvested one is not judged.

Names are followed through the file's imports (``from transformers import Trainer as T``, ``import trl``);
assignments, functions and classes of the user's own are not. Nothing is imported or run.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from envdoctor.checks.symbols.alternatives import nearest_runs
from envdoctor.checks.symbols.keywords import ranges, taken
from envdoctor.checks.symbols.links import Found
from envdoctor.checks.symbols.resolver import Resolver
from envdoctor.errors import UsageError
from envdoctor.inventory import Dist
from envdoctor.knowledge.wheelfacts import Facts, containing
from envdoctor.report import Finding, Severity
from envdoctor.source.index import SourceIndex
from envdoctor.versions import Version, version_or_none

CHECK = "script"


@dataclass(frozen=True)
class Cell:
    """One piece of code: a script (``number`` 0) or a notebook's code cell (numbered from 1, as shown)."""

    file: str
    number: int
    code: str

    def where(self, line: int) -> str:
        return f"{self.file}:{line}" if self.number == 0 else f"{self.file} cell {self.number} line {line}"


def read_cells(path: str) -> list[Cell]:
    """The code of ``path``: a ``.py`` file is one piece; a ``.ipynb`` file gives its code cells, with IPython's
    magics and shell lines (``%pip``, ``!envdoctor``) blanked so the rest parses. Raises UsageError."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--script {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not path.endswith(".ipynb"):
        return [Cell(path, 0, text)]
    try:
        cells = json.loads(text)["cells"]
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"--script {path}: not a Jupyter notebook (no cells)") from None
    out: list[Cell] = []
    for i, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        code = "".join(source) if isinstance(source, list) else str(source)
        if code.lstrip().startswith("%%"):
            continue  # a cell magic: not Python
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in code.split("\n")]
        out.append(Cell(path, i, "\n".join(lines)))
    return out


def scan(paths: Sequence[str], index: SourceIndex, facts: Facts) -> list[Finding]:
    """The findings for every file in ``paths`` (see the module's docstring)."""
    findings: list[Finding] = []
    for path in paths:
        scanner = _Scanner(index, facts)
        for cell in read_cells(path):
            try:
                tree = ast.parse(cell.code, filename=path)
            except SyntaxError:
                continue  # Python reports it when the file runs; the next cells still count
            for node in _ordered(tree):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    findings += scanner.imports(node, cell)
                elif isinstance(node, ast.Call):
                    findings += scanner.call(node, cell)
    return findings


def _ordered(tree: ast.AST) -> Iterator[ast.stmt | ast.expr]:
    """Every statement and expression, in source order (an import before the calls below it)."""
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.stmt | ast.expr)]
    return iter(sorted(nodes, key=lambda n: (n.lineno, n.col_offset)))


class _Scanner:
    """One file's scan: ``names`` maps each local name an import binds to the dotted name it stands for."""

    def __init__(self, index: SourceIndex, facts: Facts) -> None:
        self.index = index
        self.facts = facts
        self.resolver = Resolver(index, facts)
        self.names: dict[str, str] = {}

    def imports(self, node: ast.Import | ast.ImportFrom, cell: Cell) -> list[Finding]:
        where = cell.where(node.lineno)
        if isinstance(node, ast.Import):
            out: list[Finding] = []
            for alias in node.names:
                top = alias.name.split(".", maxsplit=1)[0]
                self.names[alias.asname or top] = alias.name if alias.asname else top
                out += self.missing_module(alias.name, f"import {alias.name}", where)
            return out
        if node.level or not node.module:
            return []  # a relative import: the user's own package
        module = node.module
        for alias in node.names:
            if alias.name != "*":
                self.names[alias.asname or alias.name] = f"{module}.{alias.name}"
        statement = f"from {module} import {', '.join(a.name for a in node.names)}"
        missing = self.missing_module(module, statement, where)
        owner = self.index.owner(module)
        if missing or owner is None:
            return missing
        lacking = [a.name for a in node.names if a.name != "*" and self.resolver.has(module, a.name) is Found.NO]
        if not lacking:
            return []
        dist = owner.dist
        provided = [self.facts.providing(dist.name, module, n) for n in lacking]
        good = None if any(p is None for p in provided) else set.intersection(*[p for p in provided if p is not None])
        what = ", ".join(lacking)
        title = (
            f"{where}: `{statement}` fails: {dist.display_name} {dist.raw_version} does not define {what} in {module}"
        )
        verb = "is" if len(lacking) == 1 else "are"
        fix = _Fix(dist, self.facts.versions(dist.name), good, f"{what} {verb} defined in {module}")
        return [fix.finding("script-import-missing", title)]

    def missing_module(self, module: str, statement: str, where: str) -> list[Finding]:
        owner = self.index.owner(module)
        if owner is None or self.index.locate(module) is not None:
            return []  # not installed at all (the user's own module, or nothing to compare with), or present
        dist = owner.dist
        shipped = self.facts.shipping(dist.name, module)
        versions, good = shipped if shipped is not None else ([], None)
        title = f"{where}: `{statement}` fails: {dist.display_name} {dist.raw_version} has no module {module}"
        return [_Fix(dist, versions, good, f"{module} ships").finding("script-import-missing", title)]

    def call(self, node: ast.Call, cell: Cell) -> list[Finding]:
        dotted = _dotted(node.func, self.names)
        keywords = [k.arg for k in node.keywords if k.arg is not None]
        owner = self.index.owner(dotted) if dotted is not None and keywords else None
        if dotted is None or owner is None or owner.dist.version is None:
            return []
        dist, installed = owner.dist, owner.dist.version
        harvested = _signature(self.facts, dist.name, dotted)
        if harvested is None:
            return []
        versions, entry = harvested
        known = [v for v in (version_or_none(x) for x in versions) if v is not None]
        if not known or not known[0] <= installed <= known[-1]:
            return []  # a release outside the harvested ones: not judged
        params: dict[str, Any] = entry.get("params", {})
        renamed: dict[str, dict[str, Any]] = entry.get("renamed", {})
        shown = dotted.rpartition(".")[2]
        label = f"{dist.display_name} {dist.raw_version}"
        out: list[Finding] = []
        for kw in keywords:
            how = taken(entry, kw, installed)
            if not how.refused and how.alias_of is None:
                continue  # accepted, or never a parameter of a harvested release (not judged)
            where = f"{cell.where(node.lineno)}: `{shown}({kw}=...)`"
            if how.alias_of is not None:
                alias_of = how.alias_of
                fix = _Fix(dist, versions, None, "", advice=(f"pass {alias_of}= instead of {kw}=",))
                title = f"{where}: {label} accepts {kw}= only as a deprecated alias of {alias_of}="
                detail = f"A later release removes {kw}=; {alias_of}= works in this one."
                out.append(fix.finding("script-keyword", title, Severity.WARNING, detail))
                continue
            accepted = {str(v) for v in versions if _accepts(params.get(kw), v)}
            instead = _instead(kw, params, renamed, installed)
            advice = (f"pass {instead}= instead of {kw}= (what {label} calls it)",) if instead else ()
            fix = _Fix(dist, versions, accepted, f"{shown} accepts {kw}=", advice=advice)
            title = f"{where} fails: {label} does not accept the keyword {kw}"
            detail = f"TypeError: {shown}.__init__() got an unexpected keyword argument '{kw}'"
            out.append(fix.finding("script-keyword", title, Severity.ERROR, detail))
        return out


@dataclass(frozen=True)
class _Fix:
    """The fix of a finding about ``dist``: the releases in ``good`` nearest the installed one (newer first),
    as specifiers; ``what`` says what they have, for the evidence."""

    dist: Dist
    versions: list[str]
    good: set[str] | None
    what: str
    advice: tuple[str, ...] = ()

    def finding(self, rid: str, title: str, severity: Severity = Severity.ERROR, detail: str = "") -> Finding:
        fix: list[str] = []
        evidence: list[str] = []
        installed = self.dist.version
        if self.good and installed is not None:
            down, up = nearest_runs(self.versions, self.good, installed)
            runs = [r for r in (up, down) if r is not None]
            fix = [r.spec(self.dist.name, upward=r is up) for r in runs]
            evidence = [f"{self.what} {r.span()} (harvested: matrix/facts)" for r in runs]
        return Finding(
            id=rid,
            severity=severity,
            title=title,
            detail=detail,
            packages=(self.dist.name,),
            evidence=tuple(evidence),
            fix=tuple(fix),
            advice=self.advice,
            check=CHECK,
        )


def _dotted(func: ast.expr, names: dict[str, str]) -> str | None:
    """The dotted name a call's function is bound to through the file's imports, or None."""
    attrs: list[str] = []
    while isinstance(func, ast.Attribute):
        attrs.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name) or func.id not in names:
        return None
    return ".".join([names[func.id], *reversed(attrs)])


def _signature(facts: Facts, dist: str, dotted: str) -> tuple[list[str], dict[str, Any]] | None:
    """The harvested parameters of the callable ``dotted``, also by its public name when the call names it
    through a submodule (``trl.trainer.sft_trainer.SFTTrainer`` is harvested as ``trl.SFTTrainer``)."""
    top, leaf = dotted.partition(".")[0], dotted.rpartition(".")[2]
    for name in dict.fromkeys((dotted, f"{top}.{leaf}")):
        found = facts.signature(dist, f"{name}.__init__") or facts.signature(dist, name)
        if found is not None:
            return found
    return None


def _instead(kw: str, params: dict[str, Any], renamed: dict[str, dict[str, Any]], installed: Version) -> str | None:
    """The name the installed release gives the parameter ``kw`` stands for: its new name (``tokenizer`` ->
    ``processing_class``), or its old one when ``kw`` is newer than the installed release."""
    for new in renamed.get(kw, {}):
        if containing(ranges(params.get(new)), installed):
            return new
    for old, news in renamed.items():
        if kw in news and containing(ranges(params.get(old)), installed):
            return old
    return None


def _accepts(spans: Any, version: str) -> bool:
    v = version_or_none(version)
    return v is not None and containing(ranges(spans), v) is not None


def scan_python(
    paths: Sequence[str], python: str | os.PathLike[str] | None = None, timeout: float = 60.0
) -> list[Finding]:
    """``scan`` of ``paths`` against the environment of ``python`` (default: this interpreter), over its
    installed sources (envdoctor's cache reused). Raises UsageError for a file that cannot be read."""
    from envdoctor.cache import Cache, default_dir
    from envdoctor.target import Target

    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"--script {path}: no such file")
    inv = Target.resolve(python).inventory(timeout=timeout)
    facts = Facts.shipped()
    index = SourceIndex(inv, Cache(default_dir()), facts)
    found = scan(paths, index, facts)
    index.save()
    return found
