"""What the matrix's ``[[rule]]`` and ``[[fact]]`` tables share: their evidence (``Evidence``), a problem found
in them with its file and line (``MatrixIssue``), and ``Entry``, the validation both kinds of table go through
(unknown and missing keys, the id, the evidence and the test), so each problem is reported in one wording."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from envdoctor.versions import InvalidSpecifier, SpecifierSet, parse_specifier

EVIDENCE_KEYS = {
    "run": {"kind", "bed", "command", "observed", "note"},
    "wheel": {"kind", "wheel", "sha256", "path", "line", "match", "note"},
    "issue": {"kind", "url", "note"},
}
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Evidence:
    kind: str  # "run": a recorded real run; "wheel": a file in a released wheel; "issue": upstream
    fields: Mapping[str, Any]

    def describe(self) -> str:
        f = self.fields
        if self.kind == "wheel":
            where = f"{f['path']}:{f['line']}" if f.get("line") else f["path"]
            return f"{f['wheel']} (sha256 {str(f.get('sha256', ''))[:16]}...): {where}: {f.get('match', '')}".rstrip(
                ": "
            )
        if self.kind == "run":
            return f"real run on {f['bed']}: `{f['command']}` -> {f['observed']}"
        return f"upstream: {f['url']}" + (f" ({f['note']})" if f.get("note") else "")


@dataclass(frozen=True)
class MatrixIssue:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def line_of(text: str, key: str, base: int = 1) -> int:
    m = re.search(rf"(?m)^\s*{re.escape(key)}\s*=", text)
    return base + text.count("\n", 0, m.start()) if m else base


class Entry:
    """One ``[[rule]]`` or ``[[fact]]`` table being validated: each problem goes to ``issues`` with the line of
    the key it is about (the table's first line when it is about no key)."""

    def __init__(self, raw: Mapping[str, Any], file: str, line: int, block: str, issues: list[MatrixIssue]) -> None:
        self.raw, self.file, self.line, self.block, self.issues = raw, file, line, block, issues
        self._before = len(issues)
        self.id = str(raw.get("id", ""))

    def bad(self, key: str, message: str) -> None:
        self.issues.append(MatrixIssue(self.file, line_of(self.block, key, self.line) if key else self.line, message))

    @property
    def ok(self) -> bool:
        """No problem found in this table so far."""
        return len(self.issues) == self._before

    def check_keys(self, kind: str, known: set[str], required: tuple[str, ...], shown_id: object) -> None:
        """Unknown keys, missing required keys (the message names the table as ``shown_id``), a non-kebab id."""
        for key in sorted(set(self.raw) - known):
            self.bad(key, f"unknown key {key!r} in a {kind}")
        for key in required:
            if not self.raw.get(key):
                self.bad("", f"{kind} {shown_id!r} has no {key}")
        if self.id and not KEBAB.match(self.id):
            self.bad("id", f"{kind} id {self.id!r} is not kebab-case")

    def specifier(self, key: str, message: Callable[[Any], str]) -> SpecifierSet | None:
        """``raw[key]`` as a SpecifierSet; None (and ``message(value)`` as the problem) when malformed."""
        try:
            return parse_specifier(str(self.raw[key]))
        except InvalidSpecifier:
            self.bad(key, message(self.raw[key]))
            return None

    def evidence_and_test(self, kind: str) -> tuple[tuple[Evidence, ...], str]:
        """The table's evidence (a wheel or a run among it) and its test (``path::function``)."""
        evidence = tuple(_evidence(self.raw.get("evidence", []), self.bad))
        if evidence and not any(e.kind in {"run", "wheel"} for e in evidence):
            self.bad("", f"{kind} {self.id!r}: an upstream reference is not evidence by itself; add a wheel or a run")
        test = str(self.raw.get("test", ""))
        if test and "::" not in test:
            self.bad("test", f"test {test!r} must name a test as path::function")
        return evidence, test


def _evidence(items: Any, bad: Callable[[str, str], None]) -> Iterator[Evidence]:
    for item in items if isinstance(items, list) else []:
        kind = str(item.get("kind", ""))
        allowed = EVIDENCE_KEYS.get(kind)
        if allowed is None:
            bad("kind", f"evidence kind {kind!r} is not one of run, wheel, issue")
            continue
        for key in sorted(set(item) - allowed):
            bad(key, f"unknown key {key!r} in {kind} evidence")
        needed = {
            "run": ("bed", "command", "observed"),
            "wheel": ("wheel", "sha256", "path", "match"),
            "issue": ("url",),
        }
        for key in needed[kind]:
            if not item.get(key):
                bad("kind", f"{kind} evidence needs {key}")
        if kind == "wheel" and item.get("sha256") and not _SHA256.match(str(item["sha256"])):
            bad("sha256", "wheel evidence needs the wheel's full sha256")
        yield Evidence(kind, dict(item))
