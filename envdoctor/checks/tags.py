"""Which wheel tags the target interpreter accepts, computed from the facts the probe reports.

pip check flags installed wheels whose tags the running interpreter does not support ("is not
supported on this platform"); envdoctor computes the same set for the target with packaging.tags.
"""

from __future__ import annotations

import sysconfig
from collections.abc import Iterable
from functools import cache

from envdoctor.inventory import Interpreter


@cache
def supported_tags(py: Interpreter) -> frozenset[str] | None:
    """Tags the target supports, as strings; None when they cannot be computed from here.

    Platform tags (manylinux levels depend on the C library) are taken from this machine, so
    they are only trusted when the target reports the same platform as envdoctor's own Python.
    """
    from packaging import tags

    if py.platform != sysconfig.get_platform() or py.implementation != "cpython":
        return None
    try:
        major, minor = (int(p) for p in py.version.split(".")[:2])
    except ValueError:
        return None
    platforms = list(tags.platform_tags())
    abi = _cpython_abi(py.soabi, major, minor)
    found = tags.cpython_tags((major, minor), abis=[abi], platforms=platforms)
    compatible = tags.compatible_tags((major, minor), f"cp{major}{minor}", platforms)
    return frozenset(str(t) for t in (*found, *compatible))


def _cpython_abi(soabi: str, major: int, minor: int) -> str:
    parts = soabi.split("-")
    if len(parts) > 1 and parts[0] == "cpython":
        return f"cp{parts[1]}"
    return f"cp{major}{minor}"


def unsupported_wheel(wheel_tags: Iterable[str], supported: frozenset[str]) -> bool:
    """True when a wheel declares tags and none of them (expanded) is supported."""
    expanded = [t for tag in wheel_tags for t in _expand(tag)]
    return bool(expanded) and not any(t in supported for t in expanded)


def _expand(tag: str) -> list[str]:
    """``py2.py3-none-any`` -> ``py2-none-any``, ``py3-none-any`` (compressed tag sets)."""
    try:
        interps, abis, plats = tag.strip().split("-")
    except ValueError:
        return []
    return [f"{i}-{a}-{p}" for i in interps.split(".") for a in abis.split(".") for p in plats.split(".")]
