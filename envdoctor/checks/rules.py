"""The matrix rules, evaluated against the Inventory: version ranges, and named signals read from installed files.

Emits one finding per match, with the rule's id, severity, evidence and fix alternatives; when the
matrix itself is broken, one ``matrix-invalid`` warning (envdoctor's own problem) and nothing else
from this check, so the other checks still run.

A rule matches when every package in ``applies`` is installed at a version in its range, the target
Python and platform fit, and its ``signal`` (if it names one) finds something. Signals are the
breaks that version numbers alone cannot show (a CUDA-linked companion beside a CPU torch, an
extension built against numpy 1.x); each reads only the installed files it needs, and caches what it
read per distribution.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from envdoctor.cache import Cache, Shape
from envdoctor.checks.signals.elf import DynamicInfo, is_torch_symbol, read_dynamic
from envdoctor.inventory import Dist, Inventory
from envdoctor.knowledge.matrix import Matrix, MatrixError, Rule
from envdoctor.report import Finding, Severity
from envdoctor.source.installed import (
    BINARY_LIMIT,
    RECORD_LIMIT,
    SMALL_LIMIT,
    Reader,
    decode_record,
    record_entries,
    unread_note,
)
from envdoctor.versions import InvalidVersion, canonical, in_range, parse_version

CHECK = "matrix"


@dataclass(frozen=True)
class Match:
    """One place a rule applies: the packages, the values for the title, what was seen."""

    packages: tuple[str, ...]
    values: dict[str, str] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()


Signal = Callable[[Inventory, Rule, "Files"], list[Match]]


class Files:
    """Reads installed files of a distribution (through its RECORD, bounded: envdoctor.source.installed), caching
    per-distribution answers. ``reader.unread``: the files that could not be read, and why."""

    def __init__(self, cache: Cache, importing: Callable[[Dist, str], list[str] | None] | None = None) -> None:
        self.cache = cache
        self._importing = importing
        self._memo: dict[tuple[str, str], dict[str, object]] = {}
        self.reader = Reader()

    def importing(self, dist: Dist, module: str) -> list[str] | None:
        """The .py files of ``dist`` that import ``module`` (from the symbols check's text pass, when it ran
        in this check), or None when that is not known."""
        return self._importing(dist, module) if self._importing is not None else None

    def listed(self, dist: Dist) -> list[str]:
        """The files RECORD lists inside the distribution's site folder (envdoctor.source.installed.record_entries)."""
        if dist.planned:  # not on disk yet: its files are unknown (the old copy's are not its files)
            return []
        data = self.reader.read(os.path.join(dist.path, "RECORD"), RECORD_LIMIT)
        return [rel for rel, _hash in record_entries(decode_record(data))] if data is not None else []

    def read(self, dist: Dist, rel: str, limit: int = BINARY_LIMIT) -> bytes | None:
        if dist.planned:
            return None
        return self.reader.read(os.path.join(dist.location, rel), limit)

    def dynamic(self, dist: Dist, rel: str) -> DynamicInfo | None:
        """The ELF dynamic section and torch symbols of an extension of ``dist`` (envdoctor.checks.signals.elf)."""
        return read_dynamic(os.path.join(dist.location, rel), is_torch_symbol, self.reader)

    def remembered(
        self, kind: str, dist: Dist, compute: Callable[[], dict[str, object]], shape: dict[str, Shape]
    ) -> dict[str, object]:
        """``compute()`` for this distribution, cached by its name, version and RECORD stamp, with the files it
        could not read (noted again on every run); a stored entry not of ``shape`` is computed again and
        rewritten."""
        if dist.planned:
            return compute()
        memo = (kind, dist.path)
        if memo in self._memo:  # one check (or one plan's many trial checks) reads each answer once
            return self._memo[memo]
        try:
            st = os.stat(os.path.join(dist.path, "RECORD"))
            key: str | None = f"{kind}-{dist.name}-{dist.raw_version}-{st.st_size}-{st.st_mtime_ns}"
        except OSError:
            key = None  # no RECORD to stamp it by: not stored across runs, but still read once in this one
        hit = self.cache.get(key, {**shape, "unread": {str: str}}) if key is not None else None
        if hit is None:
            outer, self.reader = self.reader, Reader()
            try:
                found = compute()
            finally:
                unread, self.reader = self.reader.unread, outer
            hit = {**found, "unread": {os.path.relpath(p, dist.location): why for p, why in unread.items()}}
            if key is not None:
                self.cache.put(key, hit)
        self.reader.unread.update({os.path.join(dist.location, rel): why for rel, why in hit["unread"].items()})
        self._memo[memo] = hit
        return hit


def check_rules(inv: Inventory, matrix: Matrix | MatrixError, files: Files) -> list[Finding]:
    if isinstance(matrix, MatrixError):
        return [
            Finding(
                id="matrix-invalid",
                severity=Severity.WARNING,
                title="envdoctor's compatibility matrix is damaged; its rules were not checked",
                detail="This is a problem of the envdoctor installation, not of your environment. Reinstall "
                "envdoctor; if it persists, please report it.",
                evidence=tuple(str(i) for i in matrix.issues[:20]),
                check=CHECK,
            )
        ]
    findings: list[Finding] = []
    for rule in matrix.rules:
        for match in matches(inv, rule, files):
            findings.append(_finding(rule, match))
    return findings + unread_note(files.reader.unread, CHECK)


def matches(inv: Inventory, rule: Rule, files: Files) -> list[Match]:
    values: dict[str, str] = {"python": inv.python.version}
    for package, spec in rule.applies.items():
        dist = inv.get(package)
        if dist is None or dist.version is None or not in_range(dist.version, spec):
            return []
        values[package] = dist.raw_version or ""
        values[f"{package}_base"] = dist.version.base_version  # without a local tag such as +cpu
    if rule.python is not None:
        try:
            if not in_range(parse_version(inv.python.version), rule.python):
                return []
        except InvalidVersion:
            return []
    if rule.platform and inv.markers.get("sys_platform") not in rule.platform:
        return []
    if not rule.signal:
        return [Match(tuple(rule.applies), values)]
    found = SIGNALS[rule.signal](inv, rule, files)
    return [Match(m.packages, {**values, **m.values}, m.evidence) for m in found]


def _finding(rule: Rule, match: Match) -> Finding:
    title = _format(rule.title, match.values)
    detail = f"{_format(rule.why, match.values)} What you see: {rule.symptom}"
    if rule.breaks:
        detail += f" (at `{_format(rule.breaks, match.values)}`)"
    return Finding(
        id=rule.id,
        severity=rule.severity,
        title=title,
        detail=detail,
        packages=match.packages,
        evidence=match.evidence + tuple(e.describe() for e in rule.evidence),
        fix=tuple(f for f in (_format(f, match.values) for f in rule.fix) if not _UNFILLED.search(f)),
        check=CHECK,
    )


_UNFILLED = re.compile(r"\{[a-z0-9_-]+\}")  # a fix whose value the signal could not give is left out


def _format(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


# ---------------------------------------------------------------------------------------------
# Signals


_CUDA_LIBS = (b"libc10_cuda.so", b"libtorch_cuda.so", b"libcudart.so")


def _torch_is_cpu(inv: Inventory, files: Files) -> tuple[bool, str]:
    torch = inv.get("torch")
    if torch is None:
        return False, ""
    raw = torch.raw_version or ""
    if raw.endswith("+cpu"):
        return True, f"{torch.metadata_path}: Version: {raw}"
    data = files.read(torch, "torch/version.py", limit=SMALL_LIMIT) or b""
    for line in data.decode("utf-8", "replace").splitlines():
        if line.replace(" ", "").startswith(("cuda=None", "cuda:Optional[str]=None", "cuda:str|None=None")):
            return True, f"{torch.location}/torch/version.py: {line.strip()}"
    return False, ""


def _cuda_linked(dist: Dist, files: Files) -> list[str]:
    """The extension modules of ``dist`` that name a CUDA library of torch or the CUDA runtime."""

    def compute() -> dict[str, object]:
        linked = []
        for rel in files.listed(dist):
            if rel.endswith((".so", ".pyd")) or ".so." in rel:
                data = files.read(dist, rel) or b""
                hits = [lib.decode() for lib in _CUDA_LIBS if lib in data]
                if hits:
                    linked.append(f"{rel} needs {', '.join(hits)}")
        return {"linked": linked}

    linked = files.remembered("cuda-linked", dist, compute, {"linked": [str]})["linked"]
    return [str(x) for x in linked] if isinstance(linked, list) else []


def cuda_companion_on_cpu_torch(inv: Inventory, rule: Rule, files: Files) -> list[Match]:
    cpu, why_cpu = _torch_is_cpu(inv, files)
    if not cpu:
        return []
    out = []
    for package in rule.applies:
        if package == "torch":
            continue
        dist = inv.get(package)
        linked = _cuda_linked(dist, files) if dist is not None else []
        if dist is not None and linked:
            out.append(Match(("torch", package), evidence=(why_cpu, *(f"{dist.location}/{x}" for x in linked[:3]))))
    return out


def _numpy_abi(dist: Dist, files: Files) -> dict[str, object]:
    """Which numpy C-API headers the extensions of ``dist`` were built with: "1" or "2" per file."""

    def compute() -> dict[str, object]:
        built: dict[str, str] = {}
        for rel in files.listed(dist):
            if not (rel.endswith((".so", ".pyd")) or ".so." in rel):
                continue
            data = files.read(dist, rel) or b""
            if b"numpy._core._multiarray_umath" in data:
                built[rel] = "2"
            elif b"numpy.core._multiarray_umath" in data:
                built[rel] = "1"
        return {"built": built}

    return files.remembered("numpy-abi", dist, compute, {"built": {str: str}})


def requires(dist: Dist, name: str) -> bool:
    """Whether ``dist`` declares ``name`` at all (any marker, any extra)."""
    return any(canonical(r.name) == name for r in dist.requires)


def numpy1_extensions(inv: Inventory, rule: Rule, files: Files) -> list[Match]:
    out = []
    for dist in inv.winners.values():
        if dist.name == "numpy" or not requires(dist, "numpy"):
            continue
        raw = _numpy_abi(dist, files)["built"]
        built = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        old = sorted(rel for rel, v in built.items() if v == "1")
        if old and "2" not in built.values():  # a numpy-2 build keeps the 1.x name as a fallback
            evidence = tuple(
                f"{dist.location}/{rel}: imports numpy.core._multiarray_umath (numpy 1.x headers)" for rel in old[:3]
            )
            out.append(
                Match(
                    (dist.name, "numpy"), {"dist": dist.display_name, "dist_version": dist.raw_version or ""}, evidence
                )
            )
    return out


def _numpy2_names(at_import: bool) -> Signal:
    def signal(inv: Inventory, rule: Rule, files: Files) -> list[Match]:
        from envdoctor.checks.signals import numpy_names

        fn = numpy_names.at_import if at_import else numpy_names.in_function
        return fn(inv, rule, files)

    return signal


# -- companions built for another torch ------------------------------------------------------------

# torch's own shared libraries (libc10.so, libtorch_cpu.so, libtorch_python.so, libc10_cuda.so, libshm.so, ...);
# not a companion's libtorchtext.so or libtorchaudio.so
_TORCH_LIB = re.compile(r"^(?:lib(?:c10|torch)(?:_\w+)?|libshm|libcaffe2_\w+)\.so(?:\.\d+)*$")


def _is_extension(rel: str) -> bool:
    return rel.endswith(".so") or ".so." in rel


def _torch_links(dist: Dist, files: Files) -> dict[str, dict[str, list[str]]]:
    """The extensions of ``dist`` that link to torch's libraries: per file, the torch libraries it names
    (DT_NEEDED) and the torch symbols it needs that nothing in ``dist`` itself defines."""

    def compute() -> dict[str, object]:
        own: set[str] = set()
        linked: dict[str, tuple[list[str], frozenset[str]]] = {}
        for rel in files.listed(dist):
            if not _is_extension(rel):
                continue
            info = files.dynamic(dist, rel)
            if info is None:
                continue
            own |= info.defined
            libs = [n for n in info.needed if _TORCH_LIB.match(n)]
            if libs:
                linked[rel] = (libs, info.undefined)
        return {"files": {rel: {"needed": libs, "undefined": sorted(u - own)} for rel, (libs, u) in linked.items()}}

    raw = files.remembered("torch-links", dist, compute, {"files": {str: {"needed": [str], "undefined": [str]}}})[
        "files"
    ]
    return raw if isinstance(raw, dict) else {}


def _torch_exports(torch: Dist, files: Files) -> tuple[set[str], set[str]]:
    """The shared libraries torch ships (file names) and the torch symbols they export."""
    libs: set[str] = set()
    exported: set[str] = set()
    for rel in files.listed(torch):
        if not _is_extension(rel):
            continue
        info = files.dynamic(torch, rel)
        if info is not None:
            libs.add(os.path.basename(rel))
            exported |= info.defined
    return libs, exported


def _companions(inv: Inventory, rule: Rule) -> list[Dist]:
    """The packages the rule names besides torch; with none, every distribution that declares torch or is
    one of torch's own companions (torchaudio 2.11.0 declares nothing at all)."""
    names = [p for p in rule.applies if p != "torch"]
    if names:
        found = (inv.get(n) for n in names)
        return [d for d in found if d is not None and not d.planned]
    return [
        d
        for d in inv.winners.values()
        if d.name != "torch" and not d.planned and (requires(d, "torch") or d.name.startswith("torch"))
    ]


def _declared_torch(dist: Dist) -> tuple[str, str]:
    """How ``dist`` declares torch (for the title) and the torch version it names as ==X or >=X (or "")."""
    for req in dist.requires:
        if canonical(req.name) == "torch" and req.marker is None:
            spec = str(req.specifier)
            pins = [s.version for s in req.specifier if s.operator in ("==", ">=") and "*" not in s.version]
            return (f"it declares torch{spec}" if spec else "it declares torch, with no version"), (
                pins[0] if pins else ""
            )
    return "it declares no torch requirement", ""


def torch_symbols_missing(inv: Inventory, rule: Rule, files: Files) -> list[Match]:
    torch = inv.get("torch")
    if torch is None or torch.planned:
        return []
    exports: tuple[set[str], set[str]] | None = None
    out = []
    for dist in _companions(inv, rule):
        links = _torch_links(dist, files)
        if not any(v.get("undefined") for v in links.values()):
            continue
        if exports is None:
            exports = _torch_exports(torch, files)
        libs, exported = exports
        if not libs:  # torch's files are not listed (no RECORD): nothing to compare with
            return []
        missing: dict[str, list[str]] = {}
        for rel, link in sorted(links.items()):
            if not set(link.get("needed", [])) <= libs:
                continue  # the loader stops earlier, at a library torch lacks (a CUDA build beside a CPU torch)
            lost = [s for s in link.get("undefined", []) if s not in exported]
            if lost:
                missing[rel] = lost
        if not missing:
            continue
        count = len({s for lost in missing.values() for s in lost})
        declared, wanted = _declared_torch(dist)
        values = {"dist": dist.display_name, "dist_version": dist.raw_version or "", "missing": str(count)}
        values["declared"] = declared
        if wanted:
            values["torch_wanted"] = wanted
        evidence = [
            f"{dist.location}/{rel} needs {lost[0]}"
            + (f" and {len(lost) - 1} more torch symbols" if len(lost) > 1 else "")
            for rel, lost in list(missing.items())[:3]
        ]
        evidence.append(f"{torch.location}/torch/lib: torch {torch.raw_version} exports none of them")
        out.append(Match((dist.name, "torch"), values, tuple(evidence)))
    return out


# -- build records: what a companion says it was built for ------------------------------------------


def _xformers_record(dist: Dist, files: Files) -> dict[str, str] | None:
    """xformers/cpp_lib.json, written when its wheel was built: {"version": {"torch": "2.10.0+cu128", "cuda": 1208}}."""
    data = files.read(dist, "xformers/cpp_lib.json", limit=SMALL_LIMIT)
    try:
        version = json.loads(data or b"")["version"]
        torch, cuda = str(version["torch"]), version.get("cuda")
    except (ValueError, KeyError, TypeError):
        return None
    built_cuda = f"{cuda // 100}.{cuda % 100}" if isinstance(cuda, int) and cuda > 0 else ""
    return {
        "built_torch": torch,
        "built_torch_base": torch.split("+", 1)[0],
        "built_cuda": built_cuda,
        "record": f"{dist.location}/xformers/cpp_lib.json: torch {torch!r}, cuda {cuda!r}",
    }


_BUILD_RECORDS: dict[str, Callable[[Dist, Files], dict[str, str] | None]] = {"xformers": _xformers_record}


def cuda_build_record_on_cpu_torch(inv: Inventory, rule: Rule, files: Files) -> list[Match]:
    """A companion whose build record says it was built with CUDA, beside a CPU build of torch."""
    cpu, why_cpu = _torch_is_cpu(inv, files)
    if not cpu:
        return []
    out = []
    for package in rule.applies:
        dist, reader = inv.get(package), _BUILD_RECORDS.get(package)
        record = reader(dist, files) if dist is not None and reader is not None and not dist.planned else None
        if dist is not None and record is not None and record["built_cuda"]:
            values = {k: v for k, v in record.items() if k != "record"}
            out.append(Match((package, "torch"), values, (record["record"], why_cpu)))
    return out


SIGNALS: dict[str, Signal] = {
    "cuda-companion-on-cpu-torch": cuda_companion_on_cpu_torch,
    "cuda-build-record-on-cpu-torch": cuda_build_record_on_cpu_torch,
    "torch-symbols-missing": torch_symbols_missing,
    "numpy1-extensions": numpy1_extensions,
    "numpy2-removed-names-at-import": _numpy2_names(True),
    "numpy2-removed-names-in-function": _numpy2_names(False),
}
