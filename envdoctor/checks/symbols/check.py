"""Cross-package symbol links: does the module that A imports from B define that name in the installed B?

The failure pip check cannot see: ``from transformers import Trainer`` dies with ``cannot import name
'clear_device_cache' from 'accelerate.utils.memory'`` while every declared requirement holds
(peft >= 0.15 imports it; accelerate defines it only from 0.32.0; peft declares accelerate>=0.21.0).

Emits, per broken import statement:

- symbol-missing: ``from B.m import n`` where the installed B's module m does not bind n (nor has
  a submodule n, nor gets it from a star import), and m's names are fully known from its source.
- module-missing: ``import B.m`` / ``from B.m import ...`` where the installed B has no module m.

Severity: error when the import runs at module level and the module is reached (through
module-level imports) from ``import A`` or a well-known entry point such as
``from transformers import Trainer``; warning when it is reached by nothing we know of, or sits
in a function. Imports guarded by ``try/except ImportError`` and ``TYPE_CHECKING`` imports are
not findings; the ``except ImportError:`` fallback is one only when the import it stands in for fails
too (info when that cannot be known); an import under ``if is_X_available(...)`` whose minimum version
the installed X misses never runs (info, and the detail says so). A module whose names cannot be
known statically (a module ``__getattr__``, writes to ``globals()``, a compiled extension) is
"unknown": never reported as broken; so are the missing module paths of a distribution that installs
an import hook (``sys.meta_path``), and the names of its packages that the hook's table spells as
module paths.

The text pass over every file is cheap; ast runs only on modules something imports from and on
files with a suspicious import. Reads files through SourceIndex; starts no process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envdoctor.checks.symbols.links import CHECK
from envdoctor.checks.symbols.resolver import Resolver
from envdoctor.checks.symbols.undeclared import check_undeclared
from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.report import Finding, Severity
from envdoctor.source.index import SourceIndex
from envdoctor.source.installed import unread_note

if TYPE_CHECKING:
    from envdoctor.knowledge.importers import Lookup


def check_symbols(index: SourceIndex, facts: Facts | None = None, releases: Lookup | None = None) -> list[Finding]:
    """Findings for every broken cross-package import (``broken_names``), then for every undeclared dependency
    (``undeclared``); fixes computed from ``facts`` where they cover the case, else, for an error, from the
    importer's release wheels read by ``releases`` (envdoctor.knowledge.importers)."""
    facts = facts or Facts(None)
    return broken_names(index, facts, releases) + undeclared(index, facts)


def broken_names(index: SourceIndex, facts: Facts | None = None, releases: Lookup | None = None) -> list[Finding]:
    """symbol-missing and module-missing: the first part of ``check_symbols``."""
    resolver = Resolver(index, facts or Facts(None), releases)
    findings: list[Finding] = []
    for files in index.files.values():
        for rel, imp in index.imports(files):
            brk = resolver.broken(files, rel, imp)
            if brk is None:
                continue
            finding = resolver.confirm(brk)
            if finding is not None:
                findings.append(finding)
    return findings


def undeclared(index: SourceIndex, facts: Facts | None = None) -> list[Finding]:
    """module-undeclared (envdoctor.checks.symbols.undeclared): the second part of ``check_symbols``. Its own
    Resolver reads only the index, so it finds the same after ``broken_names`` or without it (a forked child,
    envdoctor.diagnose); ``index.unread`` gets the files it could not parse."""
    return check_undeclared(index, Resolver(index, facts or Facts(None), unconditional=True))


def unverified(index: SourceIndex) -> list[Finding]:
    """One note naming the distributions whose files are not listed (no RECORD: egg-info, some
    system or editable installs): their imports were not checked; and one naming the files that
    could not be read or parsed."""
    unread = unread_note(index.unread, CHECK)
    if not index.uncovered:
        return unread
    names = sorted(d.name for d in index.uncovered)
    return [
        Finding(
            id="symbols-unverified",
            severity=Severity.INFO,
            title=f"imports of {len(names)} distribution(s) were not checked: no file list (RECORD)",
            detail="envdoctor reads the files a distribution installed from its RECORD; these have none "
            "(egg-info installs, editable installs, some system packages).",
            packages=tuple(names),
            evidence=tuple(d.path for d in index.uncovered[:20]),
            check=CHECK,
        ),
        *unread,
    ]
