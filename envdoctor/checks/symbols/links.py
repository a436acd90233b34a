"""The vocabulary of the symbols check, shared by its modules: the check's name, what a name lookup found,
a broken import (``Break``) and where it runs (``Reach``), and how an import statement is written."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from envdoctor.report import Severity
from envdoctor.source.index import DistFiles, Located
from envdoctor.source.syntax import ImportSite
from envdoctor.source.text import ImportLine

CHECK = "symbols"


class Found(enum.Enum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Reach:
    """Where a failing import runs: its file, its statement, the finding's severity and when it fails."""

    path: str
    site: ImportSite
    severity: Severity
    when: str


@dataclass(frozen=True)
class Break:
    importer: DistFiles
    rel: str
    imp: ImportLine
    provider: Located  # the module imported from (or, for a missing module, its nearest ancestor)
    missing: tuple[str, ...]  # names; () for a missing module
    missing_module: str = ""


def statement(imp: ImportLine) -> str:
    """The import statement as written (without an ``as`` alias)."""
    return f"from {imp.module} import {', '.join(imp.names)}" if imp.names else f"import {imp.module}"
