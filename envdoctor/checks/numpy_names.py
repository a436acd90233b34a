"""Names removed from numpy's main namespace in 2.0, used by installed packages: found in their sources.

``np.float_`` in a module-level dtype table fails at import under numpy 2 with ``AttributeError: `np.float_`
was removed in the NumPy 2.0 release``, while pip check stays clean when the package declares no numpy<2
cap. The removed names are harvested from the numpy 2.0.0 wheel (matrix/facts/numpy-2.0-removed.json).

A text pass finds ``np.NAME`` / ``numpy.NAME`` for the removed names in the .py files of every
distribution that requires numpy; ast confirms each hit (an attribute of a name bound by
``import numpy [as x]``) and tells whether it runs at import (module level, class bodies included) or
only when a function is called. Results are cached per distribution.
"""

from __future__ import annotations

import ast
import json
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from envdoctor.checks.rules import Files, Match, requires
from envdoctor.inventory import Dist, Inventory
from envdoctor.matrix import Rule

FACT = "numpy-2.0-removed.json"


@dataclass(frozen=True)
class Use:
    rel: str
    line: int
    name: str
    at_import: bool


@cache
def removed_names() -> dict[str, str]:
    """Removed name -> what numpy 2 says to use instead (from the harvested fact)."""
    from envdoctor.resources import data_dir

    data = json.loads((data_dir("matrix") / "facts" / FACT).read_text(encoding="utf-8"))
    names = {str(k): str(v) for k, v in data["expired"].items()}
    names.update({str(n): "" for n in data.get("moved_or_removed", []) if n not in names})
    return names


def _pattern(names: frozenset[str]) -> re.Pattern[bytes]:
    alternatives = b"|".join(re.escape(n.encode()) for n in sorted(names, key=len, reverse=True))
    return re.compile(rb"\b(?:np|numpy)\.(?:" + alternatives + rb")\b")


def uses(data: bytes, names: frozenset[str]) -> list[tuple[int, str, bool]]:
    """(line, name, at import time) for each access to a removed name through an imported numpy."""
    if b"np." not in data and b"numpy." not in data:
        return []
    if not _pattern(names).search(data):
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return []
    aliases = {
        a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names if a.name == "numpy"
    }
    found: list[tuple[int, str, bool]] = []
    _walk(tree, aliases, names, True, found)
    return sorted(set(found))


def _walk(
    node: ast.AST, aliases: set[str], names: frozenset[str], at_import: bool, out: list[tuple[int, str, bool]]
) -> None:
    for child in ast.iter_child_nodes(node):
        inner = at_import and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if (
            isinstance(child, ast.Attribute)
            and child.attr in names
            and isinstance(child.value, ast.Name)
            and child.value.id in aliases
        ):
            out.append((child.lineno, child.attr, at_import))
        _walk(child, aliases, names, inner, out)


def _dist_uses(dist: Dist, files: Files) -> list[Use]:
    names = frozenset(removed_names())

    def compute() -> dict[str, object]:
        found = []
        for rel in files.listed(dist):
            if not rel.endswith(".py") or rel.startswith("..") or "/tests/" in f"/{rel}":
                continue
            data = files.read(dist, rel, limit=16 * 1024 * 1024)
            for line, name, at_import in uses(data or b"", names):
                found.append([rel, line, name, at_import])
        return {"uses": found}

    raw = files.remembered("numpy2-names", dist, compute)["uses"]
    return [Use(str(r[0]), int(r[1]), str(r[2]), bool(r[3])) for r in raw] if isinstance(raw, list) else []


def _signal(at_import: bool) -> Callable[[Inventory, Rule, Files], list[Match]]:
    def signal(inv: Inventory, rule: Rule, files: Files) -> list[Match]:
        out = []
        messages = removed_names()
        for dist in inv.winners.values():
            if dist.name == "numpy" or not requires(dist, "numpy"):
                continue
            hits = [u for u in _dist_uses(dist, files) if u.at_import == at_import]
            if not hits:
                continue
            shown = sorted({u.name for u in hits})
            evidence = tuple(
                f"{os.path.join(dist.location, u.rel)}:{u.line}: np.{u.name}"
                + (f" (numpy 2: {messages[u.name]})" if messages.get(u.name) else "")
                for u in hits[:5]
            )
            values = {"dist": dist.display_name, "dist_version": dist.raw_version or "", "names": ", ".join(shown)}
            out.append(Match((dist.name, "numpy"), values, evidence))
        return out

    return signal


at_import = _signal(True)
in_function = _signal(False)
