"""The environment's fingerprint computed in envdoctor's own process: probes/inventory.py imported as a module
(standard library only), the kernel's marker values read again, and the stamp of the shipped matrix/ files.
Shared by the warm path (envdoctor.warm) and the replay of a whole warm command (envdoctor.replay); imports
nothing heavier than the standard library's os, sys and importlib."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
from functools import cache
from types import ModuleType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


PATH_VARIABLES = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONNOUSERSITE",
    "PYTHONUSERBASE",
    "PYTHONSAFEPATH",
    "PYTHONPLATLIBDIR",
)
"""Environment variables that change a target's sys.path: part of every key of a stored result."""


class _ReadOnlyLoader(importlib.machinery.SourceFileLoader):
    """Uses the probe's bytecode when an install compiled it, never writes any beside it."""

    def set_data(self, path: str, data: Any, *, _mode: int = 0o666) -> None:
        pass


@cache
def probe_module() -> ModuleType:
    """probes/inventory.py, imported as a module (it is standard library only)."""
    from envdoctor.resources import probe_file

    path = probe_file("inventory")
    loader = _ReadOnlyLoader("envdoctor_probe_inventory", path)
    spec = importlib.util.spec_from_file_location("envdoctor_probe_inventory", path, loader=loader)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def holds(fingerprint: str, target: Mapping[str, Any]) -> bool:
    """Whether the environment stored as ``target`` (executable, version, paths, markers, watch) still has
    ``fingerprint``, computed here from those values (the kernel's release and version read again: they are
    markers)."""
    markers = {**target["markers"], **kernel()}
    try:
        now = probe_module().fingerprint(
            target["paths"], markers, target["executable"], target["version"], target["watch"]
        )
    except Exception:  # the probe (another version?) decides
        return False
    return bool(now == fingerprint)


def kernel() -> dict[str, str]:
    if hasattr(os, "uname"):
        uname = os.uname()
        return {"platform_release": uname.release, "platform_version": uname.version}
    import platform

    return {"platform_release": platform.release(), "platform_version": platform.version()}


@cache
def data_stamp() -> str:
    """Path, size and mtime of every file in the shipped matrix/ folder (the rules and the facts)."""
    from envdoctor.errors import EnvdoctorError
    from envdoctor.resources import data_folder

    try:
        root = data_folder("matrix")
    except EnvdoctorError:
        return "-"
    stamps = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            stamps.append(f"{os.path.relpath(path, root)}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(stamps)
