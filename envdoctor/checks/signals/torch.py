"""Signals of the torch family: a CUDA-linked companion beside a CPU torch, a companion whose build record
names CUDA, and a companion whose extensions need torch symbols the installed torch does not export."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable

from envdoctor.checks.signals.base import Files, Match, is_extension, requires
from envdoctor.inventory import Dist, Inventory
from envdoctor.knowledge.matrix import Rule
from envdoctor.source.installed import SMALL_LIMIT
from envdoctor.versions import canonical

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
            if is_extension(rel):
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


# -- companions built for another torch ------------------------------------------------------------

# torch's own shared libraries (libc10.so, libtorch_cpu.so, libtorch_python.so, libc10_cuda.so, libshm.so, ...);
# not a companion's libtorchtext.so or libtorchaudio.so
_TORCH_LIB = re.compile(r"^(?:lib(?:c10|torch)(?:_\w+)?|libshm|libcaffe2_\w+)\.so(?:\.\d+)*$")


def _torch_links(dist: Dist, files: Files) -> dict[str, dict[str, list[str]]]:
    """The extensions of ``dist`` that link to torch's libraries: per file, the torch libraries it names
    (DT_NEEDED) and the torch symbols it needs that nothing in ``dist`` itself defines."""

    def compute() -> dict[str, object]:
        own: set[str] = set()
        linked: dict[str, tuple[list[str], frozenset[str]]] = {}
        for rel in files.listed(dist):
            if not is_extension(rel):
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
        if not is_extension(rel):
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
