"""The numpy ABI signal: extensions compiled against numpy 1.x headers beside numpy 2, read from the installed
shared objects (which ``_multiarray_umath`` module they name), nothing imported."""

from __future__ import annotations

from envdoctor.checks.signals.base import Files, Match, is_extension, requires
from envdoctor.inventory import Dist, Inventory
from envdoctor.knowledge.matrix import Rule


def _numpy_abi(dist: Dist, files: Files) -> dict[str, object]:
    """Which numpy C-API headers the extensions of ``dist`` were built with: "1" or "2" per file."""

    def compute() -> dict[str, object]:
        built: dict[str, str] = {}
        for rel in files.listed(dist):
            if not is_extension(rel):
                continue
            data = files.read(dist, rel) or b""
            if b"numpy._core._multiarray_umath" in data:
                built[rel] = "2"
            elif b"numpy.core._multiarray_umath" in data:
                built[rel] = "1"
        return {"built": built}

    return files.remembered("numpy-abi", dist, compute, {"built": {str: str}})


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
