"""A baseline: the findings a project has accepted as they are (``--write-baseline FILE`` writes it,
``--baseline FILE`` or ``baseline = "FILE"`` in the configuration reads it).

A finding in the baseline stays in the report, marked suppressed with the reason ``baselined (FILE)``, and
never counts toward the exit code; a finding that is not in it counts as usual. Findings are matched by a key
that survives what changes between machines and releases: the finding id, its packages, and its title with
version numbers, absolute paths and line numbers taken out (``symbol-missing|peft,accelerate|peft * imports
clear_device_cache from accelerate.utils.memory, which accelerate * does not define``). So the same break on
another machine, or after a patch release that does not fix it, is still accepted; a new name missing, a new
package pair or a new kind of finding is not.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from pathlib import Path

from envdoctor import atomic
from envdoctor.errors import UsageError
from envdoctor.report import Finding, Report

SCHEMA = "envdoctor.baseline/1"

_PATH = re.compile(r"(?<![\w.])(?:~|[A-Za-z]:)?[/\\][^\s,;'\"()]*")
"""An absolute path (with its ``:LINE`` suffix, if any): ``/home/me/venv/lib/.../x.py:25``, ``C:\\x``, ``~/x``."""
_VERSION = re.compile(r"(?<![\w.])v?\d+(?:\.\d+)*(?:[-.+!]?[A-Za-z0-9]+)*(?![\w])")
"""A version number (``0.15.0``, ``2.13.0+cpu``, ``1.0rc1``): not a digit inside a name (``python3.11``)."""


def key(f: Finding) -> str:
    """The finding's stable key: id, packages, and its title without versions, paths and line numbers."""
    title = _VERSION.sub("*", _PATH.sub("PATH", f.title))
    return f"{f.id}|{','.join(f.packages)}|{' '.join(title.split())}"


def write(path: Path, report: Report) -> int:
    """Write the report's active findings (those no ignore suppresses) to ``path`` atomically, sorted by key;
    returns how many. Raises UsageError when the file cannot be written."""
    rows = {
        key(f): {"key": key(f), "id": f.id, "severity": str(f.severity), "packages": list(f.packages), "title": f.title}
        for f in report.active
    }
    doc = {"schema": SCHEMA, "findings": [rows[k] for k in sorted(rows)]}
    try:
        atomic.write_text(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise UsageError(f"--write-baseline {path}: {exc.strerror or exc}") from None
    return len(rows)


def read(path: Path) -> frozenset[str]:
    """The keys in the baseline ``path``; UsageError (naming the file) when it is missing or not a baseline."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = f"write it with `envdoctor check --write-baseline {path}`"
        raise UsageError(f"baseline {path}: no such file ({hint})") from None
    except OSError as exc:
        raise UsageError(f"baseline {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"baseline {path}: not JSON ({exc})") from None
    rows = doc.get("findings") if isinstance(doc, dict) and doc.get("schema") == SCHEMA else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("key"), str) for r in rows):
        raise UsageError(f"baseline {path}: not an envdoctor baseline (schema {SCHEMA}, written by --write-baseline)")
    return frozenset(r["key"] for r in rows)


def apply(report: Report, keys: Iterable[str], name: str) -> Report:
    """``report`` with every active finding whose key is in ``keys`` suppressed as ``baselined (name)``."""
    accepted = frozenset(keys)
    reason = f"baselined ({name})"

    def one(f: Finding) -> Finding:
        return dataclasses.replace(f, suppressed=reason) if f.suppressed is None and key(f) in accepted else f

    return dataclasses.replace(report, findings=tuple(one(f) for f in report.findings))
