"""Project configuration: ``[tool.envdoctor]`` in pyproject.toml, or a file given with ``--config``.

Keys: ``fail-on`` (a severity), ``ignore`` (a list of tables: ``id``, optional ``package``, required
``reason``), ``keep`` (package names ``envdoctor pin`` never moves), ``baseline`` (a baseline file,
envdoctor.baseline), ``probes`` (run the import probes), ``imports`` (import statements to probe, as
``--import``), ``scripts`` (scripts and notebooks to scan, as ``check --script``).
Paths are relative to the configuration file's folder. Unknown keys and bad values are a
UsageError naming the file and the line (tomllib gives no line for a value, so the key is found in the text).
Precedence for a value: the command line, then the environment (``ENVDOCTOR_FAIL_ON``), then the file;
lists (``ignore``, ``keep``) add up.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envdoctor.errors import UsageError
from envdoctor.names import canonical
from envdoctor.report import Report, Severity

KEYS = ("fail-on", "ignore", "keep", "baseline", "probes", "imports", "scripts")
IGNORE_KEYS = ("id", "package", "reason")
FAIL_ON_ENV = "ENVDOCTOR_FAIL_ON"
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)  # PEP 508 project name


@dataclass(frozen=True)
class Ignore:
    """Accept the findings with this id (a finding id or a matrix rule id), optionally only those about
    ``package`` (any of the finding's packages), for ``reason``."""

    id: str
    reason: str
    package: str | None = None

    def matches(self, finding_id: str, packages: Sequence[str]) -> bool:
        return finding_id == self.id and (
            self.package is None or canonical(self.package) in {canonical(p) for p in packages}
        )

    @classmethod
    def parse(cls, text: str, reason: str = "ignored with --ignore on the command line") -> Ignore:
        """``ID`` or ``ID:PACKAGE`` (``--ignore``)."""
        rid, _, package = text.partition(":")
        if not rid.strip() or (package and not _NAME.match(package.strip())):
            raise UsageError(f"--ignore {text!r}: expected ID or ID:PACKAGE (for example symbol-missing:peft)")
        return cls(rid.strip(), reason, canonical(package.strip()) if package.strip() else None)


@dataclass(frozen=True)
class Config:
    source: Path | None = None
    fail_on: Severity | None = None
    ignore: tuple[Ignore, ...] = ()
    keep: tuple[str, ...] = ()
    baseline: Path | None = None
    probes: bool = False
    imports: tuple[str, ...] = ()
    scripts: tuple[Path, ...] = ()
    """Scripts and notebooks ``check`` scans (added to ``--script``); each exists."""


def discover(start: Path) -> Path | None:
    """The nearest pyproject.toml with a ``[tool.envdoctor]`` table, from ``start`` upward; the search stops
    after the folder that holds ``.git`` (the repository's root) or at the file system root."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            data = candidate.read_bytes()  # parsed only when it can hold the table (TOML is not cheap to import)
            if _may_configure(data) and "envdoctor" in _parse(candidate, data).get("tool", {}):
                return candidate
        if (folder / ".git").exists():
            return None
    return None


_TOOL_DOT_ENVDOCTOR = re.compile(rb"""tool["']?[ \t]*\.[ \t]*["']?envdoctor\b""")
_TOOL_TABLE = re.compile(rb"""(?m)^[ \t]*\[[ \t]*["']?tool["']?[ \t]*\]""")
_ENVDOCTOR_KEY = re.compile(rb"""(?m)^[ \t]*["']?envdoctor["']?[ \t]*[.=]""")
_TOOL_INLINE = re.compile(rb"""\btool["']?[ \t]*=[ \t]*\{""")


def _may_configure(data: bytes) -> bool:
    """Whether a pyproject.toml can hold ``tool.envdoctor`` in any TOML spelling (``[tool.envdoctor]``,
    ``tool.envdoctor.key = ...``, ``envdoctor = ...`` under ``[tool]``, ``tool = {envdoctor = ...}``); a
    project that only names envdoctor (a dependency, a script) is not parsed."""
    if b"envdoctor" not in data:
        return False
    if _TOOL_DOT_ENVDOCTOR.search(data):
        return True
    if _TOOL_TABLE.search(data) and _ENVDOCTOR_KEY.search(data):
        return True
    return _TOOL_INLINE.search(data) is not None


def load(
    explicit: str | os.PathLike[str] | None = None,
    *,
    cwd: Path | None = None,
    known: Callable[[], Collection[str] | None] | None = None,
) -> Config:
    """The configuration from ``explicit`` (``--config``), else the discovered pyproject.toml, else none.

    A file named pyproject.toml is read for its ``[tool.envdoctor]`` table; any other file holds the keys at
    its top level. ``known`` gives the ids an ignore may name (envdoctor.knowledge.catalog.known_ids; asked only when
    there is an ignore; None: not checked). Raises UsageError (file and line) for an unreadable file, an
    unknown key or a bad value."""
    if explicit is not None:
        path = Path(explicit)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"--config {explicit}: {exc.strerror or exc}") from None
    else:
        found = discover(cwd if cwd is not None else Path.cwd())
        if found is None:
            return Config()
        path, data = found, found.read_bytes()
    doc = _parse(path, data)
    in_pyproject = path.name == "pyproject.toml"
    table = doc.get("tool", {}).get("envdoctor") if in_pyproject else doc
    where = _Lines(path, data.decode("utf-8"), "tool.envdoctor." if in_pyproject else "")
    if table is None:
        raise UsageError(f"{path}: no [tool.envdoctor] table")
    if not isinstance(table, Mapping):
        raise where.error("envdoctor", "[tool.envdoctor] must be a table")
    return _validate(table, where, path, known)


def _parse(path: Path, data: bytes) -> dict[str, Any]:
    if sys.version_info >= (3, 11):  # imported here: a run without a configuration file does not pay for it
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None


def _validate(
    table: Mapping[str, Any], where: _Lines, path: Path, known: Callable[[], Collection[str] | None] | None
) -> Config:
    for key in table:
        if key not in KEYS:
            raise where.error(key, f"unknown key {key!r}{_did_you_mean(key, KEYS)} (known: {', '.join(KEYS)})")
    fail_on = None
    if "fail-on" in table:
        value = table["fail-on"]
        try:
            fail_on = Severity.parse(value) if isinstance(value, str) else None
        except ValueError:
            fail_on = None
        if fail_on is None:
            raise where.error("fail-on", f"fail-on = {value!r}: expected one of error, warning, info")
    ignores = table.get("ignore", [])
    if not isinstance(ignores, list):
        raise where.error("ignore", "ignore must be a list of tables ([[tool.envdoctor.ignore]] or [{...}])")
    parsed = tuple(_ignore(entry, i, where) for i, entry in enumerate(ignores))
    ids = known() if known is not None and parsed else None
    for i, ignore in enumerate(parsed):
        if ids is not None and ignore.id not in ids:
            raise where.error("id", f"ignore entry {i + 1}: {unknown_id(ignore.id, ids)}", entry=i)
    keep = table.get("keep", [])
    if not isinstance(keep, list) or not all(isinstance(k, str) and _NAME.match(k) for k in keep):
        raise where.error("keep", f"keep = {keep!r}: expected a list of package names")
    return Config(
        source=path,
        fail_on=fail_on,
        ignore=parsed,
        keep=tuple(canonical(k) for k in keep),
        **_probing(table, where, path.parent),
    )


def _probing(table: Mapping[str, Any], where: _Lines, folder: Path) -> dict[str, Any]:
    """The keys ``baseline``, ``probes``, ``imports`` and ``scripts``, checked (paths relative to ``folder``)."""
    out: dict[str, Any] = {}
    if "baseline" in table:
        value = table["baseline"]
        if not isinstance(value, str) or not value.strip():
            raise where.error("baseline", f"baseline = {value!r}: expected a file name (written by --write-baseline)")
        out["baseline"] = folder / value
    if "probes" in table:
        if not isinstance(table["probes"], bool):
            raise where.error("probes", f"probes = {table['probes']!r}: expected true or false")
        out["probes"] = table["probes"]
    imports = table.get("imports", [])
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        raise where.error("imports", f"imports = {imports!r}: expected a list of import statements")
    if imports:
        from envdoctor.runtime.imports import parse_statement

        try:
            out["imports"] = tuple(parse_statement(i) for i in imports)
        except UsageError as exc:
            raise where.error("imports", str(exc).replace("--import ", "imports: ", 1)) from None
    scripts = table.get("scripts", [])
    if not isinstance(scripts, list) or not all(isinstance(s, str) and s.strip() for s in scripts):
        raise where.error("scripts", f"scripts = {scripts!r}: expected a list of file names")
    for script in scripts:
        if not (folder / script).is_file():
            raise where.error("scripts", f"scripts: {script!r} is not a file (relative to {folder})")
    out["scripts"] = tuple(folder / s for s in scripts)
    return out


def _ignore(entry: Any, i: int, where: _Lines) -> Ignore:
    if not isinstance(entry, Mapping):
        raise where.error("ignore", f"ignore entry {i + 1} must be a table with id and reason")
    for key in entry:
        if key not in IGNORE_KEYS:
            known = ", ".join(IGNORE_KEYS)
            raise where.error(key, f"unknown key {key!r} in ignore entry {i + 1} (known: {known})", entry=i)
    rid, reason, package = entry.get("id"), entry.get("reason"), entry.get("package")
    if not isinstance(rid, str) or not rid.strip():
        raise where.error("id", f"ignore entry {i + 1}: id must be a finding or rule id", entry=i)
    if not isinstance(reason, str) or not reason.strip():
        raise where.error(
            "reason" if "reason" in entry else "id",
            f"ignore entry {i + 1} ({rid}): a reason is required (say why this finding is accepted)",
            entry=i,
        )
    if package is not None and not (isinstance(package, str) and _NAME.match(package)):
        raise where.error("package", f"ignore entry {i + 1}: package = {package!r} is not a package name", entry=i)
    return Ignore(rid.strip(), reason.strip(), canonical(package) if package is not None else None)


def unknown_id(rid: str, known: Collection[str]) -> str:
    return f"no finding or rule has the id {rid!r}{_did_you_mean(rid, sorted(known))} (`envdoctor matrix` lists rules)"


def _did_you_mean(key: str, known: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Lines:
    """Where a key is in the file's text: tomllib parses values without positions."""

    def __init__(self, path: Path, text: str, prefix: str) -> None:
        self.path, self.text, self.prefix = path, text, prefix
        header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(map(re.escape, prefix.split(".")[:-1])) + r"\s*\]", re.M)
        match = header.search(text) if prefix else None
        self.start = match.start() if match else 0

    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    def find(self, key: str, *, entry: int | None = None) -> int:
        start, end = self.start, len(self.text)
        if entry is not None:
            header = re.compile(r"^\s*\[\[\s*" + re.escape(self.prefix + "ignore") + r"\s*\]\]", re.M)
            headers = list(header.finditer(self.text))
            if entry < len(headers):
                start = headers[entry].start()
                nxt = re.compile(r"^\s*\[", re.M).search(self.text, headers[entry].end())
                end = nxt.start() if nxt else end
            else:  # an inline array: the entry-th "{" after "ignore ="
                at = re.compile(r"^\s*\"?ignore\"?\s*=", re.M).search(self.text, self.start)
                braces = [m.start() for m in re.finditer(r"\{", self.text[at.end() :])] if at else []
                if at and entry < len(braces):
                    start = at.end() + braces[entry]
                    end = self.text.find("}", start) + 1 or end
        key_re = re.compile(r"(^|[\s{,])[\"']?" + re.escape(key) + r"[\"']?\s*=", re.M)
        hit = key_re.search(self.text, start, end)
        return self.line_of(hit.start() + len(hit.group(1)) if hit else start)

    def error(self, key: str, message: str, *, entry: int | None = None) -> UsageError:
        return UsageError(f"{self.path}:{self.find(key, entry=entry)}: {message}")


def fail_on(cli: str | None, config: Config, env: Mapping[str, str] | None = None) -> Severity:
    """The gate's level: ``--fail-on``, else ENVDOCTOR_FAIL_ON, else the file's ``fail-on``, else error."""
    env = os.environ if env is None else env
    if cli is not None:
        return Severity.parse(cli)
    value = env.get(FAIL_ON_ENV, "").strip()
    if value:
        try:
            return Severity.parse(value)
        except ValueError as exc:
            raise UsageError(f"{FAIL_ON_ENV}={value!r}: {exc}") from None
    return config.fail_on if config.fail_on is not None else Severity.ERROR


def suppress(report: Report, ignores: Sequence[Ignore]) -> Report:
    """``report`` with every finding an ignore matches marked suppressed, with the first matching reason."""

    def one(f: Any) -> Any:
        hit = next((i for i in ignores if i.matches(f.id, f.packages)), None)
        return f if hit is None else dataclasses.replace(f, suppressed=hit.reason)

    return dataclasses.replace(report, findings=tuple(one(f) for f in report.findings)) if ignores else report
